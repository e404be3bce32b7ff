-- expireUnread(before, limit, now, note, room): claims messages still queued that were sent before
-- `before`, oldest first in each lane: a task among them still queued expires with `note`, any other
-- message is dropped; then tasks waiting for an agent with their capability since before `before`.
local dropped = 0
local out = {}
local function expire(t)
  change(t, { state = "expired", note = A.note, at = A.now }, A.room)
  table.insert(out, out_task(t))
end
local agents = redis.call("HKEYS", key("agents"))
table.sort(agents)
for _, to in ipairs(agents) do
  if dropped >= A.limit then break end
  for lane = 0, 3 do
    -- Each lane is in the order it was queued: its head is its oldest.
    local done = false
    while not done and dropped < A.limit do
      local batch = redis.call("ZRANGEBYSCORE", key("q", to), lane * 1e13, (lane + 1) * 1e13 - 1, "LIMIT", 0, 64)
      if #batch == 0 then break end
      for _, id in ipairs(batch) do
        if dropped >= A.limit then break end
        local s = slot_get(to, id)
        if not (s.ca and s.ca < A.before) then
          done = true
          break
        end
        dropped = dropped + 1
        settle(to, id, s)
        if s.t == "task" then
          local t = get_task(id)
          if t and t.state == "queued" then expire(t) end
        end
      end
    end
  end
end
for _, id in ipairs(redis.call("ZRANGEBYSCORE", key("unassigned"), "-inf", "(" .. A.before)) do
  if dropped >= A.limit then break end
  local t = get_task(id)
  if t then
    dropped = dropped + 1
    withdraw(t)
    expire(t)
  end
end
return cjson.encode({ dropped = dropped, tasks = out, fx = told() })
