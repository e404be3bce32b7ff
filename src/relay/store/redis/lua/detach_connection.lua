-- detachConnection(agent, conn, now): removes a connection; what went out on it comes back to the queue.
local a = get_agent(A.agent)
if not a then return cjson.encode({ fx = told() }) end
local conns = {}
for _, c in ipairs(a.conns) do
  if c ~= A.conn then table.insert(conns, c) end
end
-- Seen until its last socket closed; from then on the holder's grace runs.
if #conns == 0 and #a.conns > 0 and has(A.now) then
  a.connectedAt, a.disconnectedAt = NULL, A.now
  if A.now > a.lastSeen then a.lastSeen = A.now end
end
a.conns = conns
put_agent(a)
local ids = {}
for _, id in ipairs(redis.call("SMEMBERS", key("fl", A.agent))) do
  local s = slot_get(A.agent, id)
  if s and s.c == A.conn then table.insert(ids, id) end
end
requeue_slots(A.agent, ids)
return cjson.encode({ fx = told() })
