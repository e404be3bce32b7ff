-- transitionTask(id, from, change): compare-and-set on the task's state, with the messages it carries.
local ch = A.change
local t = get_task(A.id)
if not t then return cjson.encode({ ok = false, refused = "unknown_task" }) end
if has(ch.holder) and t.to ~= ch.holder then return cjson.encode({ ok = false, refused = "not_holder", task = out_task(t) }) end
if not contains(A.from, t.state) then return cjson.encode({ ok = false, refused = "state", task = out_task(t) }) end
if ch.handedOut and received_by(t) ~= t.to then return cjson.encode({ ok = false, refused = "state", task = out_task(t) }) end
local messages = ch.messages or {}
-- A reply goes to the task's sender at its priority: its body came as the text around its `to`
-- (ARGV[4], ARGV[5]), which is the sender's id here.
if has(ch.reply) then
  local m = ch.reply
  m.to, m.p = t.from, t.priority
  m.body = ARGV[4] .. '"' .. t.from .. '"' .. ARGV[5]
  m.b = #m.body
  table.insert(messages, m)
end
-- What goes with the change must fit, or nothing changes. The recipient's record is decoded only for the name a refusal gives.
local raws = {}
for i, m in ipairs(messages) do
  local raw = redis.call("HGET", key("agents"), m.to)
  raws[i] = raw
  if raw then
    local rid, rep
    if m.co then rid, rep = unread(m.to, m.ab, m.t) end
    local refusal = room_for("", m.to, m.f, m.b, rep, ch.room, m.t)
    if refusal then
      if refusal.name then refusal.name = cjson.decode(raw).name end
      return cjson.encode({ ok = false, refused = "no_room", room = refusal })
    end
  end
end
if ch.withdraw then withdraw(t) end
for i, m in ipairs(messages) do queue(m, nil, raws[i] or nil) end
change(t, ch, ch.room)
-- The finished tasks kept now, and their weight: whether the caller must prune. The record and its
-- context are spliced in as written.
local fin = redis.call("ZCARD", key("fin")) .. "," .. (redis.call("GET", key("finbytes")) or "0")
return told_json({ '{"ok":true,"task":', RECORD[t.id], ',"ctx":', CTX[t.id], ',"fx":' }, ',"fin":[' .. fin .. "]}")
