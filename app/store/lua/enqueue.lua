-- A call arrives: idempotent by external_id, refused when the queue is full; returns the
-- queue's best available agents in the same step (no lost wake-up).
local now = now_ms()
local c = REQ.call
if present(c.external_id) then
  local existing = redis.call('HGET', K_EXT, c.external_id)
  if existing then
    local call = load(K_CALLS, existing)
    if call then
      want(call.queue)
      local m = missing()
      if m then return m end
      return reply({repeated = true, call = call, position = position(call), now = now})
    end
  end
end
local qc = queue_cfg(c.queue)
if not qc then return fail('unknown-queue', {queue = c.queue}) end
want(c.queue)
local m = missing()
if m then return m end
if present(qc.max_size) and redis.call('ZCARD', QW[c.queue]) >= qc.max_size then
  return fail('queue-full', {queue = c.queue, max_size = qc.max_size})
end
-- A preferred agent (named, or the one who last completed a call for this customer) holds
-- the call alone until timeout_s; one that no longer exists, or no last agent, holds nothing.
local pref = c.preferred_agent
c.preferred_agent = nil
local preferred
if type(pref) == 'table' then
  if present(pref.agent_id) then
    preferred = pref.agent_id
  elseif pref.last_agent and type(c.caller) == 'table' and present(c.caller.customer_id) then
    preferred = redis.call('HGET', K_CUSTOMERS, c.caller.customer_id) or nil
  end
  if preferred and not agent_cfg(preferred) then
    if present(pref.agent_id) then
      return fail('unknown-preferred-agent', {agent_id = pref.agent_id})
    end
    preferred = nil  -- the last agent has been deleted since
  end
end
c.id = next_id('c')
c.arrived_ms = now
if preferred then
  c.target_agent = preferred
  c.preferred_until_ms = now + pref.timeout_s * 1000
end
enter_queue(c, c.queue, qc, now)
if preferred then arm(preference_timer(c), c.preferred_until_ms) end
save(K_CALLS, c.id, c)
if present(c.external_id) then redis.call('HSET', K_EXT, c.external_id, c.id) end
-- The event says where the call stands: with enough agents free it is about to be offered;
-- otherwise it has an estimated wait (only a call that must wait reads the tallies for it).
local candidates = candidates_for_call(c, 0)
local at = position(c)
local estimate = 0
if at > #candidates then
  estimate = staffing_for(c, qc, at, now).estimate_ms
end
if estimate then estimate = math.floor(estimate + 0.5) / 1000 else estimate = cjson.null end
emit('call.queued', now, {call = c, position = at, estimated_wait_s = estimate})
push_call_wake(c, candidates)
return done({call = c, position = at, now = now})
