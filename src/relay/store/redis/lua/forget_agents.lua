-- forgetAgents(staleBefore, limit, now, note, room): claims and removes idle agents nobody waits on.
local out = {}
for _, j in ipairs(redis.call("HVALS", key("agents"))) do
  if #out >= A.limit then break end
  local a = cjson.decode(j)
  if #a.conns == 0 and a.lastSeen < A.staleBefore
    and redis.call("ZCARD", key("q", a.id)) == 0 and redis.call("SCARD", key("fl", a.id)) == 0
    and tonumber(redis.call("HGET", key("held"), a.id) or "0") == 0 then
    drop(a.id, A.now, A.note, A.room)
    table.insert(out, a)
  end
end
return cjson.encode({ agents = out, fx = FX })
