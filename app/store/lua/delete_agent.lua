-- Remove an agent that holds no call. Calls transferred to it wait for anyone instead.
local now = now_ms()
local agent_id = REQ.agent_id
local cfg = agent_cfg(agent_id)
if not cfg then return fail('agent-not-found') end
local live = agent_live(agent_id)
if held(live) > 0 then return fail('agent-busy', {from = live.state, to = 'deleted'}) end
want_agent_queues(cfg)
local m = missing()
if m then return m end
unindex_agent(agent_id, live, cfg)
local targeted = redis.call('ZRANGEBYLEX', K_TARGETED, '[' .. agent_id .. '|',
  '[' .. agent_id .. '|\255')
for _, member in ipairs(targeted) do
  local call = load(K_CALLS, string.sub(member, #agent_id + 2))
  if call then
    call.target_agent = nil
    save(K_CALLS, call.id, call)
  end
  redis.call('ZREM', K_TARGETED, member)
end
redis.call('HDEL', K_ACFG, agent_id)
redis.call('HDEL', K_AGENTS, agent_id)
redis.call('SREM', K_LOGGED, agent_id)
emit('agent.updated', now, {agent_id = agent_id, deleted = true})
return reply({ok = true, now = now})
