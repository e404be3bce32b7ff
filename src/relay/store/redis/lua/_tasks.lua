-- Task records: `t` (id -> record, with what it weighs (`_w`), then a newline and its context as sent), `tl:<agent>` (its tasks, sent
-- or held, all scored 0 so they sort by id: a page is one ZRANGEBYLEX), `hw:<agent>` and `hd:<agent>` (the
-- unfinished tasks it holds: waiting for it by name, and the rest) with `held` (their count, by agent) and `hl` (the
-- shortest lease in its `hd` since it last held nothing: the reclaim sweep skips a holder seen more recently), `unassigned`
-- and `ttl` (by deadline), `fin` (finished, by when), `recent` (by last change), `idem` (sender + key -> id),
-- `states` (counts) and `finbytes` (what the finished ones kept weigh).

-- A task queued for its holder by name waits however long the holder is gone (rules.ts: lost), so it is
-- kept in `hw`, which the reclaim sweep never reads: a backlog for an agent offline costs the sweep nothing.
local function held_in(state, t)
  if state == "queued" and not has(t.cap) then return "hw" end
  return "hd"
end

-- `hl` stays a lower bound of the leases in `hd`; one missing while `hd` holds another task (kept before
-- `hl` was) becomes 0, which skips nothing.
local function lease_in(agent, t)
  local least = redis.call("HGET", key("hl"), agent)
  if least and tonumber(least) <= t.leaseS then return end
  if not least and redis.call("SCARD", key("hd", agent)) > 1 then
    redis.call("HSET", key("hl"), agent, "0")
  else
    redis.call("HSET", key("hl"), agent, t.leaseS)
  end
end

local function held_add(agent, t, set)
  if redis.call("SADD", key(set, agent), t.id) == 1 then redis.call("HINCRBY", key("held"), agent, "1") end
  if set == "hd" then lease_in(agent, t) end
end

-- A task found in the other set (kept before `hw` existed) is taken from there.
local function held_del(agent, id, set)
  if redis.call("SREM", key(set, agent), id) == 0 and redis.call("SREM", key(set == "hw" and "hd" or "hw", agent), id) == 0 then return end
  if redis.call("HINCRBY", key("held"), agent, "-1") <= 0 then
    redis.call("HDEL", key("held"), agent)
    redis.call("HDEL", key("hl"), agent)
  end
end

-- The agent the task was last handed out to (rules.ts: receivedBy); a record kept before `handedTo` was counts its holder once attempted.
local function received_by(t)
  if t.handedTo ~= nil then return t.handedTo end
  if t.attempts > 0 then return t.to end
  return NULL
end

-- The record as last written, by id: a reply splices it instead of encoding it again.
local RECORD = {}

local function put_task(t)
  RECORD[t.id] = cjson.encode(t)
  redis.call("HSET", key("t"), t.id, RECORD[t.id] .. "\n" .. CTX[t.id])
end

-- The message that carries a task to its holder, laid out as the relay renders it (`_render.ts`), its
-- context spliced in as it was sent; ids, times and priorities need no escaping. A copy handed out after
-- the first says so (`redelivered`), so a handler can skip work it already did.
local function task_body(t, redelivered)
  local to = has(t.to) and '"' .. t.to .. '"' or "null"
  -- cjson writes "/" as "\/": written plain, as the relay writes it, the message weighs what it weighs in every store.
  local text = string.gsub(cjson.encode(t.task), "\\/", "/")
  return '{"type":"task","id":"' .. t.id .. '","from":"' .. t.from .. '","to":' .. to .. ',"created_at":"' .. t._iso .. '","task":' .. text .. ',"context":' .. CTX[t.id] .. ',"priority":"' .. t.priority .. '","attempt":' .. t.attempts .. ',"lease_s":' .. t.leaseS .. (redelivered and ',"redelivered":true}' or "}")
end

-- The message that carries a task at attempt `n`, made from the one kept in its slot (`raw`, its field as
-- stored; the message from `from` on) when that one is laid out as the relay renders it (`_render.ts`,
-- `_memory-messages.ts`: its attempt and lease last, then whether it was redelivered): the attempt is
-- spliced in, nothing encoded again. nil for one laid out otherwise (kept before task_body wrote this layout).
local function attempt_body(raw, from, n)
  local at, next = nil, math.max(from, #raw - 96)
  repeat
    next = string.find(raw, ',"attempt":', next, true)
    if next then at, next = next, next + 1 end
  until not next
  if not at then return nil end
  local lease, rest = string.match(raw, '^,"attempt":%d+(,"lease_s":%d+)(.*)$', at)
  if rest ~= "}" and rest ~= ',"redelivered":true}' then return nil end
  return string.sub(raw, from, at - 1) .. ',"attempt":' .. n .. lease .. (n > 1 and ',"redelivered":true}' or "}")
end

local function task_entry(t)
  local body = task_body(t, false)
  return { to = t.to, p = t.priority, id = t.id, body = body, f = t.from, t = "task", b = #body, ab = "", co = false, key = "", ca = t.createdAt }
end

-- A task's text and context count toward the relay-wide budget and its sender's until it finishes;
-- a finished one, with its result, toward the finished tasks kept (rules.ts: finishedBytes). The weight
-- is kept in the record (`_w`), written after.
local function weigh(t, bytes)
  if has(t._w) then return end
  if FINAL[t.state] then
    t._w = bytes + (has(t.result) and #t.result or 0)
    redis.call("INCRBY", key("finbytes"), t._w)
    return
  end
  t._w = bytes
  count(t.from, bytes)
end

local function finish(t)
  if not has(t._w) then return end
  count(t.from, -t._w)
  t._w = t._w + (has(t.result) and #t.result or 0)
  redis.call("INCRBY", key("finbytes"), t._w)
end

-- The indexes of a task just made (`create_task`): `t` has its id, sender, holder (nil: none), idempotency
-- key, state, capability and lease, and as text when it was made and when its ttl runs out.
local function add_task(t)
  redis.call("ZADD", key("tl", t.from), "0", t.id)
  if has(t.key) then redis.call("HSET", key("idem"), t.from .. "\0" .. t.key, t.id) end
  redis.call("HINCRBY", key("states"), t.state, "1")
  redis.call("ZADD", key("recent"), t.at, t.id)
  if t.to then
    redis.call("ZADD", key("tl", t.to), "0", t.id)
    held_add(t.to, t, held_in(t.state, t))
  else
    redis.call("ZADD", key("unassigned"), t.at, t.id)
  end
  if has(t.ttlAt) and t.state == "queued" then redis.call("ZADD", key("ttl"), t.ttlAt, t.id) end
end

-- The indexes after a record changed from (`state`, `to`) to `t`: a holder assigned or taken away, or the task finished.
local function book(state, to, t)
  if state ~= t.state then
    redis.call("HINCRBY", key("states"), state, "-1")
    redis.call("HINCRBY", key("states"), t.state, "1")
  end
  redis.call("ZADD", key("recent"), t.updatedAt, t.id)
  local was, is = held_in(state, t), held_in(t.state, t)
  if to ~= t.to and not FINAL[state] then
    if has(to) then held_del(to, t.id, was) end
    if has(t.to) then
      redis.call("ZREM", key("unassigned"), t.id)
      redis.call("ZADD", key("tl", t.to), "0", t.id)
      held_add(t.to, t, is)
    elseif t.state == "queued" then
      redis.call("ZADD", key("unassigned"), t.createdAt, t.id)
    end
  elseif has(to) and was ~= is and not FINAL[state] and not FINAL[t.state] then
    -- Handed out, or queued again for its holder.
    redis.call("SMOVE", key(was, to), key(is, to), t.id)
    if is == "hd" then lease_in(to, t) end
  end
  if not FINAL[state] and FINAL[t.state] then
    redis.call("ZREM", key("ttl"), t.id)
    redis.call("ZREM", key("unassigned"), t.id)
    if has(t.to) then held_del(t.to, t.id, to == t.to and was or is) end
    redis.call("ZADD", key("fin"), t.updatedAt, t.id)
  end
  -- A ttl runs only while a task is queued, so the expiry sweep never reads one handed out.
  if has(t.ttlS) and not FINAL[t.state] and (state == "queued") ~= (t.state == "queued") then
    if t.state == "queued" then
      redis.call("ZADD", key("ttl"), t.createdAt + t.ttlS * 1000, t.id)
    else
      redis.call("ZREM", key("ttl"), t.id)
    end
  end
end

-- A status from the relay (rules.ts: notices), written by concatenation: ids, times and states need no escaping.
local function status_entry(t, to, state, note)
  local id = new_mid()
  local body = '{"type":"status","id":"' .. id .. '","from":"relay","to":"' .. to .. '","created_at":"' .. A.iso .. '","task_id":"' .. t.id .. '","state":"' .. state .. '","note":' .. cjson.encode(note) .. "}"
  return { to = to, p = t.priority, id = id, body = body, f = RELAY, t = "status", b = #body, ab = t.id, co = true, key = "", ca = A.ms }
end

local HISTORY_FIRST, HISTORY_LAST = 8, 24

-- Applies a change ({state?, note, at, result?, responseId?, progress?}) and `patch` to a task with its
-- bookkeeping, and queues the statuses it tells where they fit `room` (rules.ts: notices).
local function change(t, ch, room, patch)
  local state, to = t.state, t.to
  if patch then for f, v in pairs(patch) do t[f] = v end end
  if has(ch.result) then t.result = ch.result end
  if has(ch.responseId) then t.responseId = ch.responseId end
  if has(ch.progress) then t.note = ch.progress end
  if has(ch.state) then
    t.state = ch.state
    table.insert(t.history, { state = ch.state, at = ch.at, note = ch.note })
    -- The first entries and the latest are kept; those between are counted (rules.ts: HISTORY).
    if #t.history > HISTORY_FIRST + HISTORY_LAST then
      table.remove(t.history, HISTORY_FIRST + 1)
      t.historyDropped = (has(t.historyDropped) and t.historyDropped or 0) + 1
    end
  end
  if has(ch.state) or has(ch.result) or has(ch.progress) then t.updatedAt = ch.at end
  if not FINAL[state] and FINAL[t.state] then finish(t) end
  put_task(t)
  book(state, to, t)
  table.insert(FX.t, t.id)
  if has(ch.state) then
    queue(status_entry(t, t.from, ch.state, ch.note), room)
    if (ch.state == "canceled" or ch.state == "expired") and has(t.to) and received_by(t) == t.to then
      queue(status_entry(t, t.to, ch.state, ch.note), room)
    end
  end
  return t
end

-- Takes an unfinished task's own message out of its holder's queue or flight.
local function withdraw(t)
  if not has(t.to) then
    redis.call("ZREM", key("unassigned"), t.id)
    return
  end
  local s = slot_get(t.to, t.id)
  if s then settle(t.to, t.id, s) end
end

-- Removes an agent and what waits for it; the unfinished tasks it held fail.
local function drop(id, now, note, room)
  local agent = get_agent(id)
  if not agent then return nil end
  redis.call("HDEL", key("agents"), id)
  redis.call("ZREM", key("seen"), id)
  if redis.call("HGET", key("names"), agent.name) == id then redis.call("HDEL", key("names"), agent.name) end
  for _, mid in ipairs(redis.call("ZRANGE", key("q", id), 0, -1)) do settle(id, mid, slot_get(id, mid)) end
  for _, mid in ipairs(redis.call("SMEMBERS", key("fl", id))) do settle(id, mid, slot_get(id, mid)) end
  redis.call("DEL", key("q", id), key("m", id), key("fl", id))
  redis.call("HDEL", key("pins"), id)
  redis.call("HDEL", key("ea"), id)
  -- Only the unfinished tasks it holds (`hd`, `hw`), not every task it ever sent or held.
  local holding = redis.call("SUNION", key("hd", id), key("hw", id))
  table.sort(holding)
  for _, tid in ipairs(holding) do
    local t = get_task(tid)
    if t and t.to == id and not FINAL[t.state] then change(t, { state = "failed", note = "assignee left: " .. note, at = now }, room) end
  end
  redis.call("HDEL", key("held"), id)
  redis.call("HDEL", key("hl"), id)
  redis.call("DEL", key("hd", id), key("hw", id))
  return agent
end

-- Records go back with their context (the caller parses it).
local function out_task(t)
  local o = {}
  for f, v in pairs(t) do o[f] = v end
  o._ctx = CTX[t.id]
  return o
end
