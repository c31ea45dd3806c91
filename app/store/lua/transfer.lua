-- A connected call goes back to a queue (another one, or its own reserved for one agent);
-- a waiting call may be moved too. Arrival time and priority are kept, so is the rank.
local now = now_ms()
local call = load(K_CALLS, REQ.call_id)
if not call then return fail('call-not-found') end
if call.state ~= 'connected' and call.state ~= 'queued' then
  return fail('call-state', {state = call.state})
end
local target_queue = call.queue
if present(REQ.queue) then target_queue = REQ.queue end
local tcfg = queue_cfg(target_queue)
if not tcfg then return fail('unknown-queue', {queue = target_queue}) end
if present(REQ.agent_id) then
  if not agent_cfg(REQ.agent_id) then return fail('unknown-agent', {agent_id = REQ.agent_id}) end
  if REQ.agent_id == call.agent_id then return fail('transfer-to-self', {state = call.state}) end
  local tl = agent_live(REQ.agent_id)
  if tl.state == 'offline' then
    return fail('agent-offline', {agent_id = REQ.agent_id, state = call.state})
  end
end
want(call.queue)
want(target_queue)
if call.state == 'connected' then want_agent_queues(agent_cfg(call.agent_id) or {}) end
local m = missing()
if m then return m end
local from_queue, from_agent = call.queue, call.agent_id
if call.state == 'connected' then
  finish_agent_part(call, now)
  call.agent_id = nil
  call.connected_ms = nil
else
  unqueue_call(call)
  leave_queue(call)
end
call.transfers = (call.transfers or 0) + 1
close_leg(call, now, 'transferred')
if present(REQ.agent_id) then call.target_agent = REQ.agent_id else call.target_agent = nil end
enter_queue(call, target_queue, tcfg, now)
save(K_CALLS, call.id, call)
emit('call.transferred', now, {call = call, from_queue = from_queue, from_agent_id = from_agent,
  queue = target_queue, agent_id = call.target_agent})
wake_call(call)
return done({call = call, position = position(call), now = now})
