-- Commit a routing decision. REQ.call_ids and REQ.agent_ids are the strategy's choices in
-- order of preference (one side has a single entry): the first pair where the call still
-- waits and the agent is still free and eligible is reserved — offer deadline set, event
-- appended — or nothing changes. One round trip however many concurrent decisions raced for
-- the same first choice; the outcome is what retrying down the list would give.
local now = now_ms()

local function viable_call(id)
  local call = load(K_CALLS, id)
  if call and call.state == 'queued' then return call end
  return nil
end

local function viable_agent(id)
  local live = agent_live(id)
  local cfg = agent_cfg(id)
  if live.state == 'available' and cfg then return live, cfg end
  return nil, nil
end

local function fits(call, agent_id, live, cfg)
  if not room_for(live, cfg, call.channel or 'voice') then return false end
  if present(call.target_agent) then return call.target_agent == agent_id end
  if not meets(cfg, effective_requirements(call, queue_cfg(call.queue))) then return false end
  want(call.queue)
  if QW[call.queue] == nil then return true end -- checked again once the keys are here
  return indexed(agent_id, live, call.queue, call.channel or 'voice')
end

local call, agent_id, live, cfg
local calls_seen, agents_seen = 0, 0
for _, cid in ipairs(REQ.call_ids) do
  local c = viable_call(cid)
  if c then
    calls_seen = calls_seen + 1
    for _, aid in ipairs(REQ.agent_ids) do
      local l, a = viable_agent(aid)
      if l then
        agents_seen = agents_seen + 1
        if fits(c, aid, l, a) then
          call, agent_id, live, cfg = c, aid, l, a
          break
        end
      end
    end
  end
  if call then break end
end
if not call then
  local side = 'agent'
  if calls_seen == 0 then side = 'call' end
  return fail('conflict', {side = side})
end
want(call.queue)
want_agent_queues(cfg)
local m = missing()
if m then return m end
if not present(call.target_agent)
    and not indexed(agent_id, live, call.queue, call.channel or 'voice') then
  return fail('conflict', {side = 'agent'})
end

local qc = queue_cfg(call.queue) or {}
redis.call('HSET', K_QLIVE, call.queue .. '|rr', agent_id)  -- the round-robin cursor
unqueue_call(call)
call.target_agent = nil
call.preferred_until_ms = nil
disarm(preference_timer(call))
call.state = 'offered'
if not present(call.first_offered_ms) then call.first_offered_ms = now end
call.offer = {id = next_id('o'), agent_id = agent_id, offered_ms = now,
  expires_ms = now + (qc.offer_timeout_s or 20) * 1000}
live.call_id = call.id
live.offer_id = call.offer.id
contacts(live)[call.id] = {channel = call.channel or 'voice', stage = 'offered',
  offer_id = call.offer.id, expect_ms = math.floor(now + handle_times(call.queue).aht + 0.5),
  expect_wrap_ms = math.floor((qc.wrap_up_s or 0) * 1000 + 0.5)}
settle_agent(agent_id, live, cfg, now, true)
emit('call.offered', now, {call = call, queue = call.queue, offer = call.offer,
  agent = {id = agent_id, name = cfg.name, attributes = cfg.attributes or {}}})
if qc.auto_accept then
  connect(call, agent_id, now, live, cfg)
else
  arm(offer_timer(call), call.offer.expires_ms)
  save(K_CALLS, call.id, call)
end
-- An agent with room for more (chats) looks for its next call at once.
if live.state == 'available' then wake_agent(agent_id, cfg, live) end
return done({call = call, agent = live, now = now})
