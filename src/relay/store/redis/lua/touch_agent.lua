-- touchAgent(id, now): marks the agent seen, never backwards.
local a = get_agent(A.id)
if not a then return cjson.encode({ agent = NULL }) end
if A.now > a.lastSeen then
  a.lastSeen = A.now
  put_agent(a)
end
return cjson.encode({ agent = a })
