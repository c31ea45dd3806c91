-- Project one agent's configuration (newer versions only): its queues (member_of: the listed
-- ones, or every queue when it lists none) and those whose requirements it meets (eligible).
local now = now_ms()
local agent_id, cfg = REQ.agent_id, REQ.config
local old = agent_cfg(agent_id)
if old and old.version >= cfg.version then return reply({stale = true, now = now}) end
local member_of, eligible = {}, {}
local qcfgs = redis.call('HGETALL', K_QCFG)
local listed = {}
for _, name in ipairs(cfg.queues or {}) do listed[name] = true end
for i = 1, #qcfgs, 2 do
  local q = qcfgs[i]
  if #(cfg.queues or {}) == 0 or listed[q] then
    member_of[#member_of + 1] = q
    if meets(cfg, loosest_requirements(cjson.decode(qcfgs[i + 1]))) then
      eligible[#eligible + 1] = q
    end
  end
end
cfg.member_of, cfg.eligible = member_of, eligible
want_agent_queues(old or {})
want_agent_queues(cfg)
local m = missing()
if m then return m end
local live = load(K_AGENTS, agent_id)
if live then unindex_agent(agent_id, live, old or {}) end
save(K_ACFG, agent_id, cfg)
if not live then
  live = {state = 'offline', missed_in_row = 0, state_since_ms = now}
  save(K_AGENTS, agent_id, live)
end
emit('agent.updated', now, {agent_id = agent_id, config = cfg})
index_agent(agent_id, live, cfg)
tally_states(agent_id, live.state, cfg)  -- by state, in its queues as they are now
if live.state == 'available' then wake_agent(agent_id, cfg, live) end
return done({now = now})
