-- enqueueIfRoom(entry, room): queues one message within its bounds.
local s = queue(A.entry, A.room)
if not s then return cjson.encode({ ok = false, refused = "unknown_agent" }) end
if s.ok == false then return cjson.encode(s) end
return told_json({ '{"ok":true,"fx":' }, "}")
