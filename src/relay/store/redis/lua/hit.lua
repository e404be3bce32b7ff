-- hit(key, windowMs, max, now): counts one event in a window that starts at its first event and expires
-- with it, unless the window holds max already (then nothing is counted); max 0 only reads.
local k = key("hit", A.key)
local count = tonumber(redis.call("GET", k) or "0")
local left = 0
if count > 0 then
  left = redis.call("PTTL", k)
  -- A counter never outlives its window, whatever happened to its expiry.
  if left < 0 then
    left = A.windowMs
    redis.call("PEXPIRE", k, left)
  end
end
if count >= A.max then return cjson.encode({ ok = false, count = count, resetAt = A.now + left }) end
if count == 0 then
  redis.call("SET", k, 1, "PX", A.windowMs)
  return cjson.encode({ ok = true, count = 1, resetAt = A.now + A.windowMs })
end
redis.call("INCR", k)
return cjson.encode({ ok = true, count = count + 1, resetAt = A.now + left })
