-- An agent (or a supervisor) sets available / away / offline. reserved, busy and wrap_up are
-- the system's; see the state table in DESIGN §3.3.
local now = now_ms()
local agent_id, to, reason = REQ.agent_id, REQ.state, REQ.reason
local cfg = agent_cfg(agent_id)
if not cfg then return fail('agent-not-found') end
local live = agent_live(agent_id)
local from = live.state
want_agent_queues(cfg)
local call
if from == 'reserved' and to ~= 'available' then
  call = load(K_CALLS, live.call_id)
  if call then want_for_requeue(call) end
end
local m = missing()
if m then return m end

local function finish(t)
  t.config = cfg
  return done(t)
end

local function illegal() return fail('illegal-transition', {from = from, to = to}) end

if from == 'busy' then
  if not REQ.after_call then return fail('agent-busy', {from = from, to = to}) end
  if to == 'available' then live.after_call = nil else live.after_call = {state = to, reason = reason} end
  save(K_AGENTS, agent_id, live)
  emit('agent.state_changed', now, {agent_id = agent_id, state = from, previous = from,
    pending = live.after_call})
  return finish({agent = live, now = now, pending = true})
end
if from == to then
  if to == 'away' and reason ~= live.reason then
    set_agent_state(agent_id, live, to, now, reason)
  end
  return finish({agent = live, now = now, unchanged = true})
end
if from == 'reserved' then
  if to == 'available' then return illegal() end
  if call and call.state == 'offered' then requeue_call(call, now, 'rescinded') end
  live.call_id, live.offer_id = nil, nil
  set_agent_state(agent_id, live, to, now, reason)
  return finish({agent = live, now = now})
end
if from == 'wrap_up' then
  disarm('wrap|' .. agent_id .. '|' .. tostring(live.wrap_token))
  live.after_call = nil
  release_agent(agent_id, live, cfg, now, to, reason)
  return finish({agent = live, now = now})
end
-- offline, away, available
if from == 'available' then unindex_agent(agent_id, cfg) end
set_agent_state(agent_id, live, to, now, reason)
if to == 'available' then
  index_agent(agent_id, cfg, now)
  wake_agent(agent_id, cfg, now)
end
return finish({agent = live, now = now})
