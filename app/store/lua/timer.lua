-- Fire the earliest due timer, once: the caller names the timer it saw first (so it could pass
-- the keys the timer needs); if another is first now, the reply names it and nothing changes.
-- REQ: member (or null), limit_ms, manual. On a manual clock, the clock moves to each timer's
-- due time as it fires, and to limit_ms when none is left.
local first = redis.call('ZRANGE', K_TIMERS, 0, 0, 'WITHSCORES')
local function clock_to(ms)
  local current = tonumber(redis.call('GET', K_CLOCK) or '0')
  if ms > current then redis.call('SET', K_CLOCK, num(ms)) return ms end
  return current
end
if #first == 0 or tonumber(first[2]) > REQ.limit_ms then
  local now = WALL_MS
  if REQ.manual then now = clock_to(REQ.limit_ms) end
  return reply({idle = true, now = now, next = first[1], next_ms = first[2]})
end
local member, due = first[1], tonumber(first[2])
if member ~= REQ.member then return reply({peek = member, due_ms = due}) end

local parts = {}
for p in string.gmatch(member, '[^|]+') do parts[#parts + 1] = p end
local kind = parts[1]
local call, live, cfg, wrapping
if kind == 'offer' then
  call = load(K_CALLS, parts[2])
  if call and call.state == 'offered' and call.offer.id == parts[3] then
    cfg = agent_cfg(call.offer.agent_id) or {}
    want_for_requeue(call)
    want_agent_queues(cfg)
  else
    call = nil
  end
elseif kind == 'wrap' then
  live = agent_live(parts[2])
  cfg = agent_cfg(parts[2]) or {}
  for id, c in pairs(contacts(live)) do
    if c.stage == 'wrap_up' and c.wrap == parts[3] then wrapping = id end
  end
  if wrapping then
    want_agent_queues(cfg)
  else
    live = nil
  end
elseif kind == 'wait' then
  call = load(K_CALLS, parts[2])
  if call and call.entry == parts[3] and (call.state == 'queued' or call.state == 'offered') then
    want_queue_and_overflow(call.queue)
  else
    call = nil
  end
elseif kind == 'relax' then
  call = load(K_CALLS, parts[2])
  if call and call.entry == parts[3] and (call.relax_step or 0) + 1 == tonumber(parts[4])
      and (call.state == 'queued' or call.state == 'offered') then
    want(call.queue)
  else
    call = nil
  end
elseif kind == 'pref' then
  call = load(K_CALLS, parts[2])
  if call and call.entry == parts[3] and call.state == 'queued'
      and present(call.preferred_until_ms) then
    want(call.queue)
  else
    call = nil
  end
end
local m = missing()
if m then return m end

redis.call('ZREM', K_TIMERS, member)
local now = WALL_MS
if REQ.manual then now = clock_to(due) end
if kind == 'offer' and call then
  local agent_id = call.offer.agent_id
  local agent = agent_live(agent_id)
  local qc = queue_cfg(call.queue) or {}
  call.missed_offers = (call.missed_offers or 0) + 1
  requeue_call(call, now, 'expired')
  drop_contact(agent, call.id)
  agent.missed_in_row = (agent.missed_in_row or 0) + 1
  count(agent_id, now, 'missed', 1)
  if present(qc.max_missed_offers) and agent.missed_in_row >= qc.max_missed_offers then
    -- Away now, or once the contacts still in hand end.
    agent.missed_in_row = 0
    agent.after_call = {state = 'away', reason = 'missed-offers'}
  end
  settle_agent(agent_id, agent, cfg, now)
elseif kind == 'wrap' and live then
  end_wrap_up(parts[2], live, wrapping, now)
  settle_agent(parts[2], live, cfg, now)
elseif kind == 'relax' and call then
  -- The call's requirements widen one step; if it waits, someone may now take it.
  call.relax_step = tonumber(parts[4])
  arm_next_relax(call, queue_cfg(call.queue))
  save(K_CALLS, call.id, call)
  emit('call.relaxed', now, {call = call, step = call.relax_step})
  if call.state == 'queued' then wake_call(call) end
elseif kind == 'pref' and call then
  -- The preferred agent's exclusive time is over: any eligible agent may take the call.
  unqueue_call(call)
  call.target_agent = nil
  call.preferred_until_ms = nil
  queue_call(call, now)
  save(K_CALLS, call.id, call)
  emit('call.preference_expired', now, {call = call})
  wake_call(call)
elseif kind == 'wait' and call then
  if call.state == 'queued' then
    max_wait_reached(call, now)
  else
    call.wait_expired = true
    save(K_CALLS, call.id, call)
  end
end
local after = redis.call('ZRANGE', K_TIMERS, 0, 0, 'WITHSCORES')
return done({fired = member, due_ms = due, now = now, next = after[1], next_ms = after[2]})
