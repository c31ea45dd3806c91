-- The transitions every verb shares: agents (states, the per-queue index of available ones)
-- and calls (entering and leaving queues, requeue, overflow, connect, the agent's part
-- ending). Follows common.lua and staffing.lua in every script; see app/store/scripts.py.

-- Agents --------------------------------------------------------------------------------------

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
  if state ~= before then tally_states(agent_id, state, cfg) end
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
  tally_states(agent_id, nil, cfg)
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
