-- forgetAgents(staleBefore, limit, now, note, room): claims and removes idle agents nobody waits on:
-- no connection, nothing in flight, nothing but broadcasts queued (they go with it), no unfinished task
-- held. Read from `seen` (agents with no connection, stalest first) and the per-agent counts, so the
-- work grows with the stale agents, not with every agent or every message queued.
local out = {}
-- Stale agents kept (someone waits on them) stay in `seen`: the next batch starts after them.
local kept = 0
local function idle(id)
  return redis.call("SCARD", key("fl", id)) == 0
    and tonumber(redis.call("HGET", key("pins"), id) or "0") <= 0
    and tonumber(redis.call("HGET", key("held"), id) or "0") <= 0
end
while #out < A.limit do
  local batch = redis.call("ZRANGEBYSCORE", key("seen"), "-inf", "(" .. A.staleBefore, "LIMIT", kept, 64)
  if #batch == 0 then break end
  for _, id in ipairs(batch) do
    if #out >= A.limit then break end
    local a = get_agent(id)
    if not a then
      redis.call("ZREM", key("seen"), id)
    elseif #a.conns == 0 and a.lastSeen < A.staleBefore and idle(id) then
      drop(id, A.now, A.note, A.room)
      table.insert(out, a)
    else
      kept = kept + 1
    end
  end
end
return cjson.encode({ agents = out, fx = told() })
