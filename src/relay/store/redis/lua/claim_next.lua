-- claimNext(agent, conn, now, max, want, ackMs, room): takes queued messages, highest priority first,
-- and puts them in flight; a task taken is delivered (its attempt counts up), one finished is dropped.
local to = A.agent
-- The agent's record as stored: only whether it is there and its connections are needed (decoding it costs more).
local a = redis.call("HGET", key("agents"), to)
local out = {}
local conn = has(A.conn) and A.conn or ""
-- A connection that is gone takes nothing: what it took would sit in flight until its lease ran out.
if not a or (conn ~= "" and not string.find(stored_field(a, '"conns":[', "]") or "", '"' .. conn .. '"', 1, true)) then return cjson.encode({ messages = out, fx = told() }) end
local want = has(A.want) and A.want or nil
local function wanted(s)
  if not want then return true end
  if has(want.types) and not contains(want.types, s.t) then return false end
  if has(want.filePrefix) and not (s.t == "file" and starts(s.key, want.filePrefix)) then return false end
  return true
end
local deliverable = { queued = true, delivered = true, working = true }
local offset = 0
while #out < A.max do
  -- Only as many ids as it still takes (each read costs about what a short command does), more when some may be passed over.
  local batch = redis.call("ZRANGE", key("q", to), offset, offset + (want and 63 or math.min(63, A.max - #out - 1)))
  if #batch == 0 then break end
  for _, id in ipairs(batch) do
    if #out >= A.max then break end
    local s = slot_get(to, id)
    if not wanted(s) then
      offset = offset + 1
    elseif s.t == "task" then
      local t = get_task(id)
      if not t or not deliverable[t.state] then
        settle(to, id, s)
      else
        local n = t.attempts + 1
        change(t, { state = "delivered", note = "attempt " .. n, at = A.now }, A.room, { attempts = n, handedTo = to })
        BODY[s] = attempt_body(RAW[s], AT[s] + 1, n) or task_body(t, n > 1)
        fly(to, id, s, A.now + t.leaseS * 1000, conn)
        table.insert(out, BODY[s])
      end
    else
      BODY[s] = body_of(s)
      fly(to, id, s, A.now + A.ackMs, conn)
      table.insert(out, BODY[s])
    end
  end
end
-- The messages spliced in as sent: the caller parses them once, with the reply.
local parts = { '{"messages":[' }
for i, body in ipairs(out) do
  if i > 1 then parts[#parts + 1] = "," end
  parts[#parts + 1] = body
end
parts[#parts + 1] = '],"fx":'
return told_json(parts, "}")
