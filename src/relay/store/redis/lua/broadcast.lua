-- broadcast(entry, except, room): queues the message for every agent but `except` that has room.
local n = 0
for _, id in ipairs(redis.call("HKEYS", key("agents"))) do
  if id ~= A.except then
    A.entry.to = id
    local s = queue(A.entry, A.room)
    if s and s.ok ~= false then n = n + 1 end
  end
end
return told_json({ '{"recipients":' .. n .. ',"fx":' }, "}")
