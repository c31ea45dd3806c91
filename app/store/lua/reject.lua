-- The agent declines: the call goes back to its place; the agent is available again
-- (at the back of the longest-idle line) and nothing is counted against it.
local now = now_ms()
local call = load(K_CALLS, REQ.call_id)
if not call then return fail('call-not-found') end
if call.state ~= 'offered' then return fail('call-state', {state = call.state}) end
if call.offer.id ~= REQ.offer_id then
  return fail('offer-mismatch', {state = call.state, offer_id = call.offer.id})
end
local agent_id = call.offer.agent_id
local cfg = agent_cfg(agent_id) or {}
want_for_requeue(call)
want_agent_queues(cfg)
local m = missing()
if m then return m end
local live = agent_live(agent_id)
requeue_call(call, now, 'rejected')
drop_contact(live, call.id)
settle_agent(agent_id, live, cfg, now)
return done({call = call, now = now})
