-- claimName(agent, now, rules): registers an agent under its name, or again under its id.
local ag, now, rules = A.agent, A.now, A.rules
local known = get_agent(ag.id)
if known and known.secretHash ~= ag.secretHash then return cjson.encode({ ok = false, refused = "wrong_secret" }) end
if not known and not rules.allowNew then return cjson.encode({ ok = false, refused = "unknown_id" }) end
local hid = redis.call("HGET", key("names"), ag.name)
local holder
if hid and hid ~= ag.id then holder = get_agent(hid) end
-- A name claim from before this relay started outranks a holder with none, or an older one.
local reclaim = has(rules.reclaim) and rules.reclaim or nil
local reclaimed = false
if holder and reclaim then reclaimed = (has(holder.claimSince) and holder.claimSince or -math.huge) < reclaim.since end
if holder and not reclaimed then
  local stale = #holder.conns == 0 and holder.lastSeen < rules.staleBefore
  if not stale or not rules.takeOver then return cjson.encode({ ok = false, refused = "name_taken", holder = holder, stale = stale }) end
end
local n = redis.call("HLEN", key("agents"))
if holder then n = n - 1 end
if not known and n >= rules.maxAgents then return cjson.encode({ ok = false, refused = "too_many_agents", count = n }) end
if holder then drop(holder.id, now, reclaimed and reclaim.note or rules.note, rules.room) end
-- A taken-over name keeps the standing its stale holder had; a renamed agent starts without one.
local claimSince
if reclaim then
  claimSince = reclaim.since
elseif holder then
  claimSince = holder.claimSince
elseif known and known.name == ag.name then
  claimSince = known.claimSince
end
local record = {
  id = ag.id, name = ag.name, caps = ag.caps, description = ag.description, machine = ag.machine, secretHash = ag.secretHash,
  registeredAt = known and known.registeredAt or now, lastSeen = now, conns = known and known.conns or {},
  claimSince = has(claimSince) and claimSince or NULL,
}
if known and known.name ~= ag.name and redis.call("HGET", key("names"), known.name) == known.id then redis.call("HDEL", key("names"), known.name) end
put_agent(record)
redis.call("HSET", key("names"), ag.name, ag.id)
return cjson.encode({ ok = true, agent = record, created = not known, replaced = holder or NULL, reclaimed = reclaimed, fx = told() })
