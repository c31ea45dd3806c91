-- Project a tenant's identity (and a manual clock's start) into Redis.
redis.call('HSET', K_META, 'id', REQ.id, 'clock', REQ.clock)
if REQ.clock == 'manual' and redis.call('EXISTS', K_CLOCK) == 0 then
  redis.call('SET', K_CLOCK, num(REQ.start_ms))
end
if redis.call('EXISTS', K_SEQ) == 0 then redis.call('SET', K_SEQ, num(REQ.start_ms * 1000)) end
return reply({ok = true})
