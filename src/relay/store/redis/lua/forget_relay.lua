-- forgetRelay(instance, now): claims a relay whose heartbeat ran out, once, and drops its connections
-- from every agent; what went out on them and was not acknowledged is queued again.
local score = redis.call("ZSCORE", key("relays"), A.instance)
if not score or tonumber(score) > A.now then return cjson.encode({ forgot = false, fx = told() }) end
redis.call("ZREM", key("relays"), A.instance)
redis.call("HDEL", key("relay-urls"), A.instance)
local mark = A.instance .. "."
-- The connections it held open count toward no limit any more.
local counted = key("hcr", A.instance)
for _, m in ipairs(redis.call("SMEMBERS", counted)) do
  local identity, conn = string.match(m, "^(.*) ([^ ]*)$")
  if identity then redis.call("SREM", key("hc", identity), conn) end
end
redis.call("DEL", counted)
local on_it = function(c) return starts(c, mark) end
for _, j in ipairs(redis.call("HVALS", key("agents"))) do
  drop_connections(cjson.decode(j), on_it, A.now)
end
return cjson.encode({ forgot = true, fx = told() })
