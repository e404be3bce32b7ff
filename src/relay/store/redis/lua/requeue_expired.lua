-- requeueExpired(now, limit, room): claims flights whose lease ran out; a task goes back to queued
-- only if still merely delivered (past that its copy is dropped), other messages are queued again.
-- A task out on a connection still attached keeps its lease, renewed from now.
-- Most calls find nothing due: they answer before the shared definitions are made (`now` read off the arguments as sent).
local due_at = tonumber(string.match(ARGV[2], '"now":(%d+)[,}]'))
if due_at and #redis.call("ZRANGEBYSCORE", ARGV[1] .. "flying", "-inf", due_at, "LIMIT", 0, 1) == 0 then return '{"requeued":0}' end
-- (the shared definitions go here)
local n = 0
local due = {}
local order = {}
local conns = {}
-- Whether `conn` is still one of the agent's live connections (the agent read once per call).
local function attached(to, conn)
  if conn == "" then return false end
  if conns[to] == nil then
    local a = get_agent(to)
    conns[to] = a and a.conns or {}
  end
  return contains(conns[to], conn)
end
for _, member in ipairs(redis.call("ZRANGEBYSCORE", key("flying"), "-inf", A.now, "LIMIT", 0, A.limit)) do
  local nl = string.find(member, "\n", 1, true)
  local to, id = string.sub(member, 1, nl - 1), string.sub(member, nl + 1)
  local s = slot_get(to, id)
  local t = s and s.t == "task" and get_task(id) or nil
  if not s or s.w ~= "f" then
    redis.call("ZREM", key("flying"), member)
  elseif t and not FINAL[t.state] and attached(to, s.c) then
    s.u = A.now + t.leaseS * 1000
    slot_put(to, id, s)
    redis.call("ZADD", key("flying"), s.u, member)
  else
    n = n + 1
    if not due[to] then
      due[to] = {}
      table.insert(order, to)
    end
    if s.t ~= "task" then
      table.insert(due[to], id)
    elseif not t or t.state ~= "delivered" then
      settle(to, id, s)
    else
      change(t, { state = "queued", note = "lease of " .. t.leaseS .. "s ran out before an ack; queued again", at = A.now }, A.room)
      table.insert(due[to], id)
    end
  end
end
for _, to in ipairs(order) do requeue_slots(to, due[to]) end
return cjson.encode({ requeued = n, fx = told() })
