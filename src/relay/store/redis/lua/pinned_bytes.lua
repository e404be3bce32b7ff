-- pinnedBytes(key): bytes of the latest versions of every key but this one.
local last = latest(A.key)
return cjson.encode({ n = tonumber(redis.call("GET", key("fpinned")) or "0") - (last and last.size or 0) })
