-- requeueExpired(now, limit, room): claims flights whose lease ran out; a task goes back to queued
-- only if still merely delivered (past that its copy is dropped), other messages are queued again.
local n = 0
local due = {}
local order = {}
for _, member in ipairs(redis.call("ZRANGEBYSCORE", key("flying"), "-inf", A.now, "LIMIT", 0, A.limit)) do
  local nl = string.find(member, "\n", 1, true)
  local to, id = string.sub(member, 1, nl - 1), string.sub(member, nl + 1)
  local s = slot_get(to, id)
  if not s or s.w ~= "f" then
    redis.call("ZREM", key("flying"), member)
  else
    n = n + 1
    if not due[to] then
      due[to] = {}
      table.insert(order, to)
    end
    if s.t ~= "task" then
      table.insert(due[to], id)
    else
      local t = get_task(id)
      if not t or t.state ~= "delivered" then
        settle(to, id, s)
      else
        change(t, { state = "queued", note = "lease of " .. t.leaseS .. "s ran out before an ack; queued again", at = A.now }, A.room)
        table.insert(due[to], id)
      end
    end
  end
end
for _, to in ipairs(order) do requeue_slots(to, due[to]) end
return cjson.encode({ requeued = n, fx = FX })
