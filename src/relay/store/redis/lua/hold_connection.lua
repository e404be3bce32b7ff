-- holdConnection(identity, conn, max): counts a connection held open by identity on any relay, unless it
-- holds max already. Each relay lists what it counted, so whichever relay takes it for gone drops its counts.
local k = key("hc", A.identity)
local n = redis.call("SCARD", k)
if redis.call("SISMEMBER", k, A.conn) == 1 then return cjson.encode({ ok = true, count = n }) end
if n >= A.max then return cjson.encode({ ok = false, count = n }) end
redis.call("SADD", k, A.conn)
redis.call("SADD", key("hcr", relay_of(A.conn)), A.identity .. " " .. A.conn)
return cjson.encode({ ok = true, count = n + 1 })
