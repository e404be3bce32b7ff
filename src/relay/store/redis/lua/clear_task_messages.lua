-- clearTaskMessages(agent, taskIds): settles every queued or in-flight message about these tasks.
local n = 0
for _, tid in ipairs(A.taskIds) do
  for _, id in ipairs(redis.call("SMEMBERS", key("ab", A.agent, tid))) do
    local s = slot_get(A.agent, id)
    if s then
      settle(A.agent, id, s)
      n = n + 1
    end
  end
end
return cjson.encode({ n = n })
