-- expireLeases(now): claims and removes leases that ran out or whose holder is gone.
local out = {}
for _, j in ipairs(redis.call("HVALS", key("locks"))) do
  local lock = cjson.decode(j)
  if not live_lock(lock.key, A.now) then
    redis.call("HDEL", key("locks"), lock.key)
    table.insert(out, lock)
  end
end
return cjson.encode({ locks = out })
