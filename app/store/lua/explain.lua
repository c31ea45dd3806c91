-- Read-only: why waiting calls wait, with the counts behind it, and their positions.
-- O(logged-in agents of the tenant), once for all the calls asked about: for reads and for
-- calls that could not be offered, not for the routing path.
local now = now_ms()
local calls, queues = {}, {}
for _, id in ipairs(REQ.call_ids) do
  local call = load(K_CALLS, id)
  if call then
    calls[#calls + 1] = call
    want(call.queue)
    if call.state == 'queued' then queues[call.queue] = queue_cfg(call.queue) or {} end
  end
end
local m = missing()
if m then return m end

-- Only agents that are logged in can count; offline ones are most of a large tenant.
local agents = {}
for _, agent_id in ipairs(redis.call('SMEMBERS', K_LOGGED)) do
  local live, cfg = load(K_AGENTS, agent_id), agent_cfg(agent_id)
  if live and cfg and live.state ~= 'offline' then
    agents[#agents + 1] = {cfg = cfg, live = live}
  end
end

local out = {}
for _, call in ipairs(calls) do
  local item = {call = call, position = position(call)}
  if call.state == 'queued' then
    local qc = queues[call.queue]
    local logged_in, eligible, available = 0, 0, 0
    local needed = effective_requirements(call, qc)
    for _, a in ipairs(agents) do
      local member = false
      for _, q in ipairs(a.cfg.member_of or {}) do if q == call.queue then member = true end end
      local channel = call.channel or 'voice'
      if member then
        logged_in = logged_in + 1
        if (capacity(a.cfg)[channel] or 0) > 0 and meets(a.cfg, needed) then
          eligible = eligible + 1
          if a.live.state == 'available' and room_for(a.live, a.cfg, channel) then
            available = available + 1
          end
        end
      end
    end
    local reason
    if present(call.target_agent) then
      reason = 'preferred-agent-hold'
    elseif logged_in == 0 then
      reason = 'no-agent-logged-in'
    elseif eligible == 0 then
      reason = 'no-eligible-agent'
    else
      reason = 'all-eligible-busy'
    end
    item.waiting = {reason = reason, agents_logged_in = logged_in, agents_eligible = eligible,
      agents_eligible_available = available,
      aht_ms = tonumber(redis.call('HGET', K_QLIVE, call.queue .. '|aht_ms') or '0')}
  end
  out[#out + 1] = item
end
return reply({now = now, items = out})
