-- Change a waiting call's priority, requirements or attributes; it is re-ranked at once.
local now = now_ms()
local call = load(K_CALLS, REQ.call_id)
if not call then return fail('call-not-found') end
if call.state ~= 'queued' then return fail('call-state', {state = call.state}) end
want(call.queue)
local m = missing()
if m then return m end
local qc = queue_cfg(call.queue) or {}
if present(REQ.priority) then
  call.priority = REQ.priority
  local factor = 1e13
  if present(qc.priority_weight_s) then factor = qc.priority_weight_s * 1000 end
  call.rank = num(call.arrived_ms - call.priority * factor)
  redis.call('ZADD', QW[call.queue], call.rank, call.id)
end
if present(REQ.requirements) then call.requirements = REQ.requirements end
if present(REQ.attributes) then
  local attrs = call.attributes
  if type(attrs) ~= 'table' then attrs = {} end
  for k, v in pairs(REQ.attributes) do
    if v == NULL then attrs[k] = nil else attrs[k] = v end
  end
  call.attributes = attrs
end
save(K_CALLS, call.id, call)
emit('call.updated', now, {call = call})
wake_call(call)
return done({call = call, position = position(call), now = now})
