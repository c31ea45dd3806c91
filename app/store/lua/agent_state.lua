-- An agent (or a supervisor) sets available / away / offline. reserved, busy and wrap_up are
-- the system's; see the state table in DESIGN §3.3. With contacts in hand: a connected one
-- refuses the change unless after_call (applied when the last contact ends); offers ringing
-- are rescinded and wrap-ups ended by away/offline; available ends wrap-ups early.
local now = now_ms()
local agent_id, to, reason = REQ.agent_id, REQ.state, REQ.reason
local cfg = agent_cfg(agent_id)
if not cfg then return fail('agent-not-found') end
local live = agent_live(agent_id)
local from = live.state
want_agent_queues(cfg)
local talking, ringing, wrapping = false, {}, {}
for id, c in pairs(contacts(live)) do
  if c.stage == 'connected' then
    talking = true
  elseif c.stage == 'offered' then
    local call = load(K_CALLS, id)
    if call and to ~= 'available' then want_for_requeue(call) end
    ringing[#ringing + 1] = {id = id, call = call}
  else
    wrapping[#wrapping + 1] = {id = id, token = c.wrap}
  end
end
local m = missing()
if m then return m end

local function finish(t)
  t.config = cfg
  return done(t)
end

local function illegal() return fail('illegal-transition', {from = from, to = to}) end

local function end_wrap_ups()
  for _, w in ipairs(wrapping) do
    disarm('wrap|' .. agent_id .. '|' .. tostring(w.token))
    end_wrap_up(agent_id, live, w.id, now)
  end
end

if talking and (from == 'busy' or to ~= 'available' or REQ.after_call) then
  if not REQ.after_call then return fail('agent-busy', {from = from, to = to}) end
  if to == 'available' then live.after_call = nil else live.after_call = {state = to, reason = reason} end
  emit('agent.state_changed', now, {agent_id = agent_id, state = from, previous = from,
    pending = live.after_call})
  settle_agent(agent_id, live, cfg, now)
  return finish({agent = live, now = now, pending = true})
end
if to == 'available' then
  if #wrapping > 0 then
    end_wrap_ups()
    live.after_call = nil
    settle_agent(agent_id, live, cfg, now)
    return finish({agent = live, now = now})
  end
  if from == 'reserved' then return illegal() end
  if from == to then return finish({agent = live, now = now, unchanged = true}) end
  set_agent_state(agent_id, live, to, now, reason, false, cfg)
  index_agent(agent_id, live, cfg)
  wake_agent(agent_id, cfg, live)
  return finish({agent = live, now = now})
end
-- away or offline, nothing connected
if from == to then
  if to == 'away' and reason ~= live.reason then
    set_agent_state(agent_id, live, to, now, reason, false, cfg)
  end
  return finish({agent = live, now = now, unchanged = true})
end
for _, r in ipairs(ringing) do
  if r.call and r.call.state == 'offered' then requeue_call(r.call, now, 'rescinded') end
  drop_contact(live, r.id)
end
end_wrap_ups()
live.after_call = nil
set_agent_state(agent_id, live, to, now, reason, false, cfg)
index_agent(agent_id, live, cfg)  -- out of every index
return finish({agent = live, now = now})
