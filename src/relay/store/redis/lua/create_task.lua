-- createTask(task, ctx, toIsId, room): makes a queued task and queues its message for its holder, or
-- keeps it for an agent with its capability; a repeated idempotency key returns the first task.
local t = A.task
if has(t.idempotencyKey) then
  local first = redis.call("HGET", key("idem"), t.from .. "\0" .. t.idempotencyKey)
  if first then return cjson.encode({ ok = true, task = out_task(get_task(first)), duplicate = true, fx = told() }) end
end
-- The holder by id when the value is shaped like one (the caller says), otherwise by name; its record
-- is read as stored, not decoded (that costs more than the rest of the lookup): only its id, its name
-- and its connections are needed.
local to, stored
if has(t.to) then
  local id = A.toIsId and t.to or redis.call("HGET", key("names"), t.to)
  stored = id and redis.call("HGET", key("agents"), id)
  if not stored then return cjson.encode({ ok = false, refused = "unknown_agent" }) end
  to = { id = id, name = stored_field(stored, '"name":"', '"') }
end
t.to = to and to.id or NULL
t.state, t.attempts, t.handedTo, t.updatedAt = "queued", 0, NULL, t.createdAt
t.history = { { state = "queued", at = t.createdAt, note = to and ("for " .. to.name) or ("waiting for an agent with " .. (has(t.cap) and t.cap or "")) } }
t.note, t.result, t.responseId = NULL, NULL, NULL
CTX[t.id] = A.ctx
-- Alone in its holder's queue, for a socket that takes everything: handed out as it is made, as
-- claim_next would hand it out, so its record and its slot are written once, delivered and in flight.
local conn, _, nq, nf
if to then conn, _, nq, nf = eager_conn(to.id, stored, 0) end
if conn then t.attempts, t.handedTo = 1, to.id end
-- Its first attempt's message weighs what the queued one would ("attempt":1 for "attempt":0).
local e = task_entry(t)
local slot
if to then
  slot = queue(e, A.room, stored, conn, conn and A.flyAt + t.leaseS * 1000, nq, nf)
  if slot.ok == false then return cjson.encode(slot) end
else
  local room = { maxQueuedBytes = A.room.maxQueuedBytes, maxSenderBytes = A.room.maxSenderBytes }
  local refusal = room_for("", nil, t.from, e.b, nil, room, "task")
  if refusal then return cjson.encode(refusal) end
end
if conn then
  t.state, t.updatedAt = "delivered", A.flyAt
  table.insert(t.history, { state = "delivered", at = A.flyAt, note = "attempt 1" })
end
weigh(t, e.b)
add_task(t)
if conn then
  -- What change() tells of a hand-out: the task changed, and its sender hears it was delivered.
  table.insert(FX.t, t.id)
  queue(status_entry(t, t.from, "delivered", "attempt 1"), A.room)
end
-- The caller made the record but for its holder and first note, and whether it was handed out: only those come back.
return '{"ok":true,"duplicate":false,"to":' .. cjson.encode(t.to) .. ',"note":' .. cjson.encode(t.history[1].note) .. (conn and ',"delivered":true' or "") .. ',"fx":' .. told_json() .. "}"
