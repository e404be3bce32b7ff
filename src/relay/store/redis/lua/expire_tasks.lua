-- expireTasks(now, limit, room): claims tasks still queued past their ttl and expires them.
local out = {}
for _, id in ipairs(redis.call("ZRANGEBYSCORE", key("ttl"), "-inf", A.now)) do
  if #out >= A.limit then break end
  local t = get_task(id)
  if t and t.state == "queued" then
    withdraw(t)
    change(t, { state = "expired", note = "not delivered within its ttl of " .. t.ttlS .. "s", at = A.now }, A.room)
    table.insert(out, out_task(t))
  end
end
return cjson.encode({ tasks = out, fx = told() })
