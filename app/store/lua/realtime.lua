-- Queues as a supervisor sees them now (DESIGN §3.6): waiting and offered calls, the longest
-- wait, the members logged in by state, and the estimated wait of a new call. The counts come
-- from the tallies (staffing.lua), built on first use; REQ.exact reads every logged-in agent
-- of the tenant instead (tests compare the two).
local now = now_ms()
for _, q in ipairs(REQ.report) do want(q) end
local m = missing()
if m then return m end

local function states_of(scope)
  if not REQ.exact then return tallied_states(scope, now) end
  local out = {}
  for _, a in ipairs(logged_in_agents()) do
    if scope == '*' or member_of(a.cfg, scope) then
      out[a.live.state] = (out[a.live.state] or 0) + 1
    end
  end
  return out
end
local everyone = states_of('*')
local out = {}
for _, q in ipairs(REQ.report) do
  local qc = queue_cfg(q)
  if qc then
    local waiting = redis.call('ZCARD', QW[q])
    local in_queue = tonumber(redis.call('HGET', K_QLIVE, q) or '0')
    local oldest = redis.call('ZRANGE', QE[q], 0, 0, 'WITHSCORES')
    local by_state = states_of(q)
    local new_call = {queue = q, channel = REQ.channel or 'voice'}
    local s = staffing_for(new_call, qc, waiting + 1, now, REQ.exact)
    out[#out + 1] = {queue = q, waiting = waiting, offered = math.max(in_queue - waiting, 0),
      oldest_entered_ms = oldest[2] and tonumber(oldest[2]) or NULL, agents = by_state,
      agents_logged_in = s.logged_in, agents_eligible = s.eligible,
      agents_eligible_available = s.available, agents_working = s.working,
      aht_ms = s.aht_ms, estimate_ms = s.estimate_ms or NULL}
  end
end
return reply({now = now, queues = out, agents = everyone})
