-- createTask(t, toIsId, note, room, x): makes a queued task and queues its message for its holder, or
-- keeps it for an agent with its capability; a repeated idempotency key returns the first task. The
-- relay rendered the record, the message and the context (`_render.ts`: ARGV[x] to ARGV[x + 4]);
-- spliced in here is only what the store decides: the holder's id and name, and whether the task was
-- handed out as it was made.
local t = A.t
local rec, head, mid, tail, ctx = ARGV[A.x], ARGV[A.x + 1], ARGV[A.x + 2], ARGV[A.x + 3], ARGV[A.x + 4]
if has(t.key) then
  local first = redis.call("HGET", key("idem"), t.from .. "\0" .. t.key)
  if first then return cjson.encode({ ok = true, task = out_task(get_task(first)), duplicate = true, fx = told() }) end
end
-- The holder by id when the value is shaped like one (the caller says), otherwise by name; its record
-- is read as stored, not decoded (that costs more than the rest of the lookup): only its id, its name
-- and its connections are needed. Ids and names need no escaping in JSON.
local to, stored, note
if has(t.to) then
  to = A.toIsId and t.to or redis.call("HGET", key("names"), t.to)
  stored = to and redis.call("HGET", key("agents"), to)
  if not stored then return '{"ok":false,"refused":"unknown_agent"}' end
  note = '"for ' .. stored_field(stored, '"name":"', '"') .. '"'
else
  to, note = nil, A.note
end
local to_json = to and '"' .. to .. '"' or "null"
-- Alone in its holder's queue, for a socket that takes everything: handed out as it is made, as
-- claim_next would hand it out, so its record and its slot are written once, delivered and in flight.
local conn, _, nq, nf
if to then conn, _, nq, nf = eager_conn(to, stored, 0) end
-- Its first attempt's message weighs what the queued one would ("attempt":1 for "attempt":0).
local body = head .. to_json .. mid .. (conn and "1" or "0") .. tail
local e = { to = to, p = t.priority, id = t.id, body = body, f = t.from, t = "task", b = #body, ab = "", co = false, key = "", ca = t.at }
if to then
  local slot = queue(e, A.room, stored, conn, t.leaseAt, nq, nf)
  if slot.ok == false then return cjson.encode(slot) end
else
  local room = { maxQueuedBytes = A.room.maxQueuedBytes, maxSenderBytes = A.room.maxSenderBytes }
  local refusal = room_for("", nil, t.from, e.b, nil, room, "task")
  if refusal then return cjson.encode(refusal) end
end
-- Its bytes count toward the budgets until it finishes (_tasks.lua: weigh); its record says what they were.
count(t.from, e.b)
local history = '[{"state":"queued","at":' .. t.at .. ',"note":' .. note .. "}"
if conn then
  history = history .. ',{"state":"delivered","at":' .. t.at .. ',"note":"attempt 1"}],"state":"delivered","attempts":1,"handedTo":' .. to_json
else
  history = history .. '],"state":"queued","attempts":0,"handedTo":null'
end
redis.call("HSET", key("t"), t.id, rec .. e.b .. ',"to":' .. to_json .. ',"history":' .. history .. "}\n" .. ctx)
add_task({ id = t.id, from = t.from, to = to, key = t.key, state = conn and "delivered" or "queued", cap = t.cap, leaseS = t.leaseS, at = t.at, ttlAt = t.ttlAt })
if conn then
  -- What change() tells of a hand-out: the task changed, and its sender hears it was delivered.
  table.insert(FX.t, t.id)
  queue(status_entry(t, t.from, "delivered", "attempt 1"), A.room)
end
-- The caller made the record but for its holder and first note, and whether it was handed out: only those come back.
return told_json({ '{"ok":true,"duplicate":false,"to":' .. to_json .. ',"note":' .. note .. (conn and ',"delivered":true' or "") .. ',"fx":' }, "}")
