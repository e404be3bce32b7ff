-- detachConnection(agent, conn, now): removes a connection; what went out on it comes back to the queue.
local a = get_agent(A.agent)
if a then drop_connections(a, function(c) return c == A.conn end, A.now) end
return cjson.encode({ fx = told() })
