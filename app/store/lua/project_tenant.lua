-- Project a tenant's identity (and a manual clock's start, and its time zone) into Redis.
redis.call('HSET', K_META, 'id', REQ.id, 'clock', REQ.clock)
if REQ.clock == 'manual' and redis.call('EXISTS', K_CLOCK) == 0 then
  redis.call('SET', K_CLOCK, num(REQ.start_ms))
end
if redis.call('EXISTS', K_SEQ) == 0 then redis.call('SET', K_SEQ, num(REQ.start_ms * 1000)) end
-- The time zone's offsets, for the counters of the tenant's local days (common.lua, day).
if type(REQ.offsets) == 'table' then
  redis.call('DEL', K_TZ)
  for _, o in ipairs(REQ.offsets) do
    redis.call('ZADD', K_TZ, num(o[1]), num(o[1]) .. ':' .. num(o[2]))
  end
end
return reply({ok = true})
