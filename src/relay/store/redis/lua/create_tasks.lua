-- createTasks(items): createTask for each item in turn, as each would run alone (`create_task()` is
-- create_task.lua, made a function when the scripts are built), with its own reply; what they all
-- changed is told in one PUBLISH a channel.
local replies = { "[" }
BATCH = new_events()
for i, a in ipairs(A.items) do
  A, FX = a, { m = {}, q = {}, t = {} }
  if i > 1 then replies[#replies + 1] = "," end
  replies[#replies + 1] = create_task()
end
publish(BATCH)
replies[#replies + 1] = "]"
return table.concat(replies)
