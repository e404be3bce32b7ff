-- pruneTasks(before, keep): drops finished tasks that finished before `before`, and the oldest past `keep`.
local out = {}
while true do
  local first = redis.call("ZRANGE", key("fin"), 0, 0, "WITHSCORES")
  if #first == 0 then break end
  local id, at = first[1], tonumber(first[2])
  if at >= A.before and redis.call("ZCARD", key("fin")) <= A.keep then break end
  redis.call("ZREM", key("fin"), id)
  local t = get_task(id)
  if t then
    table.insert(out, out_task(t))
    redis.call("HDEL", key("t"), id)
    redis.call("HDEL", key("ctx"), id)
    redis.call("ZREM", key("recent"), id)
    redis.call("HINCRBY", key("states"), t.state, -1)
    redis.call("SREM", key("tof", t.from), id)
    if has(t.to) then redis.call("SREM", key("tof", t.to), id) end
    if has(t.idempotencyKey) then redis.call("HDEL", key("idem"), t.from .. "\0" .. t.idempotencyKey) end
  end
end
return cjson.encode({ tasks = out })
