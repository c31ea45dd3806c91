-- Project one queue's configuration (newer versions only) and recompute which agents are
-- eligible for it: member of it (or of every queue) and meeting its requirements.
local now = now_ms()
local q, cfg = REQ.queue, REQ.config
local old = queue_cfg(q)
if old and old.version >= cfg.version then return reply({stale = true, now = now}) end
want(q)
local m = missing()
if m then return m end
save(K_QCFG, q, cfg)
QCFG[q] = cfg
for _, key in pairs(QA[q]) do redis.call('DEL', key) end
local cfgs = redis.call('HGETALL', K_ACFG)
for i = 1, #cfgs, 2 do
  local agent_id, acfg = cfgs[i], cjson.decode(cfgs[i + 1])
  local member = #(acfg.queues or {}) == 0
  for _, name in ipairs(acfg.queues or {}) do if name == q then member = true end end
  local eligible, list, members = member and meets(acfg, loosest_requirements(cfg)), {}, {}
  for _, name in ipairs(acfg.eligible or {}) do if name ~= q then list[#list + 1] = name end end
  for _, name in ipairs(acfg.member_of or {}) do if name ~= q then members[#members + 1] = name end end
  if eligible then list[#list + 1] = q end
  if member then members[#members + 1] = q end
  acfg.eligible, acfg.member_of = list, members
  save(K_ACFG, agent_id, acfg)
  local live = load(K_AGENTS, agent_id)
  if eligible and live then
    index_in_queue(agent_id, live, acfg, q)
    save(K_AGENTS, agent_id, live)
  end
end
build_tallies(q, now)  -- who is eligible may have changed
emit('queue.updated', now, {queue = q, config = cfg})
-- Newly eligible agents may take waiting calls at once.
if redis.call('ZCARD', QW[q]) > 0 then
  for _, raw in ipairs(calls_for(q, 0)) do
    local call = cjson.decode(raw)
    push_call_wake(call, candidates_for_call(call, 0))
  end
end
return done({now = now})
