-- listFiles(prefix, now): every live key under the prefix with its latest version and running lease.
local out = {}
for _, j in ipairs(redis.call("HVALS", key("fh"))) do
  local head = cjson.decode(j)
  if starts(head.key, A.prefix) then
    local last = latest(head.key)
    if last then table.insert(out, { latest = last, lock = live_lock(head.key, A.now) or NULL }) end
  end
end
return cjson.encode({ files = out })
