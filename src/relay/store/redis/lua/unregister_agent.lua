-- unregisterAgent(id, now, note, room): removes the agent with what waits for it; its tasks fail.
local a = drop(A.id, A.now, A.note, A.room)
return cjson.encode({ agent = a or NULL, fx = told() })
