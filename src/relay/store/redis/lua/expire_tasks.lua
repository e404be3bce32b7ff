-- expireTasks(now, limit, room): claims tasks still queued past their ttl and expires them.
-- Most calls find nothing due: they answer before the shared definitions are made (`now` read off the arguments as sent).
local due_at = tonumber(string.match(ARGV[2], '"now":(%d+)[,}]'))
if due_at and #redis.call("ZRANGEBYSCORE", ARGV[1] .. "ttl", "-inf", due_at, "LIMIT", 0, 1) == 0 then return '{"tasks":[]}' end
-- (the shared definitions go here)
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
