-- Shared files: `fh` (key -> head), `fv:<key>` (versions, scored by number), `fall` (every version by
-- when it was written), `locks` (key -> lease), `ftotal` and `fpinned` (bytes kept, bytes of latest
-- versions). A version's bytes are chunks `blob:<id>:<n>`, written before the script and kept by it.
local function get_head(k)
  return getjson(key("fh"), k)
end

local function get_version(k, v)
  local found = redis.call("ZRANGEBYSCORE", key("fv", k), v, v)
  if #found == 0 then return nil end
  return cjson.decode(found[1])
end

local function latest(k)
  local head = get_head(k)
  if not head or has(head.deletedAt) then return nil end
  return get_version(k, head.version)
end

-- The lease on `k` if it still runs and its holder is still registered.
local function live_lock(k, now)
  local lock = getjson(key("locks"), k)
  if not lock or lock["until"] <= now or redis.call("HEXISTS", key("agents"), lock.holderId) == 0 then return nil end
  return lock
end

local function fall_member(k, v)
  return k .. "\0" .. string.format("%012d", v)
end

local function delete_blob(f)
  for i = 0, f.n - 1 do redis.call("DEL", key("blob", f.blob, i)) end
end

-- Drops the key's versions numbered `upTo` or lower (the latest one's bytes stop being pinned by the caller).
local function drop_versions(k, upTo)
  for _, j in ipairs(redis.call("ZRANGEBYSCORE", key("fv", k), "-inf", upTo)) do
    local f = cjson.decode(j)
    redis.call("DECRBY", key("ftotal"), f.size)
    redis.call("ZREM", key("fall"), fall_member(k, f.version))
    delete_blob(f)
  end
  redis.call("ZREMRANGEBYSCORE", key("fv", k), "-inf", upTo)
end
