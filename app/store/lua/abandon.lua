-- The caller hangs up while waiting or ringing; an open offer is rescinded.
local now = now_ms()
local call = load(K_CALLS, REQ.call_id)
if not call then return fail('call-not-found') end
if call.state == 'abandoned' then return done({call = call, now = now, repeated = true}) end
if call.state ~= 'queued' and call.state ~= 'offered' then
  return fail('call-state', {state = call.state})
end
local agent_id, cfg
if call.state == 'offered' then
  agent_id = call.offer.agent_id
  cfg = agent_cfg(agent_id) or {}
  want_agent_queues(cfg)
end
want(call.queue)
local m = missing()
if m then return m end
if call.state == 'offered' then
  disarm(offer_timer(call))
  local offer = call.offer
  call.offer = nil
  local live = agent_live(agent_id)
  drop_contact(live, call.id)
  settle_agent(agent_id, live, cfg, now)
  call.rescinded_offer_id = offer.id
else
  unqueue_call(call)
end
leave_queue(call)
end_call(call, 'abandoned', now)
emit('call.abandoned', now, {call = call, queue = call.queue})
return done({call = call, now = now})
