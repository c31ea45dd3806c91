-- The conversation ends: the call is completed and the agent goes to wrap-up.
local now = now_ms()
local call = load(K_CALLS, REQ.call_id)
if not call then return fail('call-not-found') end
if call.state == 'completed' then return done({call = call, now = now, repeated = true}) end
if call.state ~= 'connected' then return fail('call-state', {state = call.state}) end
want_agent_queues(agent_cfg(call.agent_id) or {})
local m = missing()
if m then return m end
if present(REQ.resolved) then call.resolved = REQ.resolved end
if present(REQ.disposition) then call.disposition = REQ.disposition end
if present(REQ.csat) then call.csat = REQ.csat end
finish_agent_part(call, now)
end_call(call, 'completed', now)
emit('call.completed', now, {call = call, agent_id = call.agent_id})
return done({call = call, now = now})
