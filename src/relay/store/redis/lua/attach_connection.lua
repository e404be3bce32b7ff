-- attachConnection(agent, conn, now, eagerMs): adds a live connection; the first one marks when it came online.
-- One that takes every message (`eagerMs`, its ack window) is where messages queued alone go out at once.
local a = get_agent(A.agent)
if not a then return cjson.encode({ agent = NULL }) end
if #a.conns == 0 and has(A.now) then
  a.connectedAt, a.disconnectedAt = A.now, NULL
  if A.now > a.lastSeen then a.lastSeen = A.now end
end
if not contains(a.conns, A.conn) then table.insert(a.conns, A.conn) end
put_agent(a)
if has(A.eagerMs) then redis.call("HSET", key("ea"), A.agent, A.conn .. " " .. math.floor(A.eagerMs)) end
return cjson.encode({ agent = a })
