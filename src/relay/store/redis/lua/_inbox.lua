-- One agent's messages: `q:<agent>` (queued ids, scored by lane then sequence), `m:<agent>` (each slot's
-- bookkeeping, then a newline and the message as sent), `fl:<agent>` (ids in flight), `flying` (every
-- flight by deadline, for the lease sweep), `ab:<agent>:<task>` (ids about a task), `rb` (bytes
-- queued or in flight, by recipient) and `pins` (queued slots that are not broadcasts, by recipient:
-- what keeps a stale agent from being forgotten).
-- The message each slot made carries, as sent (Lua never rewrites it): written and read with its
-- bookkeeping, in one field. A slot read keeps that field (`RAW`, the body after `AT`), cut only when needed.
local BODY, RAW, AT = {}, {}, {}

-- `only(v, at)`, when given, says from the field as stored (its bookkeeping ends at `at`) whether the
-- slot is wanted; one that is not is not decoded.
local function slot_get(to, id, only)
  local v = redis.call("HGET", key("m", to), id)
  if not v then return nil end
  local at = string.find(v, "\n", 1, true)
  if only and not only(v, at) then return nil end
  local s = cjson.decode(string.sub(v, 1, at - 1))
  RAW[s], AT[s] = v, at
  return s
end

local function body_of(s)
  return BODY[s] or string.sub(RAW[s], AT[s] + 1)
end

-- Its bookkeeping as cjson would write it, but by concatenation, faster than encoding a table (a number
-- given as text, a lease's end from the relay, goes in as it is). `unread` reads `"w":` and `"t":` as written here.
local function slot_put(to, id, s)
  local ab, key_, c = s.ab == "" and '""' or cjson.encode(s.ab), s.key == "" and '""' or cjson.encode(s.key), s.c == "" and '""' or cjson.encode(s.c)
  local j = '{"seq":' .. s.seq .. ',"p":"' .. s.p .. '","b":' .. s.b .. ',"f":"' .. s.f .. '","ab":' .. ab .. ',"co":' .. tostring(s.co) .. ',"t":"' .. s.t .. '","key":' .. key_ .. ',"w":"' .. s.w .. '","u":' .. s.u .. ',"c":' .. c .. (has(s.ca) and ',"ca":' .. s.ca or "") .. "}"
  redis.call("HSET", key("m", to), id, j .. "\n" .. body_of(s))
end

local function score(s)
  return LANE[s.p] * 1e13 + s.seq
end

-- A queued slot that is not a broadcast counts toward its recipient's pins while it stays queued.
local function pin(to, s, sign)
  if s.t == "broadcast" then return end
  if redis.call("HINCRBY", key("pins"), to, sign > 0 and "1" or "-1") <= 0 then redis.call("HDEL", key("pins"), to) end
end

-- Takes a slot out of its queue or flight and its index; its record stays.
local function unlink(to, id, s)
  if s.w == "q" then
    redis.call("ZREM", key("q", to), id)
    pin(to, s, -1)
  else
    redis.call("SREM", key("fl", to), id)
    redis.call("ZREM", key("flying"), to .. "\n" .. id)
  end
  if s.ab ~= "" then redis.call("SREM", key("ab", to, s.ab), id) end
end

-- A slot's bytes count toward its recipient; a task's own message is weighed by its record instead
-- (_tasks.lua: weigh) toward the relay-wide budget and its sender's.
local function weigh_slot(to, s, sign)
  if redis.call("HINCRBY", key("rb"), to, sign * s.b) <= 0 then redis.call("HDEL", key("rb"), to) end
  if s.t ~= "task" then count(s.f, sign * s.b) end
end

-- A slot leaves for good (settled, dropped or replaced): its bytes stop counting.
local function settle(to, id, s)
  unlink(to, id, s)
  redis.call("HDEL", key("m", to), id)
  weigh_slot(to, s, -1)
end

-- The queued slot of this type about `about`, which a newer one replaces. The others (in flight, or of
-- another type) are passed over from their bookkeeping as stored, without decoding it: a key occurs
-- there only as itself (quotes in values are escaped), and only before the newline.
local function unread(to, about, typ)
  if about == "" then return nil end
  local t = '"t":"' .. typ .. '"'
  local function queued_of_type(v, at)
    local w, ty = string.find(v, '"w":"q"', 1, true), string.find(v, t, 1, true)
    return w ~= nil and w < at and ty ~= nil and ty < at
  end
  for _, id in ipairs(redis.call("SMEMBERS", key("ab", to, about))) do
    local s = slot_get(to, id, queued_of_type)
    if s and s.w == "q" and s.t == typ then return id, s end
  end
  return nil
end

-- Why `bytes` more of type `typ` from `from` do not fit `to`'s queue or the byte budgets, or nil when
-- they do. A new task or broadcast fits only short of the share kept for replies. `nq`, `nf`: `to`'s
-- queued and in-flight counts when the caller just read them; when they fit, the counts it read (or
-- was given) come back after the nil, so the caller need not read them again.
local function room_for(name, to, from, bytes, rep, room, typ, nq, nf)
  if not rep and has(room.maxQueue) and to then
    nq = nq or redis.call("ZCARD", key("q", to))
    nf = nf or redis.call("SCARD", key("fl", to))
    local waiting = nq + nf
    if waiting >= room.maxQueue then return { ok = false, refused = "queue_full", waiting = waiting, name = name } end
  end
  local rb = rep and rep.b or 0
  if has(room.maxRecipientBytes) and to and bytes > rb then
    local held = tonumber(redis.call("HGET", key("rb"), to) or "0")
    if held - rb + bytes > share_of(typ, from, room.maxRecipientBytes) then
      return { ok = false, refused = "recipient_full", bytes = held, size = bytes, name = name }
    end
  end
  local grow = bytes
  if rep and rep.f == from then grow = bytes - rep.b end
  if grow <= 0 then return nil end
  local total = tonumber(redis.call("GET", key("bytes")) or "0")
  if has(room.maxQueuedBytes) and total + grow > share_of(typ, from, room.maxQueuedBytes) then
    return { ok = false, refused = "relay_full", bytes = total, size = bytes }
  end
  if from ~= RELAY and has(room.maxSenderBytes) then
    local mine = tonumber(redis.call("HGET", key("sbytes"), from) or "0")
    if mine + grow > room.maxSenderBytes then return { ok = false, refused = "sender_full", bytes = mine, size = bytes } end
  end
  return nil, nq, nf
end

-- In flight at once for an agent before a message stops going out as it is queued (delivery.ts: a batch).
local FLY_MAX = 128

-- Puts a queued slot in flight until `untilMs` on `conn` ("" for a poll).
local function fly(to, id, s, untilMs, conn)
  redis.call("ZREM", key("q", to), id)
  pin(to, s, -1)
  s.w, s.u, s.c = "f", untilMs, conn
  slot_put(to, id, s)
  redis.call("SADD", key("fl", to), id)
  redis.call("ZADD", key("flying"), untilMs, to .. "\n" .. id)
end

-- The connection that takes everything its agent attached last (`ea`) and its ack window, when the
-- caller gave the time (`A.flyAt`), the message is alone in its queue (`queued` there with it: 1 once
-- queued, 0 before; so the priorities' order holds) and the agent has room in flight; nil otherwise (the
-- message waits for a claim). `a` is the agent's record, or the record as stored (read as it is:
-- decoding it costs more than the rest). `nq`, `nf`: its queued and in-flight counts, when the caller
-- just read them; the counts it read come back after the connection and its window.
local function eager_conn(to, a, queued, nq, nf)
  if not has(A.flyAt) then return nil end
  local eager = redis.call("HGET", key("ea"), to)
  if not eager then return nil end
  local conn, ms = string.match(eager, "^(.*) (%d+)$")
  if type(a) == "string" then
    -- Its `conns` list as written (a quote inside a string value is escaped, so only the field itself matches).
    local conns = stored_field(a, '"conns":[', "]")
    if not conns or not string.find(conns, '"' .. conn .. '"', 1, true) then return nil end
  elseif not contains(a.conns, conn) then
    return nil
  end
  nq = nq or redis.call("ZCARD", key("q", to))
  if nq ~= queued then return nil end
  nf = nf or redis.call("SCARD", key("fl", to))
  if nf >= FLY_MAX then return nil end
  return conn, tonumber(ms), nq, nf
end

-- Queues one entry {to, p, id, body, f, t, b, ab, co, key} within `room` (nil: no bounds); `agent` is
-- its recipient's record (or the record as stored) when the caller has it. Returns the slot, a refusal
-- ({ok = false}), or nil when its recipient is not registered. The record is decoded only for the name
-- a refusal gives. A task its caller hands out as it is made (`create_task`) comes with the connection
-- it goes out on and its lease's end: it is written in flight straight away.
local function queue(e, room, agent, onConn, untilMs, nq, nf)
  local raw = agent or redis.call("HGET", key("agents"), e.to)
  if not raw then return nil end
  local about = e.ab
  -- Indexed only when it names a task (one this script read does): a reply to a broadcast needs no index.
  if about ~= "" and e.t == "response" and not CTX[about] and redis.call("HEXISTS", key("t"), about) == 0 then about = "" end
  local rid, rep
  if e.co then rid, rep = unread(e.to, about, e.t) end
  if room then
    local refusal
    refusal, nq, nf = room_for("", e.to, e.f, e.b, rep, room, e.t, nq, nf)
    if refusal then
      if refusal.name then refusal.name = (type(raw) == "table" and raw or cjson.decode(raw)).name end
      return refusal
    end
  end
  if rep then
    settle(e.to, rid, rep)
    nq, nf = nil, nil
  end
  local s = { seq = redis.call("INCR", key("seq")), p = e.p, b = e.b, f = e.f, ab = about, co = e.co, t = e.t, key = e.key or "", w = "q", u = 0, c = "", ca = e.ca }
  BODY[s] = e.body
  -- One that would be queued alone goes out at once on that connection, written in flight straight
  -- away: its relay pushes it from the bus event, with no claim (a lost event leaves it in flight until
  -- its lease runs out). A task is handed out by its caller (`create_task`), as that changes it.
  local conn, ms = onConn, nil
  if not conn and e.t ~= "task" then
    conn, ms = eager_conn(e.to, raw, 0, nq, nf)
    if conn then untilMs = A.flyAt + ms end
  end
  if conn then
    s.w, s.u, s.c = "f", untilMs, conn
    slot_put(e.to, e.id, s)
    redis.call("SADD", key("fl", e.to), e.id)
    redis.call("ZADD", key("flying"), s.u, e.to .. "\n" .. e.id)
  else
    redis.call("ZADD", key("q", e.to), score(s), e.id)
    pin(e.to, s, 1)
    slot_put(e.to, e.id, s)
  end
  if about ~= "" then redis.call("SADD", key("ab", e.to, about), e.id) end
  weigh_slot(e.to, s, 1)
  table.insert(FX.m, { e.to, e.p, e.body, conn })
  return s
end

-- Puts in-flight slots back in the queue at their place; one a newer unread one replaces is settled.
local function requeue_slots(to, ids)
  local any = false
  for _, id in ipairs(ids) do
    local s = slot_get(to, id)
    if s and s.w == "f" then
      unlink(to, id, s)
      if s.co and unread(to, s.ab, s.t) then
        redis.call("HDEL", key("m", to), id)
        weigh_slot(to, s, -1)
      else
        s.w, s.u, s.c = "q", 0, ""
        redis.call("ZADD", key("q", to), score(s), id)
        pin(to, s, 1)
        slot_put(to, id, s)
        if s.ab ~= "" then redis.call("SADD", key("ab", to, s.ab), id) end
        any = true
      end
    end
  end
  if any then fx_queued(to) end
end

-- Drops the agent's connections `dropped(conn)` picks, and queues again what went out on them unacknowledged.
-- Seen until its last socket closed; from then on the holder's grace runs.
local function drop_connections(a, dropped, now)
  local keep = {}
  for _, c in ipairs(a.conns) do
    if not dropped(c) then table.insert(keep, c) end
  end
  if #keep < #a.conns then
    if #keep == 0 and has(now) then
      a.connectedAt, a.disconnectedAt = NULL, now
      if now > a.lastSeen then a.lastSeen = now end
    end
    a.conns = keep
    put_agent(a)
    local eager = redis.call("HGET", key("ea"), a.id)
    if eager and dropped(string.match(eager, "^(.*) %d+$")) then redis.call("HDEL", key("ea"), a.id) end
  end
  local ids = {}
  for _, id in ipairs(redis.call("SMEMBERS", key("fl", a.id))) do
    local s = slot_get(a.id, id)
    if s and dropped(s.c) then table.insert(ids, id) end
  end
  requeue_slots(a.id, ids)
end
