-- releaseLease(key, holderId, now): ends the running lease if `holderId` holds it (null: whoever does).
local lock = live_lock(A.key, A.now)
if not lock then return cjson.encode({ ok = false, refused = "not_locked" }) end
if has(A.holderId) and lock.holderId ~= A.holderId then return cjson.encode({ ok = false, refused = "not_holder", lock = lock }) end
redis.call("HDEL", key("locks"), A.key)
return cjson.encode({ ok = true, lock = lock })
