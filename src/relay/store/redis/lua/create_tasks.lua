-- createTasks(items): createTask for each item in turn, as each would run alone (`create_task()` is
-- create_task.lua, made a function when the scripts are built), with its own reply; what they all
-- changed is told in one PUBLISH.
local replies = {}
BATCH = {}
for i, a in ipairs(A.items) do
  A, FX = a, { m = {}, q = {}, t = {} }
  replies[i] = create_task()
end
if #BATCH > 0 then publish(BATCH) end
return "[" .. table.concat(replies, ",") .. "]"
