-- takeLease(key, holderId, holderName, now, until): takes the lease, or renews it for its holder.
local held = live_lock(A.key, A.now)
if held and held.holderId ~= A.holderId then return cjson.encode({ ok = false, refused = "locked", lock = held }) end
local lock = { key = A.key, holderId = A.holderId, holderName = A.holderName, since = held and held.since or A.now, ["until"] = A["until"] }
redis.call("HSET", key("locks"), A.key, cjson.encode(lock))
return cjson.encode({ ok = true, lock = lock })
