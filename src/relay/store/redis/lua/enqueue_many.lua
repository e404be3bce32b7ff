-- enqueueMany(entries, room): queues each message in order within its bounds; one that does not fit is refused alone.
local results = {}
for i, e in ipairs(A.entries) do
  local s = queue(e, A.room)
  if not s then results[i] = { ok = false, refused = "unknown_agent" }
  elseif s.ok == false then results[i] = s
  else results[i] = { ok = true } end
end
return told_json({ '{"results":' .. cjson.encode(results) .. ',"fx":' }, "}")
