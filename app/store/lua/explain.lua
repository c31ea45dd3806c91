-- Why waiting calls wait, with the counts behind it, their positions and estimated waits.
-- Reads its queue's tallies (a queue's first estimate builds them), or, for a call with
-- requirements of its own or not yet fully relaxed, every logged-in agent once for all the
-- calls asked about. REQ.exact: always the latter (tests compare the two).
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

local out = {}
for _, call in ipairs(calls) do
  local item = {call = call, position = position(call)}
  if call.state == 'queued' then
    local s = staffing_for(call, queues[call.queue], item.position, now, REQ.exact)
    local reason
    if present(call.target_agent) then
      reason = 'preferred-agent-hold'
    elseif s.logged_in == 0 then
      reason = 'no-agent-logged-in'
    elseif s.eligible == 0 then
      reason = 'no-eligible-agent'
    else
      reason = 'all-eligible-busy'
    end
    item.waiting = {reason = reason, agents_logged_in = s.logged_in,
      agents_eligible = s.eligible, agents_eligible_available = s.available,
      agents_working = s.working, aht_ms = s.aht_ms, estimate_ms = s.estimate_ms}
  end
  out[#out + 1] = item
end
return reply({now = now, items = out})
