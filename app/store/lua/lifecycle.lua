-- The transitions every verb shares: agents (states, the per-queue index of available ones)
-- and calls (entering and leaving queues, requeue, overflow, connect, the agent's part
-- ending). Follows common.lua in every script; see app/store/scripts.py.

-- Agents --------------------------------------------------------------------------------------

-- Staffing tallies: what a waiting call's estimate needs of its queue's agents, kept as the
-- agents change, so that the estimate reads counts instead of every logged-in agent (its cost
-- stays flat in the number of agents, DESIGN §6). K_STAFF holds, for each queue q once
-- 'built|q' is set (the first estimate of q builds it):
--   q|l         its members logged in;
--   q|e:<ch>    of those, the eligible ones (the queue's index holds them) with capacity for ch;
--   q|a:<ch>    of those, available with room for ch now;
--   q|w:<ch>    of those, at work: room now, or busy and neither away nor leaving after it;
--   x|q|<id>    one agent's share of these, as tokens, so a change applies the difference.
-- QF[q] holds the ones at work without room, by when they are expected to have room again
-- (member '<ch>|<wrap-up ms>|<id>', score: (channel index - 1) × 10^15 + that ms).
-- By state, for the supervisor's view: 'q|s:<state>' its members logged in in each state, and
-- '*|s:<state>' the tenant's (built with 'built|*'); the agent's state share is 'y|q|<id>'.
local CH_INDEX = {}
for i, ch in ipairs(CHANNELS) do CH_INDEX[ch] = i end
local CH_SPAN = 1e15

local function member_of(cfg, queue)
  for _, q in ipairs(cfg.member_of or {}) do if q == queue then return true end end
  return false
end

-- When an agent is expected to have room again: its soonest contact's expected end, and the
-- wrap-up still due after that contact's conversation. Set when the contact is offered (one
-- handle time of its queue later, the queue's wrap-up after talk) and when its wrap-up starts
-- (its end, nothing after); a contact without them ends now.
local function free_at(live, now)
  local at, wrap
  for _, c in pairs(contacts(live)) do
    local e, w = c.expect_ms or now, c.expect_wrap_ms or 0
    if not at or e < at or (e == at and w < wrap) then at, wrap = e, w end
  end
  return at or now, wrap or 0
end
-- How soon (ms) that is from now: a conversation running past its expected end still has
-- its wrap-up to do.
local function frees_in(at, wrap, now) return math.max(at - now, wrap, 0) end

local function share_of(live, cfg, q, now)
  if not live or live.state == 'offline' then return '' end
  local out, cap, at = {'l'}, capacity(cfg), nil
  for _, e in ipairs(eligible_queues(cfg)) do
    if e == q then
      for _, ch in ipairs(CHANNELS) do
        if (cap[ch] or 0) > 0 then
          out[#out + 1] = 'e:' .. ch
          if live.state == 'available' and room_for(live, cfg, ch) then
            out[#out + 1] = 'a:' .. ch
            out[#out + 1] = 'w:' .. ch
          elseif live.state ~= 'away' and not present(live.after_call) then
            if not at then
              local e, w = free_at(live, now)
              at = string.format('%d:%d', e, w)
            end
            out[#out + 1] = 'w:' .. ch
            out[#out + 1] = 'f:' .. ch .. '=' .. at
          end
        end
      end
      break
    end
  end
  return table.concat(out, ' ')
end

local function share_tokens(share)
  local out = {}
  for t in string.gmatch(share, '%S+') do
    local ch, at = string.match(t, '^f:(%a+)=(.+)$')
    if ch then out[ch] = at else out[t] = true end
  end
  return out
end
-- The QF entry of an agent's 'f' token: member and score.
local function freeing_entry(ch, at, agent_id)
  local e, w = string.match(at, '^(%-?%d+):(%d+)$')
  return ch .. '|' .. w .. '|' .. agent_id, num((CH_INDEX[ch] - 1) * CH_SPAN + tonumber(e))
end

-- The agent's share of queue q's tallies becomes what its records say now (none: live nil).
local function tally(agent_id, live, cfg, q, now)
  local v = redis.call('HMGET', K_STAFF, 'built|' .. q, 'x|' .. q .. '|' .. agent_id)
  if not v[1] then return end
  local old, new = v[2] or '', share_of(live, cfg, q, now)
  if old == new then return end
  local was, is = share_tokens(old), share_tokens(new)
  for t, at in pairs(was) do
    if at == true then
      if is[t] == nil then redis.call('HINCRBY', K_STAFF, q .. '|' .. t, -1) end
    elseif is[t] ~= at then
      redis.call('ZREM', QF[q], (freeing_entry(t, at, agent_id)))
    end
  end
  for t, at in pairs(is) do
    if at == true then
      if was[t] == nil then redis.call('HINCRBY', K_STAFF, q .. '|' .. t, 1) end
    elseif was[t] ~= at then
      local member, score = freeing_entry(t, at, agent_id)
      redis.call('ZADD', QF[q], score, member)
    end
  end
  if new == '' then
    redis.call('HDEL', K_STAFF, 'x|' .. q .. '|' .. agent_id)
  else
    redis.call('HSET', K_STAFF, 'x|' .. q .. '|' .. agent_id, new)
  end
end
-- The agent's state share of `scope` (a queue, or '*' for the tenant) becomes `state`.
local STATES = {'available', 'reserved', 'busy', 'wrap_up', 'away'}
local function tally_state(agent_id, state, scope)
  local field = 'y|' .. scope .. '|' .. agent_id
  local v = redis.call('HMGET', K_STAFF, 'built|' .. scope, field)
  if not v[1] then return end
  local old, new = v[2] or '', (state and state ~= 'offline') and state or ''
  if old == new then return end
  if old ~= '' then redis.call('HINCRBY', K_STAFF, scope .. '|s:' .. old, -1) end
  if new == '' then
    redis.call('HDEL', K_STAFF, field)
  else
    redis.call('HINCRBY', K_STAFF, scope .. '|s:' .. new, 1)
    redis.call('HSET', K_STAFF, field, new)
  end
end
local function tally_states(agent_id, state, cfg)
  tally_state(agent_id, state, '*')
  for _, q in ipairs((cfg or {}).member_of or {}) do tally_state(agent_id, state, q) end
end
local function tally_agent(agent_id, live, cfg)
  local now = now_ms()
  for _, q in ipairs((cfg or {}).member_of or {}) do tally(agent_id, live, cfg, q, now) end
  tally_states(agent_id, live and live.state, cfg)
end

-- Forget the tallies of queue q (or of the tenant, '*'): its next read builds them again.
local function drop_tallies(q)
  local fields = {'built|' .. q, q .. '|l'}
  for _, ch in ipairs(CHANNELS) do
    for _, kind in ipairs({'e:', 'a:', 'w:'}) do fields[#fields + 1] = q .. '|' .. kind .. ch end
  end
  for _, state in ipairs(STATES) do fields[#fields + 1] = q .. '|s:' .. state end
  for _, agent_id in ipairs(redis.call('HKEYS', K_ACFG)) do
    fields[#fields + 1] = 'x|' .. q .. '|' .. agent_id
    fields[#fields + 1] = 'y|' .. q .. '|' .. agent_id
  end
  for i = 1, #fields, 1000 do  -- (unpack has a limit)
    redis.call('HDEL', K_STAFF, unpack(fields, i, math.min(i + 999, #fields)))
  end
  if q ~= '*' then redis.call('DEL', QF[q]) end
end
-- Count the agents of queue q (or of the tenant, '*') afresh: once (O(agents)), then kept as
-- they change.
local function build_tallies(q, now)
  drop_tallies(q)
  redis.call('HSET', K_STAFF, 'built|' .. q, 1)
  local cfgs = redis.call('HGETALL', K_ACFG)
  for i = 1, #cfgs, 2 do
    local cfg = cjson.decode(cfgs[i + 1])
    if q == '*' or member_of(cfg, q) then
      local live = load(K_AGENTS, cfgs[i])
      if q ~= '*' then tally(cfgs[i], live, cfg, q, now) end
      tally_state(cfgs[i], live and live.state, q)
    end
  end
end
-- A scope's counts by state (the states with anyone in them), built on first use.
local function tallied_states(scope, now)
  if not redis.call('HGET', K_STAFF, 'built|' .. scope) then build_tallies(scope, now) end
  local fields = {}
  for i, state in ipairs(STATES) do fields[i] = scope .. '|s:' .. state end
  local v, out = redis.call('HMGET', K_STAFF, unpack(fields)), {}
  for i, state in ipairs(STATES) do
    local n = tonumber(v[i] or '0')
    if n > 0 then out[state] = n end
  end
  return out
end


local function agent_live(agent_id)
  return load(K_AGENTS, agent_id) or {state = 'offline', missed_in_row = 0}
end

-- Time spent available and in wrap-up is counted per day (the day the state ends), for
-- occupancy; talk time is counted when a call's conversation ends.
local TIMED_STATES = {available = 'avail_ms', wrap_up = 'wrap_ms'}
local function set_agent_state(agent_id, live, state, now, reason, unsaved, cfg)
  local before, before_since, before_reason = live.state, live.state_since_ms, live.reason
  local counter = TIMED_STATES[before]
  if counter and present(live.state_since_ms) and state ~= before then
    count(agent_id, now, counter, now - live.state_since_ms)
  end
  live.state = state
  live.state_since_ms = now
  if state == 'offline' then
    redis.call('SREM', K_LOGGED, agent_id)
  else
    redis.call('SADD', K_LOGGED, agent_id)
  end
  if present(reason) then live.reason = reason else live.reason = nil end
  if state == 'available' then live.idle_since_ms = now end
  if state ~= before then tally_states(agent_id, state, cfg or agent_cfg(agent_id)) end
  if not unsaved then save(K_AGENTS, agent_id, live) end
  -- The event closes the previous state's interval on its own (history needs no order).
  emit('agent.state_changed', now, {agent_id = agent_id, state = state, previous = before,
    reason = live.reason, idle_since_ms = live.idle_since_ms,
    previous_since_ms = before_since, previous_reason = before_reason})
end

-- The per-queue, per-channel indexes of agents with room (common.lua): kept in step with every
-- change of an agent's state, contacts or configuration. live.ix remembers the member each
-- queue's index holds for the agent (it depends on the queue's strategy).
local function index_in_queue(agent_id, live, cfg, q)
  local qc = queue_cfg(q)
  local strategy = queue_strategy(qc)
  fresh_day(q, qc)
  if type(live.ix) ~= 'table' then live.ix = {} end
  -- (no member remembered: a record from before, whose member was the id)
  local old, member, score = live.ix[q] or agent_id, index_member(strategy, agent_id, live), nil
  live.ix[q] = nil
  local cap = capacity(cfg)
  for _, ch in ipairs(CHANNELS) do
    local key = QA[q][ch]
    -- (a channel without capacity holds nothing: a capacity change unindexes first)
    if (cap[ch] or 0) > 0 and old ~= member then redis.call('ZREM', key, old) end
    if live.state == 'available' and room_for(live, cfg, ch) then
      score = score or num(index_key(strategy, agent_id, cfg, qc))
      redis.call('ZADD', key, score, member)
      live.ix[q] = member
    elseif (cap[ch] or 0) > 0 then
      redis.call('ZREM', key, member)
    end
  end
end
local function index_agent(agent_id, live, cfg)
  for _, q in ipairs(eligible_queues(cfg)) do index_in_queue(agent_id, live, cfg, q) end
  tally_agent(agent_id, live, cfg)
  save(K_AGENTS, agent_id, live)
end
-- Out of every index and tally of the queues it was in (before a change of configuration).
local function unindex_agent(agent_id, live, cfg)
  local ix = type(live.ix) == 'table' and live.ix or {}
  for _, q in ipairs(eligible_queues(cfg)) do
    for _, ch in ipairs(CHANNELS) do
      redis.call('ZREM', QA[q][ch], ix[q] or agent_id, agent_id)
    end
    ix[q] = nil
  end
  live.ix = ix
  tally_agent(agent_id, nil, cfg)
end
-- Is the agent in the index a call of this queue and channel is routed from?
local function indexed(agent_id, live, q, channel)
  local member = type(live.ix) == 'table' and live.ix[q] or agent_id
  return redis.call('ZSCORE', QA[q][channel], member) ~= false
end

-- The agent's state follows from its contacts (DESIGN §3.3): none → available (or the state
-- asked for with after_call); room left for another contact → available; else busy while
-- talking, reserved while an offer rings, wrap_up while only after-call work is left.
-- Re-indexes the agent and, when it can take more, wakes it (unless quiet).
local function restate_agent(agent_id, live, cfg, now, unsaved)
  local talking, ringing = false, false
  for _, c in pairs(contacts(live)) do
    if c.stage == 'connected' then talking = true elseif c.stage == 'offered' then ringing = true end
  end
  local state, reason = 'available', nil
  if held(live) == 0 then
    if present(live.after_call) then
      state, reason = live.after_call.state, live.after_call.reason
      live.after_call = nil
    end
  elseif present(live.after_call) or #rooms(live, cfg) == 0 then
    if talking then state = 'busy' elseif ringing then state = 'reserved' else state = 'wrap_up' end
  end
  if state ~= live.state then
    set_agent_state(agent_id, live, state, now, reason, unsaved, cfg)
  elseif not unsaved then
    save(K_AGENTS, agent_id, live)
  end
end
local function settle_agent(agent_id, live, cfg, now, quiet)
  restate_agent(agent_id, live, cfg, now, true)
  index_agent(agent_id, live, cfg)  -- saves the record
  if live.state == 'available' and not quiet then wake_agent(agent_id, cfg, live) end
end

-- call_id / offer_id name the latest call the agent rings or talks on (not one in wrap-up).
local function point_at_latest(live)
  live.call_id, live.offer_id = nil, nil
  for id, c in pairs(contacts(live)) do
    if c.stage ~= 'wrap_up' and (live.call_id == nil or id > live.call_id) then
      live.call_id, live.offer_id = id, c.offer_id
    end
  end
end

-- A contact ends for the agent (offer rejected, expired or rescinded; wrap-up over).
local function drop_contact(live, call_id)
  contacts(live)[call_id] = nil
  point_at_latest(live)
end
-- A contact's wrap-up ends (its timer, or the agent moves on): the history needs how long.
local function end_wrap_up(agent_id, live, call_id, now)
  local c = contacts(live)[call_id]
  if c and present(c.wrap_since_ms) then
    emit('call.wrap_up_ended', now, {call_id = call_id, agent_id = agent_id,
      wrap_s = (now - c.wrap_since_ms) / 1000})
  end
  drop_contact(live, call_id)
end

local function want_agent_queues(cfg)
  for _, q in ipairs(eligible_queues(cfg)) do want(q) end
end

-- Handle times --------------------------------------------------------------------------------

-- A queue's recent handle times (talk + wrap-up) and talk times: a plain mean over its first
-- calls, then exponential averages over about the last 500 calls (the means) and 1,000 calls
-- (the variance, which only says how random handle times are). A shorter memory follows a
-- drifting handle time sooner but makes every estimate noisier.
local function learn_handle_time(queue, talk_ms, handle_ms)
  local f = {queue .. '|handled_n', queue .. '|aht_ms', queue .. '|aht_var', queue .. '|talk_ms'}
  local v = redis.call('HMGET', K_QLIVE, f[1], f[2], f[3], f[4])
  local n = (tonumber(v[1]) or 0) + 1
  local mean, var, talk = tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
  local a, b = math.max(1 / n, 0.002), math.max(1 / n, 0.001)
  local delta = handle_ms - mean
  mean = mean + a * delta
  var = (1 - b) * (var + b * delta * delta)
  talk = talk + a * (talk_ms - talk)
  redis.call('HSET', K_QLIVE, f[1], n, f[2], num(mean), f[3], num(var), f[4], num(talk))
end

local function handle_times(queue)
  local v = redis.call('HMGET', K_QLIVE, queue .. '|aht_ms', queue .. '|aht_var',
    queue .. '|talk_ms')
  return {aht = tonumber(v[1]) or 0, var = tonumber(v[2]) or 0, talk = tonumber(v[3]) or 0}
end

-- The logged-in agents (offline ones are most of a large tenant), read once per script, and
-- only for a call whose own requirements (or relaxation step) the tallies do not cover.
local LOGGED_IN
local function logged_in_agents()
  if LOGGED_IN then return LOGGED_IN end
  LOGGED_IN = {}
  for _, agent_id in ipairs(redis.call('SMEMBERS', K_LOGGED)) do
    local live, cfg = load(K_AGENTS, agent_id), agent_cfg(agent_id)
    if live and cfg and live.state ~= 'offline' then
      LOGGED_IN[#LOGGED_IN + 1] = {id = agent_id, cfg = cfg, live = live}
    end
  end
  return LOGGED_IN
end

-- Does the call need of an agent just what its queue's index (and tallies) hold: the queue's
-- requirements fully relaxed, and none of its own?
local function tallied_needs(call, qc)
  local steps = relax_steps(qc)
  return (call.relax_step or 0) >= #steps
    and #relaxed(call.requirements, steps, call.relax_step or 0) == 0
end

-- Of the busy agents, those expected to end first (by the zset's order: end, then member),
-- for the soonest to have room: a longer-running conversation may still be the soonest when
-- the others' wrap-ups are longer (the same one, in practice, when the wrap-ups are alike).
local SOONEST_AMONG = 16

-- The counts from the queue's tallies (built on first use), and the soonest a busy one frees.
local function tallied(queue, channel, now)
  if not redis.call('HGET', K_STAFF, 'built|' .. queue) then build_tallies(queue, now) end
  local ch = CH_INDEX[channel] and channel or 'voice'
  local v = redis.call('HMGET', K_STAFF, queue .. '|l', queue .. '|e:' .. ch,
    queue .. '|a:' .. ch, queue .. '|w:' .. ch)
  local s = {logged_in = tonumber(v[1] or '0'), eligible = tonumber(v[2] or '0'),
    available = tonumber(v[3] or '0'), working = tonumber(v[4] or '0')}
  local lo = (CH_INDEX[ch] - 1) * CH_SPAN
  local first = redis.call('ZRANGEBYSCORE', QF[queue], num(lo), '(' .. num(lo + CH_SPAN),
    'WITHSCORES', 'LIMIT', 0, SOONEST_AMONG)
  for i = 1, #first, 2 do
    local r = frees_in(tonumber(first[i + 1]) - lo, tonumber(string.match(first[i], '|(%d+)|')),
      now)
    if not s.soonest or r < s.soonest then s.soonest = r end
  end
  return s
end

-- The same counts read off every logged-in agent, for any requirements.
local function scanned(call, qc, channel, now)
  local s = {logged_in = 0, eligible = 0, available = 0, working = 0}
  local busy = {}
  local needed = effective_requirements(call, qc)
  for _, a in ipairs(logged_in_agents()) do
    if member_of(a.cfg, call.queue) then
      s.logged_in = s.logged_in + 1
      if (capacity(a.cfg)[channel] or 0) > 0 and meets(a.cfg, needed) then
        s.eligible = s.eligible + 1
        local state = a.live.state
        if state == 'available' and room_for(a.live, a.cfg, channel) then
          s.available = s.available + 1
          s.working = s.working + 1
        elseif state ~= 'away' and not present(a.live.after_call) then
          s.working = s.working + 1
          local at, wrap = free_at(a.live, now)
          busy[#busy + 1] = {at = at, wrap = wrap,
            member = channel .. '|' .. string.format('%d', wrap) .. '|' .. a.id}
        end
      end
    end
  end
  table.sort(busy, function(x, y)
    if x.at ~= y.at then return x.at < y.at end
    return x.member < y.member
  end)
  for i = 1, math.min(#busy, SOONEST_AMONG) do
    local r = frees_in(busy[i].at, busy[i].wrap, now)
    if not s.soonest or r < s.soonest then s.soonest = r end
  end
  return s
end

-- Who could serve a waiting call and how soon (DESIGN §3.6), and its estimated wait:
--   k = calls ahead of it and itself, less the eligible agents with room now;
--   N = eligible agents at work (not away, not leaving after their call);
--   estimate = T1 + (k - 1) * AHT / N, where T1, the time until the first of them frees,
--   is AHT / N for random (exponential) handle times and the soonest expected end of a busy
--   agent's contact for regular ones, weighted by the squared coefficient of variation of
--   the queue's handle times. For an M/M/N queue this is the known best (n + 1) * AHT / N.
-- A contact is expected to end one handle time (the mean of its queue then) after it is
-- offered, and a wrap-up when it is due. `exact` counts every logged-in agent (tests compare).
local function staffing_for(call, qc, position, now, exact)
  local channel = call.channel or 'voice'
  local s
  if tallied_needs(call, qc) and not exact then
    s = tallied(call.queue, channel, now)
  else
    s = scanned(call, qc, channel, now)
  end
  local ht = handle_times(call.queue)
  s.aht_ms = ht.aht
  if position and s.working > 0 and ht.aht > 0 then
    local k = position - s.available
    if k <= 0 then
      s.estimate_ms = 0
    else
      local per = ht.aht / s.working
      local w = math.min(math.max(ht.var / (ht.aht * ht.aht), 0), 1)
      local first = w * per + (1 - w) * (s.soonest or per)
      s.estimate_ms = first + (k - 1) * per
    end
  end
  s.soonest = nil
  return s
end

-- Calls ---------------------------------------------------------------------------------------

local function queue_call(call, now)
  call.state = 'queued'
  call.offer = nil
  redis.call('ZADD', QW[call.queue], call.rank, call.id)
  redis.call('ZADD', QE[call.queue], call.entered_ms, call.id)
  if present(call.target_agent) then
    redis.call('ZADD', K_TARGETED, 0, call.target_agent .. '|' .. call.id)
  end
end

local function unqueue_call(call)
  redis.call('ZREM', QW[call.queue], call.id)
  redis.call('ZREM', QE[call.queue], call.id)
  if present(call.target_agent) then
    redis.call('ZREM', K_TARGETED, call.target_agent .. '|' .. call.id)
  end
end

-- Legs: one per queue the call entered, for the per-queue statistics of the history. A leg
-- keeps its queue's service-level threshold as it was when the call came in.
local function open_leg(call, queue, qcfg, now)
  if type(call.legs) ~= 'table' then call.legs = {} end
  local sl = qcfg.service_level
  local threshold = type(sl) == 'table' and sl.threshold_s or 20
  call.legs[#call.legs + 1] = {queue = queue, entered_ms = now, sl_threshold_s = threshold}
end

local function current_leg(call)
  if type(call.legs) ~= 'table' then return {} end  -- a call from before legs: nothing to keep
  return call.legs[#call.legs] or {}
end

local function close_leg(call, now, outcome)
  local leg = current_leg(call)
  if leg.entered_ms and not leg.left_ms then
    leg.left_ms = now
    leg.outcome = outcome
  end
end

-- Enters a queue (arrival, overflow, transfer): fresh max-wait timer, same arrival time.
local function enter_queue(call, queue, qcfg, now)
  call.queue = queue
  if type(call.path) ~= 'table' then call.path = {} end
  call.path[#call.path + 1] = queue  -- every queue it entered, in order (history)
  open_leg(call, queue, qcfg, now)
  call.entry = next_id('e')
  call.entered_ms = now
  call.wait_expired = nil
  call.relax_step = 0
  local weight = qcfg.priority_weight_s
  local factor
  if present(weight) then factor = weight * 1000 else factor = 1e13 end
  call.rank = num(call.arrived_ms - call.priority * factor)
  redis.call('HINCRBY', K_QLIVE, queue, 1)
  if present(qcfg.max_wait_s) then arm(wait_timer(call), now + qcfg.max_wait_s * 1000) end
  arm_next_relax(call, qcfg)
  queue_call(call, now)
end

local function leave_queue(call)
  redis.call('HINCRBY', K_QLIVE, call.queue, -1)
  disarm(wait_timer(call))
  disarm(preference_timer(call))
  disarm(relax_timer(call, (call.relax_step or 0) + 1))
end

local function end_call(call, state, now)
  close_leg(call, now, state)
  call.state = state
  call.ended_ms = now
  save(K_CALLS, call.id, call)
  redis.call('ZADD', K_ENDED, num(now), call.id)
end

local function want_queue_and_overflow(queue)
  want(queue)
  local qc = queue_cfg(queue)
  if qc and present(qc.overflow_queue) then want(qc.overflow_queue) end
end

-- Max wait reached while queued: overflow (keeping arrival time and priority) or time out.
local function max_wait_reached(call, now)
  local qc = queue_cfg(call.queue) or {}
  local from = call.queue
  unqueue_call(call)
  leave_queue(call)
  call.target_agent, call.preferred_until_ms = nil, nil  -- the overflow queue serves anyone
  local target = qc.overflow_queue
  local tcfg = present(target) and queue_cfg(target) or nil
  if tcfg then
    close_leg(call, now, 'overflowed')
    call.overflows = (call.overflows or 0) + 1
    enter_queue(call, target, tcfg, now)
    save(K_CALLS, call.id, call)
    emit('call.overflowed', now, {call = call, from_queue = from, queue = target})
    wake_call(call)
  else
    end_call(call, 'timed_out', now)
    emit('call.timed_out', now, {call = call, queue = from})
  end
end

-- An offer ends without a connection: the call goes back to its place (same rank).
local function requeue_call(call, now, why)
  local offer = call.offer
  disarm(offer_timer(call))
  call.offer = nil
  call.requeues = (call.requeues or 0) + 1
  if why == 'expired' then
    local leg = current_leg(call)
    leg.missed = (leg.missed or 0) + 1
  end
  if call.wait_expired then
    call.state = 'queued'
    max_wait_reached(call, now)
    return
  end
  queue_call(call, now)
  save(K_CALLS, call.id, call)
  emit('call.requeued', now, {call = call, reason = why, offer_id = offer.id,
    agent_id = offer.agent_id})
  wake_call(call)
end

-- The offer is taken: the call is connected and the agent busy (or, with room left for more
-- chats, still available).
-- `live` and `cfg`: the agent's records when the caller holds them already.
local function connect(call, agent_id, now, live, cfg)
  live = live or agent_live(agent_id)
  cfg = cfg or agent_cfg(agent_id) or {}
  disarm(offer_timer(call))
  leave_queue(call)
  call.state = 'connected'
  call.agent_id = agent_id
  call.connected_ms = now
  if not present(call.first_connected_ms) then call.first_connected_ms = now end
  local leg = current_leg(call)
  if not leg.connected_ms then
    leg.connected_ms = now
    leg.agent_id = agent_id
  end
  call.accepted_offer_id = call.offer.id
  call.offer = nil
  live.missed_in_row = 0
  local c = contacts(live)[call.id]
  if c then
    c.stage = 'connected'
    c.connected_ms = now
    c.wrap_s = (queue_cfg(call.queue) or {}).wrap_up_s or 0
  end
  restate_agent(agent_id, live, cfg, now)  -- what it holds is the same: its rooms too
  save(K_CALLS, call.id, call)
  emit('call.connected', now, {call = call, agent_id = agent_id})
end

-- The agent's part of a connected call ends (complete or transfer): talk time is counted and
-- the agent goes to wrap-up, or straight on when the queue has no wrap-up.
local function finish_agent_part(call, now)
  local agent_id = call.agent_id
  local live = agent_live(agent_id)
  local cfg = agent_cfg(agent_id) or {}
  local qc = queue_cfg(call.queue) or {}
  local talk_ms = now - call.connected_ms
  call.talk_ms = (call.talk_ms or 0) + talk_ms
  local leg = current_leg(call)
  leg.talk_ms = (leg.talk_ms or 0) + talk_ms
  local customer = type(call.caller) == 'table' and call.caller.customer_id
  if present(customer) and customer then redis.call('HSET', K_CUSTOMERS, customer, agent_id) end
  count(agent_id, now, 'handled', 1)
  count(agent_id, now, 'talk_ms', talk_ms)
  local wrap_s = qc.wrap_up_s or 0
  learn_handle_time(call.queue, talk_ms, talk_ms + wrap_s * 1000)
  local c = contacts(live)[call.id]
  if wrap_s > 0 and c then
    c.stage = 'wrap_up'
    c.wrap = next_id('w')
    c.wrap_since_ms = now
    c.wrap_due_ms = now + wrap_s * 1000
    c.expect_ms, c.expect_wrap_ms = c.wrap_due_ms, 0
    point_at_latest(live)
    arm('wrap|' .. agent_id .. '|' .. c.wrap, now + wrap_s * 1000)
  else
    drop_contact(live, call.id)
  end
  settle_agent(agent_id, live, cfg, now)
end

local function want_for_requeue(call)
  want(call.queue)
  if call.wait_expired then want_queue_and_overflow(call.queue) end
end

local function position(call)
  if call.state ~= 'queued' then return nil end
  local r = redis.call('ZRANK', QW[call.queue], call.id)
  if r then return r + 1 end
  return nil
end

local function fail(kind, extra)
  local t = extra or {}
  t.error = kind
  return reply(t)
end

local function done(t)
  t.wake = WAKE
  return reply(t)
end
