-- Remove a queue: only when no call waits or rings in it and nothing points at it.
local now = now_ms()
local q = REQ.queue
if not queue_cfg(q) then return fail('queue-not-found', {queue = q}) end
want(q)
local m = missing()
if m then return m end
local live = tonumber(redis.call('HGET', K_QLIVE, q) or '0')
if live > 0 or redis.call('ZCARD', QW[q]) > 0 then
  return fail('queue-not-empty', {queue = q, calls = live})
end
local overflowing = {}
local qcfgs = redis.call('HGETALL', K_QCFG)
for i = 1, #qcfgs, 2 do
  local other = cjson.decode(qcfgs[i + 1])
  if qcfgs[i] ~= q and other.overflow_queue == q then overflowing[#overflowing + 1] = qcfgs[i] end
end
local members = {}
local cfgs = redis.call('HGETALL', K_ACFG)
for i = 1, #cfgs, 2 do
  local acfg = cjson.decode(cfgs[i + 1])
  for _, name in ipairs(acfg.queues or {}) do if name == q then members[#members + 1] = cfgs[i] end end
end
if #overflowing > 0 or #members > 0 then
  return fail('queue-in-use', {queue = q, overflow_from = overflowing, agents = members})
end
drop_tallies(q)
for i = 1, #cfgs, 2 do
  local acfg = cjson.decode(cfgs[i + 1])
  local list = {}
  for _, name in ipairs(acfg.eligible or {}) do if name ~= q then list[#list + 1] = name end end
  acfg.eligible = list
  local mem = {}
  for _, name in ipairs(acfg.member_of or {}) do if name ~= q then mem[#mem + 1] = name end end
  acfg.member_of = mem
  save(K_ACFG, cfgs[i], acfg)
end
redis.call('HDEL', K_QCFG, q)
QCFG[q] = false
redis.call('HDEL', K_QLIVE, q, q .. '|aht_ms', q .. '|rr')
redis.call('DEL', QW[q], QE[q])
for _, key in pairs(QA[q]) do redis.call('DEL', key) end
emit('queue.updated', now, {queue = q, deleted = true})
return reply({ok = true, now = now})
