-- putFileVersionIf(key, expected, file, rules): stores the key's next version if its latest is
-- `expected`, nobody else holds a running lease and it fits; then drops versions past the limits.
local k, f, rules = A.key, A.file, A.rules
local lock = live_lock(k, f.createdAt)
if lock and lock.holderId ~= f.authorId then return cjson.encode({ ok = false, refused = "locked", lock = lock }) end
local head = get_head(k)
local last = latest(k)
if A.expected ~= (last and last.version or 0) then return cjson.encode({ ok = false, refused = "version", head = head or NULL, latest = last or NULL }) end
local lastSize = last and last.size or 0
local others = tonumber(redis.call("GET", key("fpinned")) or "0") - lastSize
if others + f.size > rules.maxTotalBytes then return cjson.encode({ ok = false, refused = "storage_full", pinned = others }) end
local version = (head and head.version or 0) + 1
local meta = { key = k, version = version, size = f.size, sha256 = f.sha256, author = f.author, createdAt = f.createdAt, blob = f.blob, n = f.n }
redis.call("ZADD", key("fv", k), version, cjson.encode(meta))
redis.call("ZADD", key("fall"), f.createdAt, fall_member(k, version))
for i = 0, f.n - 1 do redis.call("PERSIST", key("blob", f.blob, i)) end
redis.call("INCRBY", key("ftotal"), f.size)
redis.call("INCRBY", key("fpinned"), f.size - lastSize)
redis.call("HSET", key("fh"), k, cjson.encode({ key = k, version = version, deletedBy = NULL, deletedAt = NULL }))
if version > rules.maxVersions then drop_versions(k, version - rules.maxVersions) end
-- The oldest versions that are not the latest of their key give way until every kept version fits.
if tonumber(redis.call("GET", key("ftotal"))) > rules.maxTotalBytes then
  for _, member in ipairs(redis.call("ZRANGE", key("fall"), 0, -1)) do
    if tonumber(redis.call("GET", key("ftotal"))) <= rules.maxTotalBytes then break end
    local z = string.find(member, "\0", 1, true)
    local mk, mv = string.sub(member, 1, z - 1), tonumber(string.sub(member, z + 1))
    local h = get_head(mk)
    if not h or h.version ~= mv then drop_versions(mk, mv) end
  end
end
return cjson.encode({ ok = true, version = meta })
