-- Read-only: who could be routed now. For the reconciler (every listed queue with both a
-- waiting call and a free agent, and calls transferred to an available agent) and for the
-- dispatcher paging deeper (REQ.call_id / REQ.agent_id with REQ.offset).
local now = now_ms()
if present(REQ.call_id) then
  local call = load(K_CALLS, REQ.call_id)
  if not call or call.state ~= 'queued' then return done({now = now}) end
  want(call.queue)
  local m = missing()
  if m then return m end
  push_call_wake(call, candidates_for_call(call, REQ.offset))
  return done({now = now})
end
if present(REQ.agent_id) then
  local live = agent_live(REQ.agent_id)
  local cfg = agent_cfg(REQ.agent_id)
  if live.state ~= 'available' or not cfg then return done({now = now}) end
  want_agent_queues(cfg)
  local m = missing()
  if m then return m end
  local calls = {}
  for _, q in ipairs(eligible_queues(cfg)) do
    for _, raw in ipairs(calls_for(q, REQ.offset)) do calls[#calls + 1] = raw end
  end
  local strategies = {}
  for _, q in ipairs(eligible_queues(cfg)) do strategies[q] = strategy_of(q) end
  WAKE[1] = {agent = agent_snapshot(REQ.agent_id), strategies = strategies,
    calls = calls}
  return done({now = now})
end
for q, key in pairs(QW) do
  if redis.call('ZCARD', key) > 0 then
    for _, raw in ipairs(calls_for(q, 0)) do
      local call = cjson.decode(raw)
      if not present(call.target_agent) then
        local agents = agents_for(q, call.channel, 0)
        if #agents > 0 then push_call_wake(call, agents) end
      end
    end
  end
end
local targeted = redis.call('ZRANGE', K_TARGETED, 0, 199)
for _, m in ipairs(targeted) do
  local sep = string.find(m, '|', 1, true)
  local agent_id, call_id = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
  local live = load(K_AGENTS, agent_id)
  local call = load(K_CALLS, call_id)
  if live and live.state == 'available' and call and call.state == 'queued'
      and room_for(live, agent_cfg(agent_id), call.channel or 'voice') then
    push_call_wake(call, {agent_snapshot(agent_id)})
  end
end
return done({now = now})
