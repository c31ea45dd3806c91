-- The agent (or the front-end for it) takes the offer.
local now = now_ms()
local call = load(K_CALLS, REQ.call_id)
if not call then return fail('call-not-found') end
if call.state == 'connected' and call.accepted_offer_id == REQ.offer_id then
  return done({call = call, now = now, repeated = true})
end
if call.state ~= 'offered' then return fail('call-state', {state = call.state}) end
if call.offer.id ~= REQ.offer_id then
  return fail('offer-mismatch', {state = call.state, offer_id = call.offer.id})
end
if now >= call.offer.expires_ms then return fail('offer-expired', {state = call.state}) end
connect(call, call.offer.agent_id, now)
return done({call = call, now = now})
