-- Shared by every script (prepended at load): keys under the prefix, JSON, byte budgets, what changed.
-- A count that does not change goes to Redis as a string: each Lua number in a call is formatted with %.17g.
-- ARGV[1] is the key prefix, ARGV[2] the operation's arguments as JSON, ARGV[3] the calling relay's bus
-- origin (empty: the caller tells the other relays itself).
local P = ARGV[1]
local A = cjson.decode(ARGV[2])
local BUS = ARGV[3] or ""
local NULL = cjson.null
local RELAY = "relay"
local LANE = { urgent = 0, high = 1, normal = 2, low = 3 }
local FINAL = { completed = true, failed = true, canceled = true, expired = true }
local B32 = "0123456789abcdefghjkmnpqrstvwxyz"
-- What the operation changed, returned as its Effects: messages queued, agents whose messages came back, tasks.
local FX = { m = {}, q = {}, t = {} }

-- At most three parts, joined without a table: scripts build a dozen keys or more per call.
local function key(a, b, c)
  if c ~= nil then return P .. a .. ":" .. b .. ":" .. c end
  if b ~= nil then return P .. a .. ":" .. b end
  return P .. a
end

-- JSON null and a missing field both mean "none".
local function has(x)
  return x ~= nil and x ~= NULL
end

local function contains(list, x)
  if not has(list) then return false end
  for _, v in ipairs(list) do
    if v == x then return true end
  end
  return false
end

local function starts(s, prefix)
  return string.sub(s, 1, #prefix) == prefix
end

-- The relay instance a connection id (`<instance>.<n>`) belongs to.
local function relay_of(conn)
  return string.match(conn, "^(.*)%.[^.]*$") or conn
end

-- A field of a record as stored, read without decoding it: the text between `open` (the key and what
-- starts its value) and the first `close` after it. A key can occur only as itself (a quote inside a
-- string value is escaped), so this fits a string value with no escapes (`"name":"`, `"`) or a list of
-- such strings (`"conns":[`, `]`). Plain searches: a pattern walking the record costs ten times more.
local function stored_field(raw, open, close)
  local at = string.find(raw, open, 1, true)
  if not at then return nil end
  local from = at + #open
  local to = string.find(raw, close, from, true)
  return to and string.sub(raw, from, to - 1)
end

local function getjson(hash, field)
  local j = redis.call("HGET", hash, field)
  if not j then return nil end
  return cjson.decode(j)
end

-- A fresh message id: the time part the caller made (`m_` and 9 characters), then a shared counter.
local function new_mid()
  local n = redis.call("INCR", key("nid")) % 33554432
  local tail = ""
  for _ = 1, 5 do
    local d = n % 32
    tail = string.sub(B32, d + 1, d + 1) .. tail
    n = math.floor(n / 32)
  end
  return A.mid .. tail
end

-- Events a batch of operations (create_tasks.lua) collects instead of publishing each: one PUBLISH a channel for all.
-- Events, like replies, are kept as the pieces of their text and joined once (table.concat): a message's
-- body goes into the PUBLISH and into the reply a copy each, and each string the server allocates costs it
-- in collection about as much again as in writing.
local BATCH = nil

-- Events by channel (`bus/redis.ts`): a message waiting goes on its agent's topic, a task's change on the
-- task's, and every event once more on the feed (`all`), which only relays showing a dashboard hear. Each
-- channel's pieces keep their first slot for the head `publish` puts there.
local function new_events()
  return { order = {}, by = {}, all = { "" } }
end

local function add_pieces(list, a, b, c)
  if #list > 1 then list[#list + 1] = "," end
  list[#list + 1] = a
  if b then
    list[#list + 1] = b
    list[#list + 1] = c
  end
end

-- One event, as one piece or three (the message's body in the middle), on its topic's channel and the feed.
local function put_event(es, topic, a, b, c)
  local list = es.by[topic]
  if not list then
    list = { "" }
    es.by[topic] = list
    es.order[#es.order + 1] = topic
  end
  add_pieces(list, a, b, c)
  add_pieces(es.all, a, b, c)
end

local function publish(es)
  if #es.order == 0 then return end
  local head = '{"o":' .. cjson.encode(BUS) .. ',"es":['
  for _, topic in ipairs(es.order) do
    local list = es.by[topic]
    list[1] = head
    list[#list + 1] = "]}"
    redis.call("PUBLISH", key("bus", topic), table.concat(list))
  end
  es.all[1] = head
  es.all[#es.all + 1] = "]}"
  redis.call("PUBLISH", key("bus", "all"), table.concat(es.all))
end

-- Tells the other relays what changed in the same step, as the caller's bus would (one PUBLISH a
-- channel, `bus/redis.ts`), so telling them costs no round trip of its own; the Effects say they were
-- sent, and the caller's bus only tells its own process.
local function told()
  if BUS == "" or (#FX.m == 0 and #FX.q == 0 and #FX.t == 0) then return FX end
  local es = BATCH or new_events()
  for _, m in ipairs(FX.m) do
    local conn = m[4] and ',"conn":' .. cjson.encode(m[4]) or ""
    put_event(es, "a:" .. m[1], '{"type":"queued","agent":' .. cjson.encode(m[1]) .. ',"priority":' .. cjson.encode(m[2]) .. conn .. ',"message":', m[3], "}")
  end
  for _, agent in ipairs(FX.q) do put_event(es, "a:" .. agent, '{"type":"queued","agent":' .. cjson.encode(agent) .. "}") end
  for _, id in ipairs(FX.t) do put_event(es, "t:" .. id, '{"type":"task","id":' .. cjson.encode(id) .. "}") end
  if not BATCH then publish(es) end
  FX.sent = true
  return FX
end

-- The reply: `parts` (the pieces of its text before its Effects), then the Effects as JSON, told first,
-- each queued message's body spliced in as sent (the caller parses it once, with the reply, instead of
-- a string in the reply and then the string), then `tail`; joined once.
local function told_json(parts, tail)
  told()
  parts[#parts + 1] = '{"m":['
  for i, m in ipairs(FX.m) do
    parts[#parts + 1] = (i > 1 and ",[" or "[") .. cjson.encode(m[1]) .. "," .. cjson.encode(m[2]) .. ","
    parts[#parts + 1] = m[3]
    parts[#parts + 1] = (m[4] and "," .. cjson.encode(m[4]) or "") .. "]"
  end
  local q = #FX.q > 0 and cjson.encode(FX.q) or "[]"
  local t = #FX.t > 0 and cjson.encode(FX.t) or "[]"
  parts[#parts + 1] = '],"q":' .. q .. ',"t":' .. t .. (FX.sent and ',"sent":true' or "") .. "}" .. tail
  return table.concat(parts)
end

local function fx_queued(agent)
  if FX.q[#FX.q] ~= agent then table.insert(FX.q, agent) end
end

-- Bytes waiting count toward the relay-wide total and their sender's (the relay's own notices have no
-- sender's budget: room_for never reads theirs).
local function count(from, bytes)
  redis.call("INCRBY", key("bytes"), bytes)
  if from == RELAY then return end
  local left = redis.call("HINCRBY", key("sbytes"), from, bytes)
  if left <= 0 then redis.call("HDEL", key("sbytes"), from) end
end

-- The share of a byte budget kept for what answers a sender (rules.ts, REPLY_RESERVE): new tasks and
-- broadcasts stop short of it.
local REPLY_RESERVE = 1 / 8
local REPLIES = { response = true, progress = true, status = true }
local function share_of(typ, from, limit)
  if REPLIES[typ] or from == RELAY then return limit end
  return math.floor(limit * (1 - REPLY_RESERVE))
end

local function get_agent(id)
  return getjson(key("agents"), id)
end

-- `seen` indexes the agents with no connection by when they were last seen, for the forgetting sweep.
local function put_agent(a)
  redis.call("HSET", key("agents"), a.id, cjson.encode(a))
  if #a.conns == 0 then
    redis.call("ZADD", key("seen"), a.lastSeen, a.id)
  else
    redis.call("ZREM", key("seen"), a.id)
  end
end

-- Each task's context as sent, by id: kept in `t` after its record and a newline, so Lua never rewrites it.
local CTX = {}

-- A task record as kept (`_tasks.lua`: put_task); its context goes to `CTX`.
local function get_task(id)
  local v = redis.call("HGET", key("t"), id)
  if not v then return nil end
  local at = string.find(v, "\n", 1, true)
  CTX[id] = string.sub(v, at + 1)
  return cjson.decode(string.sub(v, 1, at - 1))
end
