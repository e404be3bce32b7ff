-- pruneTasks(before, keep, keepBytes): drops finished tasks that finished before `before`, and the
-- oldest finished while more than `keep` of them, or more than `keepBytes` of them (finbytes), are kept.
local out = {}
local function over()
  return has(A.keepBytes) and tonumber(redis.call("GET", key("finbytes")) or "0") > A.keepBytes
end
while true do
  local first = redis.call("ZRANGE", key("fin"), 0, 0, "WITHSCORES")
  if #first == 0 then break end
  local id, at = first[1], tonumber(first[2])
  if at >= A.before and redis.call("ZCARD", key("fin")) <= A.keep and not over() then break end
  redis.call("ZREM", key("fin"), id)
  local t = get_task(id)
  if t then
    if has(t._w) then redis.call("DECRBY", key("finbytes"), t._w) end
    table.insert(out, out_task(t))
    redis.call("HDEL", key("t"), id)
    redis.call("ZREM", key("recent"), id)
    redis.call("HINCRBY", key("states"), t.state, -1)
    redis.call("ZREM", key("tl", t.from), id)
    if has(t.to) then redis.call("ZREM", key("tl", t.to), id) end
    if has(t.idempotencyKey) then redis.call("HDEL", key("idem"), t.from .. "\0" .. t.idempotencyKey) end
  end
end
return cjson.encode({ tasks = out })
