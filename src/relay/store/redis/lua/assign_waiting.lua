-- assignWaiting(agent): gives the tasks waiting for one of the agent's capabilities to it.
local a = get_agent(A.agent)
local out = {}
if a then
  for _, id in ipairs(redis.call("ZRANGE", key("unassigned"), 0, -1)) do
    local t = get_task(id)
    if t and t.state == "queued" and has(t.cap) and contains(a.caps, t.cap) then
      t.to = A.agent
      put_task(t)
      book(t.state, NULL, t)
      queue(task_entry(t), nil)
      table.insert(FX.t, id)
      table.insert(out, out_task(t))
    end
  end
end
return cjson.encode({ tasks = out, fx = told() })
