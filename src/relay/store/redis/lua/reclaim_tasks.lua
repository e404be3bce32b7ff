-- reclaimTasks(now, limit, rules): claims the unfinished tasks whose holder is gone (rules.ts: lost)
-- and moves them: one sent by capability to another agent with it that can receive now (its sender
-- last), or back to wait for one; one sent to its agent queued for it again. Senders are told.
local R = A.rules
local now = A.now
local out = {}

-- rules.ts: socketGone, canReceive, lost.
local function socket_gone(a)
  return #a.conns == 0 and has(a.disconnectedAt) and a.lastSeen <= a.disconnectedAt
end
local function can_receive(a)
  return #a.conns > 0 or (not socket_gone(a) and now - a.lastSeen < R.reachableMs)
end
local function lost(t, h)
  if #h.conns > 0 then return false end
  local off = has(h.disconnectedAt) and h.disconnectedAt or 0
  local gone = socket_gone(h)
  if t.state == "queued" then
    if not has(t.cap) then return false end
    if gone then return now - off >= R.graceMs end
    return now - h.lastSeen >= R.reachableMs
  end
  if gone then return now - off >= R.graceMs end
  return now - math.max(t.updatedAt, h.lastSeen) >= t.leaseS * 1000
end

-- Agents are read once; what they hold is read live, as reclaiming changes it.
local agents
local function pick_reachable(cap, except, sender)
  if not agents then
    agents = {}
    for _, j in ipairs(redis.call("HVALS", key("agents"))) do table.insert(agents, cjson.decode(j)) end
  end
  local best, best_key
  for _, a in ipairs(agents) do
    if a.id ~= except and contains(a.caps, cap) and can_receive(a) then
      -- Held tasks decide; the sender comes after everyone else.
      local k = tonumber(redis.call("HGET", key("held"), a.id) or "0") + (a.id == sender and 1e9 or 0)
      if not best or k < best_key or (k == best_key and a.id < best.id) then
        best, best_key = a, k
      end
    end
  end
  return best
end

local function holder_lost(name, next_name, cap)
  local what
  if next_name then
    what = "reassigned to " .. next_name
  elseif cap then
    what = "waiting for an agent with " .. cap
  else
    what = "delivered again when " .. name .. " returns"
  end
  return "holder " .. name .. " went offline; " .. what
end

local function reclaim(t, h)
  if not has(t.cap) then
    if t.state == "queued" then return nil end -- already waiting for its agent to come back
    withdraw(t)
    change(t, { state = "queued", note = holder_lost(h.name, nil, nil), at = now }, R.room)
    queue(task_entry(t), nil)
    return t
  end
  local other = pick_reachable(t.cap, h.id, t.from)
  if not other and t.state == "queued" then return nil end -- nowhere better to wait
  withdraw(t)
  change(t, { state = "queued", note = holder_lost(h.name, other and other.name, t.cap), at = now }, R.room, { to = other and other.id or NULL })
  if other then queue(task_entry(t), nil) end
  return t
end

-- Whether any task in the holder's `hd` can be lost by now (see `lost`), judged without reading them:
-- a holder seen within the shortest lease there (`hl`) and the reach, or gone within the grace, keeps them all.
local function quiet_enough(h)
  if socket_gone(h) then return now - (has(h.disconnectedAt) and h.disconnectedAt or 0) >= R.graceMs end
  local least = tonumber(redis.call("HGET", key("hl"), h.id) or "0") * 1000
  return now - h.lastSeen >= math.min(R.reachableMs, least)
end

local holders = redis.call("HKEYS", key("held"))
table.sort(holders)
for _, hid in ipairs(holders) do
  if #out >= A.limit then break end
  local h = get_agent(hid)
  if h and #h.conns == 0 and quiet_enough(h) then
    -- Not `hw`: a task queued for it by name waits for it (_tasks.lua: held_in).
    local ids = redis.call("SMEMBERS", key("hd", hid))
    table.sort(ids)
    for _, id in ipairs(ids) do
      if #out >= A.limit then break end
      local t = get_task(id)
      if t and not FINAL[t.state] and lost(t, h) then
        local moved = reclaim(t, h)
        if moved then table.insert(out, { task = out_task(moved), holder = hid }) end
      end
    end
  end
end
return cjson.encode({ tasks = out, fx = told() })
