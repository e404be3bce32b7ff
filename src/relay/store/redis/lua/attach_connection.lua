-- attachConnection(agent, conn): adds a live connection.
local a = get_agent(A.agent)
if not a then return cjson.encode({ agent = NULL }) end
if not contains(a.conns, A.conn) then table.insert(a.conns, A.conn) end
put_agent(a)
return cjson.encode({ agent = a })
