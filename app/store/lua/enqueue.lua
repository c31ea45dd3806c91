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
c.id = next_id('c')
c.arrived_ms = now
enter_queue(c, c.queue, qc, now)
save(K_CALLS, c.id, c)
if present(c.external_id) then redis.call('HSET', K_EXT, c.external_id, c.id) end
emit('call.queued', now, {call = c})
wake_call(c)
return done({call = c, position = position(c), now = now})
