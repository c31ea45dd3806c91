-- Commit a routing decision: the call is still waiting and the agent still free and eligible,
-- so reserve both, set the offer deadline and append the event, or change nothing.
local now = now_ms()
local call = load(K_CALLS, REQ.call_id)
if not call or call.state ~= 'queued' then
  return fail('conflict', {side = 'call', state = call and call.state})
end
local agent_id = REQ.agent_id
local live = agent_live(agent_id)
local cfg = agent_cfg(agent_id)
if live.state ~= 'available' or not cfg then
  return fail('conflict', {side = 'agent', state = live.state})
end
want(call.queue)
want_agent_queues(cfg)
local m = missing()
if m then return m end
local ok
if present(call.target_agent) then
  ok = call.target_agent == agent_id
else
  ok = redis.call('ZSCORE', QA[call.queue], agent_id) ~= false and meets(cfg, call.requirements)
end
if not ok then return fail('conflict', {side = 'agent', state = 'not-eligible'}) end

local qc = queue_cfg(call.queue) or {}
unqueue_call(call)
unindex_agent(agent_id, cfg)
call.target_agent = nil
call.state = 'offered'
call.offer = {id = next_id('o'), agent_id = agent_id, offered_ms = now,
  expires_ms = now + (qc.offer_timeout_s or 20) * 1000}
live.call_id = call.id
live.offer_id = call.offer.id
set_agent_state(agent_id, live, 'reserved', now)
emit('call.offered', now, {call = call, queue = call.queue, offer = call.offer,
  agent = {id = agent_id, name = cfg.name, attributes = cfg.attributes or {}}})
if qc.auto_accept then
  connect(call, agent_id, now)
else
  arm(offer_timer(call), call.offer.expires_ms)
  save(K_CALLS, call.id, call)
end
return done({call = call, now = now})
