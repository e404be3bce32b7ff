-- forgetRelay(instance, now): claims a relay whose heartbeat ran out, once, and drops its connections
-- from every agent; what went out on them and was not acknowledged is queued again.
local score = redis.call("ZSCORE", key("relays"), A.instance)
if not score or tonumber(score) > A.now then return cjson.encode({ forgot = false, fx = told() }) end
redis.call("ZREM", key("relays"), A.instance)
redis.call("HDEL", key("relay-urls"), A.instance)
local mark = A.instance .. "."
-- The connections it held open count toward no limit any more.
local counted = key("hcr", A.instance)
for _, m in ipairs(redis.call("SMEMBERS", counted)) do
  local identity, conn = string.match(m, "^(.*) ([^ ]*)$")
  if identity then redis.call("SREM", key("hc", identity), conn) end
end
redis.call("DEL", counted)
for _, j in ipairs(redis.call("HVALS", key("agents"))) do
  local a = cjson.decode(j)
  local keep, gone = {}, false
  for _, c in ipairs(a.conns) do
    if starts(c, mark) then gone = true else table.insert(keep, c) end
  end
  if gone then
    -- Its last socket was on the relay that died: the holder's grace runs from now.
    if #keep == 0 then
      a.connectedAt, a.disconnectedAt = NULL, A.now
      if A.now > a.lastSeen then a.lastSeen = A.now end
    end
    a.conns = keep
    put_agent(a)
    local ids = {}
    for _, id in ipairs(redis.call("SMEMBERS", key("fl", a.id))) do
      local s = slot_get(a.id, id)
      if s and starts(s.c, mark) then table.insert(ids, id) end
    end
    requeue_slots(a.id, ids)
  end
end
return cjson.encode({ forgot = true, fx = told() })
