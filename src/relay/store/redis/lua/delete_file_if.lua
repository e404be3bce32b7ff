-- deleteFileIf(key, actorId, actorName, now): deletes every version of a live key unless another
-- agent holds a running lease on it; the head stays, so numbers never repeat.
local k = A.key
local head = get_head(k)
if not head or has(head.deletedAt) then return cjson.encode({ ok = false, refused = "unknown_file", head = head or NULL }) end
local lock = live_lock(k, A.now)
if lock and lock.holderId ~= A.actorId then return cjson.encode({ ok = false, refused = "locked", lock = lock }) end
local last = latest(k)
if last then redis.call("DECRBY", key("fpinned"), last.size) end
drop_versions(k, head.version)
head.deletedBy, head.deletedAt = A.actorName, A.now
redis.call("HSET", key("fh"), k, cjson.encode(head))
return cjson.encode({ ok = true, head = head })
