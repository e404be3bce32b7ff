-- createTask(task, ctx, toIsId, room): makes a queued task and queues its message for its holder, or
-- keeps it for an agent with its capability; a repeated idempotency key returns the first task.
local t = A.task
if has(t.idempotencyKey) then
  local first = redis.call("HGET", key("idem"), t.from .. "\0" .. t.idempotencyKey)
  if first then return cjson.encode({ ok = true, task = out_task(get_task(first)), duplicate = true, fx = told() }) end
end
local to
if has(t.to) then
  to = resolve(t.to, A.toIsId)
  if not to then return cjson.encode({ ok = false, refused = "unknown_agent" }) end
end
t.to = to and to.id or NULL
t.state, t.attempts, t.handedTo, t.updatedAt = "queued", 0, NULL, t.createdAt
t.history = { { state = "queued", at = t.createdAt, note = to and ("for " .. to.name) or ("waiting for an agent with " .. (has(t.cap) and t.cap or "")) } }
t.note, t.result, t.responseId = NULL, NULL, NULL
CTX[t.id] = A.ctx
local e = task_entry(t)
local queued, slot
if to then
  slot = queue(e, A.room, to)
  if slot.ok == false then return cjson.encode(slot) end
  queued = #FX.m
else
  local room = { maxQueuedBytes = A.room.maxQueuedBytes, maxSenderBytes = A.room.maxSenderBytes }
  local refusal = room_for("", nil, t.from, e.b, nil, room, "task")
  if refusal then return cjson.encode(refusal) end
end
weigh(t, e.b)
add_task(t)
-- Queued alone for a socket that takes everything: handed out at once, as claim_next would.
local conn = to and eager_conn(to.id, to, 1)
if conn then
  change(t, { state = "delivered", note = "attempt 1", at = A.flyAt }, A.room, { attempts = 1, handedTo = to.id })
  local body = task_body(t, false)
  BODY[slot] = body
  fly(to.id, t.id, slot, A.flyAt + t.leaseS * 1000, conn)
  FX.m[queued] = { to.id, t.priority, body, conn }
end
-- The caller made the record but for its holder and first note, and whether it was handed out: only those come back.
return '{"ok":true,"duplicate":false,"to":' .. cjson.encode(t.to) .. ',"note":' .. cjson.encode(t.history[1].note) .. (conn and ',"delivered":true' or "") .. ',"fx":' .. told_json() .. "}"
