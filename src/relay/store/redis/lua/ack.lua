-- ack(agent, ids): settles in-flight messages.
local n = 0
for _, id in ipairs(A.ids) do
  local s = slot_get(A.agent, id)
  if s and s.w == "f" then
    settle(A.agent, id, s)
    n = n + 1
  end
end
return cjson.encode({ n = n })
