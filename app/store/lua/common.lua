-- Shared prelude of every Switchboard script: keys, helpers, requirements, timers, candidates
-- and wake-ups. A script is this file, then staffing.lua and lifecycle.lua, then one verb.
--
-- KEYS: the tenant's fixed keys (see app/store/keys.py, same order), then, for every queue id
-- listed in REQ.queues, that queue's waiting-calls zset and one available-agents zset per
-- channel (CHANNELS order).
-- ARGV[1]: the request as JSON. ARGV[2]: the wall clock in ms. ARGV[3]: event stream MAXLEN.
-- ARGV[4]: 'unguarded' only when projecting the tenant itself; every other script first
-- checks the tenant is projected (after a Redis restart without persistence it is not).
--
-- A script validates first and writes after: Redis does not roll back a script that fails
-- half-way, so nothing may be written before the last check. A script that needs a queue
-- key it was not given returns {need = [...]} having written nothing; the caller retries.

local K_META, K_CALLS, K_AGENTS, K_EXT = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_QCFG, K_ACFG, K_TIMERS, K_EVENTS = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_CLOCK, K_SEQ, K_ENDED, K_TARGETED = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local K_STATS, K_QLIVE, K_CUSTOMERS, K_LOGGED = KEYS[13], KEYS[14], KEYS[15], KEYS[16]
local K_TZ, K_STAFF = KEYS[17], KEYS[18]
local FIXED = 18

if ARGV[4] ~= 'unguarded' and redis.call('EXISTS', K_META) == 0 then
  return cjson.encode({error = 'unprojected'})
end

local REQ = cjson.decode(ARGV[1])
local WALL_MS = tonumber(ARGV[2])
local EVENTS_MAXLEN = ARGV[3]
local NULL = cjson.null

-- Channels (DESIGN §3.3): an agent holds calls of a real-time channel one at a time and
-- nothing beside them; chats and e-mails share the agent up to its capacity for each.
local CHANNELS = {'voice', 'chat', 'email', 'video', 'callback'}
local EXCLUSIVE = {voice = true, video = true, callback = true}

-- QW[q]: the queue's waiting calls by rank; QE[q]: the same by entry time; QA[q][channel]:
-- its agents with room for that channel; QF[q]: its busy agents by when they should be free.
local QW, QE, QA, QF = {}, {}, {}, {}
if type(REQ.queues) == 'table' then
  local stride = 3 + #CHANNELS
  for i, q in ipairs(REQ.queues) do
    local base = FIXED + (i - 1) * stride
    QW[q] = KEYS[base + 1]
    QE[q] = KEYS[base + 2]
    QA[q] = {}
    for c, ch in ipairs(CHANNELS) do QA[q][ch] = KEYS[base + 2 + c] end
    QF[q] = KEYS[base + 3 + #CHANNELS]
  end
end

-- Lua prints numbers with 14 significant digits; ranks need all 17 to order exactly.
local function num(x) return string.format('%.17g', x) end

local function present(v) return v ~= nil and v ~= NULL end

local function reply(t) return cjson.encode(t) end

local MISSING = {}
local function want(q)
  if present(q) and QW[q] == nil then MISSING[#MISSING + 1] = q end
end
local function missing()
  if #MISSING > 0 then return reply({need = MISSING}) end
  return nil
end

local function now_ms()
  local manual = redis.call('GET', K_CLOCK)
  if manual then return tonumber(manual) end
  return WALL_MS
end

-- Ids of calls, offers, queue entries and wrap-ups: one counter per tenant that never falls
-- below wall-ms × 1000, so ids sort in creation order (fixed width) and stay unique across a
-- Redis that lost its data or its last second of writes (AOF everysec after a crash): the
-- counter comes back behind, the clock does not.
local function next_id(prefix)
  local n = redis.call('INCR', K_SEQ)
  local floor = WALL_MS * 1000
  if n < floor then
    n = floor
    redis.call('SET', K_SEQ, n)
  end
  return prefix .. string.format('%016d', n)
end

local function load(hash, id)
  local raw = redis.call('HGET', hash, id)
  if not raw then return nil end
  return cjson.decode(raw)
end
local function save(hash, id, t) redis.call('HSET', hash, id, cjson.encode(t)) end

local function emit(type_, now, data)
  return redis.call('XADD', K_EVENTS, 'MAXLEN', '~', EVENTS_MAXLEN, '*',
    'type', type_, 'at', num(now), 'data', cjson.encode(data))
end

-- The tenant's local calendar day of an instant (days since 1970-01-01 local): K_TZ holds
-- its zone's UTC offset from each change on ("from_ms:offset_ms", scored by from_ms); none
-- for UTC. The counters of an agent's day roll over at the tenant's midnight.
local DAY_AT, DAY_IS
local function day(now)
  if now ~= DAY_AT then
    local offset = 0
    local change = redis.call('ZREVRANGEBYSCORE', K_TZ, num(now), '-inf', 'LIMIT', 0, 1)[1]
    if change then offset = tonumber(string.match(change, ':(-?%d+)$')) end
    DAY_AT, DAY_IS = now, tostring(math.floor((now + offset) / 86400000))
  end
  return DAY_IS
end
local function count(agent_id, now, field, by)
  redis.call('HINCRBYFLOAT', K_STATS, day(now) .. '|' .. agent_id .. '|' .. field, by)
end

-- Relaxation (DESIGN §3.2): step k of a queue's `relax` lowers every min_level by the sum of
-- the min_level_delta of steps 1..k (never below 1) and drops the skills they name, for the
-- queue's requirements and the call's alike.
local function relax_steps(qc)
  if qc and type(qc.relax) == 'table' then return qc.relax end
  return {}
end
local function relaxed(requirements, steps, upto)
  local out = {}
  if type(requirements) ~= 'table' then return out end
  local delta, dropped = 0, {}
  for i = 1, math.min(upto, #steps) do
    delta = delta + (steps[i].min_level_delta or 0)
    for _, skill in ipairs(steps[i].drop or {}) do dropped[skill] = true end
  end
  for _, r in ipairs(requirements) do
    if not dropped[r.skill] then
      out[#out + 1] = {skill = r.skill, min_level = math.max(1, r.min_level + delta)}
    end
  end
  return out
end
-- What a call needs of an agent now: its queue's and its own requirements at its step.
local function effective_requirements(call, qc)
  local steps, step = relax_steps(qc), call.relax_step or 0
  local out = relaxed(qc and qc.requirements, steps, step)
  for _, r in ipairs(relaxed(call.requirements, steps, step)) do out[#out + 1] = r end
  return out
end
-- Who may ever serve a queue: its requirements fully relaxed (the per-queue agent index).
local function loosest_requirements(qc)
  local steps = relax_steps(qc)
  return relaxed(qc and qc.requirements, steps, #steps)
end

-- Agent configuration (projected from SQL): skills, queues, attributes, eligible queues.
local function agent_cfg(agent_id) return load(K_ACFG, agent_id) end
-- Queue configurations, read once per script (a script that writes one updates QCFG too).
local QCFG = {}
local function queue_cfg(queue)
  if QCFG[queue] == nil then QCFG[queue] = load(K_QCFG, queue) or false end
  return QCFG[queue] or nil
end

local function eligible_queues(cfg)
  if cfg and type(cfg.eligible) == 'table' then return cfg.eligible end
  return {}
end

local function meets(cfg, requirements)
  if type(requirements) ~= 'table' then return true end
  local skills = (cfg and type(cfg.skills) == 'table') and cfg.skills or {}
  for _, r in ipairs(requirements) do
    local level = skills[r.skill]
    if not present(level) or level < r.min_level then return false end
  end
  return true
end

-- Timers: one sorted set, score = due ms, member = kind|ids... (the member names every key
-- the firing needs, so the caller can pass them before it fires).
local function arm(member, due) redis.call('ZADD', K_TIMERS, num(due), member) end
local function disarm(member) redis.call('ZREM', K_TIMERS, member) end

local function offer_timer(call)
  local o = call.offer
  return 'offer|' .. call.id .. '|' .. o.id .. '|' .. call.queue .. '|' .. o.agent_id
end
local function wait_timer(call)
  return 'wait|' .. call.id .. '|' .. call.entry .. '|' .. call.queue
end
local function preference_timer(call)
  return 'pref|' .. call.id .. '|' .. call.entry .. '|' .. call.queue
end
local function relax_timer(call, step)
  return 'relax|' .. call.id .. '|' .. call.entry .. '|' .. step .. '|' .. call.queue
end
-- Arms the call's next relaxation step, counted from when it entered its queue.
local function arm_next_relax(call, qc)
  local step = (call.relax_step or 0) + 1
  local steps = relax_steps(qc)
  if steps[step] then arm(relax_timer(call, step), call.entered_ms + steps[step].after_s * 1000) end
end

-- Capacity: the contacts (calls offered, connected or in wrap-up) an agent holds, by call id.
local LEGACY_STAGE = {reserved = 'offered', busy = 'connected', wrap_up = 'wrap_up'}
local function contacts(live)
  if type(live.contacts) ~= 'table' then
    -- A record from before contacts existed held one voice call, named by call_id (offered,
    -- connected) or by its wrap-up timer.
    live.contacts = {}
    local stage = LEGACY_STAGE[live.state]
    if stage then
      live.contacts[live.call_id or ('w' .. tostring(live.wrap_token))] = {channel = 'voice',
        stage = stage, offer_id = live.offer_id, wrap = live.wrap_token}
    end
  end
  return live.contacts
end
local function capacity(cfg)
  if cfg and type(cfg.capacity) == 'table' then return cfg.capacity end
  return {voice = 1}
end
-- Room for one more contact of a channel: some capacity for it, nothing of a real-time channel
-- in hand, and a real-time contact only with nothing in hand; no state pending after the call.
local function room_for(live, cfg, channel)
  if present(live.after_call) then return false end
  local cap = capacity(cfg)[channel] or 0
  if cap < 1 then return false end
  local held, same = 0, 0
  for _, c in pairs(contacts(live)) do
    if EXCLUSIVE[c.channel] then return false end
    held = held + 1
    if c.channel == channel then same = same + 1 end
  end
  if EXCLUSIVE[channel] then return held == 0 end
  return same < cap
end
local function rooms(live, cfg)
  local out = {}
  for _, ch in ipairs(CHANNELS) do
    if room_for(live, cfg, ch) then out[#out + 1] = ch end
  end
  return out
end
-- Candidates: the few best of the other side, read in the same atomic step as the change.
local LIMIT = tonumber(REQ.limit or 16)

-- Today's counters of an agent (the tenant's local day), for the strategies that balance load.
local DAY_COUNTERS = {'handled', 'talk_ms', 'wrap_ms', 'avail_ms'}
local function today_counters(agent_id)
  local prefix = day(now_ms()) .. '|' .. agent_id .. '|'
  local values = redis.call('HMGET', K_STATS, prefix .. 'handled', prefix .. 'talk_ms',
    prefix .. 'wrap_ms', prefix .. 'avail_ms')
  local out = {}
  for i, name in ipairs(DAY_COUNTERS) do out[name] = tonumber(values[i] or '0') end
  return out
end

-- The index of a queue's agents with room for a channel is kept in the order of the queue's
-- strategy (DESIGN §4), so that its first page holds the strategy's pick:
--   score  = the strategy's key: today's calls, talk time or occupancy, minus the agent's
--            levels on the queue's required skills (`skills`), else 0;
--   member = '<contacts in hand>|<idle_since_ms>|<id>' in fixed width, so equal scores order
--            by fewest contacts, longest idle, then id (Redis orders equal scores by member);
--   round-robin: member = id, score 0, read on from the queue's cursor.
local function index_key(strategy, agent_id, cfg, qc)
  local c
  if strategy == 'fewest-calls' then
    return today_counters(agent_id).handled
  elseif strategy == 'least-talk-time' then
    return today_counters(agent_id).talk_ms
  elseif strategy == 'least-occupied' then
    c = today_counters(agent_id)
    local worked = c.talk_ms + c.wrap_ms
    if worked + c.avail_ms > 0 then return worked / (worked + c.avail_ms) end
    return 0
  elseif strategy == 'skills' then
    local sum, seen, skills = 0, {}, (cfg and cfg.skills) or {}
    for _, r in ipairs((qc and qc.requirements) or {}) do
      if not seen[r.skill] then
        seen[r.skill] = true
        sum = sum + (tonumber(skills[r.skill]) or 0)
      end
    end
    return -sum
  end
  return 0
end
-- Counter-ordered indexes are scored anew on the first use of each tenant-day.
local BY_DAY = {['fewest-calls'] = true, ['least-talk-time'] = true, ['least-occupied'] = true}

local function held(live)
  local n = 0
  for _ in pairs(contacts(live)) do n = n + 1 end
  return n
end
local function index_member(strategy, agent_id, live)
  if strategy == 'round-robin' then return agent_id end
  return string.format('%03d|%016d|', held(live), live.idle_since_ms or 0) .. agent_id
end
local function member_agent(member) return string.match(member, '[^|]*$') end

local function queue_strategy(qc) return (qc and qc.strategy) or 'longest-idle' end

local function fresh_day(queue, qc)
  local strategy = queue_strategy(qc)
  if not BY_DAY[strategy] or QA[queue] == nil then return end
  local today = day(now_ms())
  if redis.call('HGET', K_QLIVE, queue .. '|day') == today then return end
  redis.call('HSET', K_QLIVE, queue .. '|day', today)
  for _, key in pairs(QA[queue]) do
    local members = redis.call('ZRANGE', key, 0, -1)
    for _, m in ipairs(members) do
      local agent_id = member_agent(m)
      redis.call('ZADD', key, num(index_key(strategy, agent_id, nil, qc)), m)
    end
  end
end

-- A candidate as a strategy sees it, with today's counters.
local function snapshot(agent_id, cfg, idle_since_ms, in_hand, rooms_)
  local snap = {id = agent_id, idle_since_ms = idle_since_ms, contacts = in_hand, rooms = rooms_,
    skills = cfg.skills or {}, attributes = cfg.attributes or {}}
  for name, v in pairs(today_counters(agent_id)) do snap[name] = v end
  return snap
end
local function agent_snapshot(agent_id, live, cfg)
  cfg = cfg or agent_cfg(agent_id) or {}
  live = live or load(K_AGENTS, agent_id) or {}
  return snapshot(agent_id, cfg, live.idle_since_ms or 0, held(live), rooms(live, cfg))
end
-- The same from an index member, which already says contacts and idle_since; its rooms are
-- the index's channel (all a decision for a call of that channel needs).
local function indexed_snapshot(member, channel)
  local in_hand, idle, agent_id = string.match(member, '^(%d+)|(%d+)|(.*)$')
  if not agent_id then return agent_snapshot(member) end  -- round-robin: the bare id
  return snapshot(agent_id, agent_cfg(agent_id) or {}, tonumber(idle), tonumber(in_hand),
    {channel})
end

-- Round-robin's page: ids after the cursor, then from the smallest id (wrapping).
local function rotation(key, cursor, offset)
  if not cursor then return redis.call('ZRANGEBYLEX', key, '-', '+', 'LIMIT', offset, LIMIT) end
  local after = redis.call('ZRANGEBYLEX', key, '(' .. cursor, '+', 'LIMIT', offset, LIMIT)
  if #after == LIMIT then return after end
  local skip = math.max(0, offset - redis.call('ZLEXCOUNT', key, '(' .. cursor, '+'))
  local wrapped = redis.call('ZRANGEBYLEX', key, '-', '[' .. cursor, 'LIMIT', skip,
    LIMIT - #after)
  for _, m in ipairs(wrapped) do after[#after + 1] = m end
  return after
end

local function agents_for(queue, channel, offset)
  local out = {}
  local key = QA[queue] and QA[queue][channel or 'voice']
  if key == nil then return out end
  local qc = queue_cfg(queue)
  fresh_day(queue, qc)
  local members
  if queue_strategy(qc) == 'round-robin' then
    members = rotation(key, redis.call('HGET', K_QLIVE, queue .. '|rr') or nil, offset or 0)
  else
    members = redis.call('ZRANGE', key, offset or 0, (offset or 0) + LIMIT - 1)
  end
  for _, m in ipairs(members) do out[#out + 1] = indexed_snapshot(m, channel or 'voice') end
  return out
end

-- A waiting call as a strategy sees it: the call, its queue's requirements and the queue's
-- round-robin cursor (given with the decision, never stored with the call).
-- Queue facts read once per script for all the calls of a queue (no script changes them after
-- it has started building views).
local VIEWED = {}
local function routing_view(call)
  local q = VIEWED[call.queue]
  if not q then
    q = {cfg = queue_cfg(call.queue) or {},
         cursor = redis.call('HGET', K_QLIVE, call.queue .. '|rr') or nil}
    VIEWED[call.queue] = q
  end
  local view = {}
  for k, v in pairs(call) do view[k] = v end
  view.strategy = q.cfg.strategy or 'longest-idle'
  view.queue_requirements = q.cfg.requirements
  view.effective_requirements = effective_requirements(call, q.cfg)
  view.cursor = q.cursor
  return cjson.encode(view), view.strategy
end

local function calls_for(queue, offset)
  local out = {}
  local key = QW[queue]
  if key == nil then return out end
  local ids = redis.call('ZRANGE', key, offset or 0, (offset or 0) + LIMIT - 1)
  for _, id in ipairs(ids) do
    local call = load(K_CALLS, id)
    if call then out[#out + 1] = routing_view(call) end
  end
  return out
end

-- Calls an agent may take: the head of each of its queues, plus calls transferred to it.
local function calls_for_agent(agent_id, cfg)
  local out = {}
  for _, q in ipairs(eligible_queues(cfg)) do
    for _, raw in ipairs(calls_for(q, 0)) do out[#out + 1] = raw end
  end
  local targeted = redis.call('ZRANGEBYLEX', K_TARGETED, '[' .. agent_id .. '|',
    '[' .. agent_id .. '|\255', 'LIMIT', 0, LIMIT)
  for _, m in ipairs(targeted) do
    local call = load(K_CALLS, string.sub(m, #agent_id + 2))
    if call then out[#out + 1] = routing_view(call) end
  end
  return out
end

-- Wake-ups tell the caller who became routable and with whom.
local WAKE = {}
local function strategy_of(queue)
  local qc = queue_cfg(queue)
  return qc and qc.strategy or 'longest-idle'
end
local function candidates_for_call(call, offset)
  if present(call.target_agent) then
    local live = load(K_AGENTS, call.target_agent)
    if (offset or 0) == 0 and live and live.state == 'available'
        and room_for(live, agent_cfg(call.target_agent), call.channel or 'voice') then
      return {agent_snapshot(call.target_agent)}
    end
    return {}
  end
  return agents_for(call.queue, call.channel, offset)
end
local function push_call_wake(call, agents)
  local raw, strategy = routing_view(call)
  WAKE[#WAKE + 1] = {call = raw, strategy = strategy, agents = agents}
end
local function wake_call(call) push_call_wake(call, candidates_for_call(call, 0)) end
local function wake_agent(agent_id, cfg, live)
  local strategies = {}
  for _, q in ipairs(eligible_queues(cfg)) do strategies[q] = strategy_of(q) end
  WAKE[#WAKE + 1] = {agent = agent_snapshot(agent_id, live, cfg), strategies = strategies,
    calls = calls_for_agent(agent_id, cfg)}
end
