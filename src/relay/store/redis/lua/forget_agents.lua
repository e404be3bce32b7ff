-- forgetAgents(staleBefore, limit, now, note, room): claims and removes idle agents nobody waits on:
-- nothing in flight, nothing but broadcasts queued (they go with it), no unfinished task held.
local out = {}
local function idle(id)
  if redis.call("SCARD", key("fl", id)) > 0 then return false end
  for _, j in ipairs(redis.call("HVALS", key("m", id))) do
    if cjson.decode(j).t ~= "broadcast" then return false end
  end
  return true
end
for _, j in ipairs(redis.call("HVALS", key("agents"))) do
  if #out >= A.limit then break end
  local a = cjson.decode(j)
  if #a.conns == 0 and a.lastSeen < A.staleBefore and tonumber(redis.call("HGET", key("held"), a.id) or "0") == 0 and idle(a.id) then
    drop(a.id, A.now, A.note, A.room)
    table.insert(out, a)
  end
end
return cjson.encode({ agents = out, fx = FX })
