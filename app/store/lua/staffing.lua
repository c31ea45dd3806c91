-- Shared by every script after common.lua and before lifecycle.lua: what the estimated wait
-- and the supervisor's view need of a queue's agents (DESIGN §3.6), kept as counts so that
-- reading them does not read every agent (DESIGN §6), and the queues' learnt handle times.
-- See app/store/scripts.py.

-- Tallies -------------------------------------------------------------------------------------

-- Staffing tallies: what a waiting call's estimate needs of its queue's agents, kept as the
-- agents change, so that the estimate reads counts instead of every logged-in agent (its cost
-- stays flat in the number of agents, DESIGN §6). K_STAFF holds, for each queue q once
-- 'built|q' is set (the first estimate of q builds it):
--   q|l         its members logged in;
--   q|e:<ch>    of those, the eligible ones (the queue's index holds them) with capacity for ch;
--   q|a:<ch>    of those, available with room for ch now;
--   q|w:<ch>    of those, at work: room now, or busy and neither away nor leaving after it;
--   x|q|<id>    one agent's share of these, as tokens, so a change applies the difference.
-- QF[q] holds the ones at work without room, by when they are expected to have room again
-- (member '<ch>|<wrap-up ms>|<id>', score: (channel index - 1) × 10^15 + that ms).
-- By state, for the supervisor's view: 'q|s:<state>' its members logged in in each state, and
-- '*|s:<state>' the tenant's (built with 'built|*'); the agent's state share is 'y|q|<id>'.
local CH_INDEX = {}
for i, ch in ipairs(CHANNELS) do CH_INDEX[ch] = i end
local CH_SPAN = 1e15

local function member_of(cfg, queue)
  for _, q in ipairs(cfg.member_of or {}) do if q == queue then return true end end
  return false
end

-- When an agent is expected to have room again: its soonest contact's expected end, and the
-- wrap-up still due after that contact's conversation. Set when the contact is offered (one
-- handle time of its queue later, the queue's wrap-up after talk) and when its wrap-up starts
-- (its end, nothing after); a contact without them ends now.
local function free_at(live, now)
  local at, wrap
  for _, c in pairs(contacts(live)) do
    local e, w = c.expect_ms or now, c.expect_wrap_ms or 0
    if not at or e < at or (e == at and w < wrap) then at, wrap = e, w end
  end
  return at or now, wrap or 0
end
-- How soon (ms) that is from now: a conversation running past its expected end still has
-- its wrap-up to do.
local function frees_in(at, wrap, now) return math.max(at - now, wrap, 0) end

local function share_of(live, cfg, q, now)
  if not live or live.state == 'offline' then return '' end
  local out, cap, at = {'l'}, capacity(cfg), nil
  for _, e in ipairs(eligible_queues(cfg)) do
    if e == q then
      for _, ch in ipairs(CHANNELS) do
        if (cap[ch] or 0) > 0 then
          out[#out + 1] = 'e:' .. ch
          if live.state == 'available' and room_for(live, cfg, ch) then
            out[#out + 1] = 'a:' .. ch
            out[#out + 1] = 'w:' .. ch
          elseif live.state ~= 'away' and not present(live.after_call) then
            if not at then
              local e, w = free_at(live, now)
              at = string.format('%d:%d', e, w)
            end
            out[#out + 1] = 'w:' .. ch
            out[#out + 1] = 'f:' .. ch .. '=' .. at
          end
        end
      end
      break
    end
  end
  return table.concat(out, ' ')
end

local function share_tokens(share)
  local out = {}
  for t in string.gmatch(share, '%S+') do
    local ch, at = string.match(t, '^f:(%a+)=(.+)$')
    if ch then out[ch] = at else out[t] = true end
  end
  return out
end
-- The QF entry of an agent's 'f' token: member and score.
local function freeing_entry(ch, at, agent_id)
  local e, w = string.match(at, '^(%-?%d+):(%d+)$')
  return ch .. '|' .. w .. '|' .. agent_id, num((CH_INDEX[ch] - 1) * CH_SPAN + tonumber(e))
end

-- The agent's share of queue q's tallies becomes what its records say now (none: live nil).
local function tally(agent_id, live, cfg, q, now)
  local v = redis.call('HMGET', K_STAFF, 'built|' .. q, 'x|' .. q .. '|' .. agent_id)
  if not v[1] then return end
  local old, new = v[2] or '', share_of(live, cfg, q, now)
  if old == new then return end
  local was, is = share_tokens(old), share_tokens(new)
  for t, at in pairs(was) do
    if at == true then
      if is[t] == nil then redis.call('HINCRBY', K_STAFF, q .. '|' .. t, -1) end
    elseif is[t] ~= at then
      redis.call('ZREM', QF[q], (freeing_entry(t, at, agent_id)))
    end
  end
  for t, at in pairs(is) do
    if at == true then
      if was[t] == nil then redis.call('HINCRBY', K_STAFF, q .. '|' .. t, 1) end
    elseif was[t] ~= at then
      local member, score = freeing_entry(t, at, agent_id)
      redis.call('ZADD', QF[q], score, member)
    end
  end
  if new == '' then
    redis.call('HDEL', K_STAFF, 'x|' .. q .. '|' .. agent_id)
  else
    redis.call('HSET', K_STAFF, 'x|' .. q .. '|' .. agent_id, new)
  end
end
-- The agent's state share of `scope` (a queue, or '*' for the tenant) becomes `state`.
local STATES = {'available', 'reserved', 'busy', 'wrap_up', 'away'}
local function tally_state(agent_id, state, scope)
  local field = 'y|' .. scope .. '|' .. agent_id
  local v = redis.call('HMGET', K_STAFF, 'built|' .. scope, field)
  if not v[1] then return end
  local old, new = v[2] or '', (state and state ~= 'offline') and state or ''
  if old == new then return end
  if old ~= '' then redis.call('HINCRBY', K_STAFF, scope .. '|s:' .. old, -1) end
  if new == '' then
    redis.call('HDEL', K_STAFF, field)
  else
    redis.call('HINCRBY', K_STAFF, scope .. '|s:' .. new, 1)
    redis.call('HSET', K_STAFF, field, new)
  end
end
local function tally_states(agent_id, state, cfg)
  tally_state(agent_id, state, '*')
  for _, q in ipairs((cfg or {}).member_of or {}) do tally_state(agent_id, state, q) end
end
-- The agent's shares of its queues' counts (not by state: set_agent_state keeps those, and a
-- change of configuration moves them, below).
local function tally_agent(agent_id, live, cfg)
  local now = now_ms()
  for _, q in ipairs((cfg or {}).member_of or {}) do tally(agent_id, live, cfg, q, now) end
end

-- Forget the tallies of queue q (or of the tenant, '*'): its next read builds them again.
local function drop_tallies(q)
  local fields = {'built|' .. q, q .. '|l'}
  for _, ch in ipairs(CHANNELS) do
    for _, kind in ipairs({'e:', 'a:', 'w:'}) do fields[#fields + 1] = q .. '|' .. kind .. ch end
  end
  for _, state in ipairs(STATES) do fields[#fields + 1] = q .. '|s:' .. state end
  for _, agent_id in ipairs(redis.call('HKEYS', K_ACFG)) do
    fields[#fields + 1] = 'x|' .. q .. '|' .. agent_id
    fields[#fields + 1] = 'y|' .. q .. '|' .. agent_id
  end
  for i = 1, #fields, 1000 do  -- (unpack has a limit)
    redis.call('HDEL', K_STAFF, unpack(fields, i, math.min(i + 999, #fields)))
  end
  if q ~= '*' then redis.call('DEL', QF[q]) end
end
-- Count the agents of queue q (or of the tenant, '*') afresh: once (O(agents)), then kept as
-- they change.
local function build_tallies(q, now)
  drop_tallies(q)
  redis.call('HSET', K_STAFF, 'built|' .. q, 1)
  local cfgs = redis.call('HGETALL', K_ACFG)
  for i = 1, #cfgs, 2 do
    local cfg = cjson.decode(cfgs[i + 1])
    if q == '*' or member_of(cfg, q) then
      local live = load(K_AGENTS, cfgs[i])
      if q ~= '*' then tally(cfgs[i], live, cfg, q, now) end
      tally_state(cfgs[i], live and live.state, q)
    end
  end
end
-- A scope's counts by state (the states with anyone in them), built on first use.
local function tallied_states(scope, now)
  if not redis.call('HGET', K_STAFF, 'built|' .. scope) then build_tallies(scope, now) end
  local fields = {}
  for i, state in ipairs(STATES) do fields[i] = scope .. '|s:' .. state end
  local v, out = redis.call('HMGET', K_STAFF, unpack(fields)), {}
  for i, state in ipairs(STATES) do
    local n = tonumber(v[i] or '0')
    if n > 0 then out[state] = n end
  end
  return out
end


-- Handle times --------------------------------------------------------------------------------

-- A queue's recent handle times (talk + wrap-up) and talk times: a plain mean over its first
-- calls, then exponential averages over about the last 500 calls (the means) and 1,000 calls
-- (the variance, which only says how random handle times are). A shorter memory follows a
-- drifting handle time sooner but makes every estimate noisier.
local function learn_handle_time(queue, talk_ms, handle_ms)
  local f = {queue .. '|handled_n', queue .. '|aht_ms', queue .. '|aht_var', queue .. '|talk_ms'}
  local v = redis.call('HMGET', K_QLIVE, f[1], f[2], f[3], f[4])
  local n = (tonumber(v[1]) or 0) + 1
  local mean, var, talk = tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
  local a, b = math.max(1 / n, 0.002), math.max(1 / n, 0.001)
  local delta = handle_ms - mean
  mean = mean + a * delta
  var = (1 - b) * (var + b * delta * delta)
  talk = talk + a * (talk_ms - talk)
  redis.call('HSET', K_QLIVE, f[1], n, f[2], num(mean), f[3], num(var), f[4], num(talk))
end

local function handle_times(queue)
  local v = redis.call('HMGET', K_QLIVE, queue .. '|aht_ms', queue .. '|aht_var',
    queue .. '|talk_ms')
  return {aht = tonumber(v[1]) or 0, var = tonumber(v[2]) or 0, talk = tonumber(v[3]) or 0}
end

-- The logged-in agents (offline ones are most of a large tenant), read once per script, and
-- only for a call whose own requirements (or relaxation step) the tallies do not cover.
local LOGGED_IN
local function logged_in_agents()
  if LOGGED_IN then return LOGGED_IN end
  LOGGED_IN = {}
  for _, agent_id in ipairs(redis.call('SMEMBERS', K_LOGGED)) do
    local live, cfg = load(K_AGENTS, agent_id), agent_cfg(agent_id)
    if live and cfg and live.state ~= 'offline' then
      LOGGED_IN[#LOGGED_IN + 1] = {id = agent_id, cfg = cfg, live = live}
    end
  end
  return LOGGED_IN
end

-- Does the call need of an agent just what its queue's index (and tallies) hold: the queue's
-- requirements fully relaxed, and none of its own?
local function tallied_needs(call, qc)
  local steps = relax_steps(qc)
  return (call.relax_step or 0) >= #steps
    and #relaxed(call.requirements, steps, call.relax_step or 0) == 0
end

-- Of the busy agents, those expected to end first (by the zset's order: end, then member),
-- for the soonest to have room: a longer-running conversation may still be the soonest when
-- the others' wrap-ups are longer (the same one, in practice, when the wrap-ups are alike).
local SOONEST_AMONG = 16

-- The counts from the queue's tallies (built on first use), and the soonest a busy one frees.
local function tallied(queue, channel, now)
  if not redis.call('HGET', K_STAFF, 'built|' .. queue) then build_tallies(queue, now) end
  local ch = CH_INDEX[channel] and channel or 'voice'
  local v = redis.call('HMGET', K_STAFF, queue .. '|l', queue .. '|e:' .. ch,
    queue .. '|a:' .. ch, queue .. '|w:' .. ch)
  local s = {logged_in = tonumber(v[1] or '0'), eligible = tonumber(v[2] or '0'),
    available = tonumber(v[3] or '0'), working = tonumber(v[4] or '0')}
  local lo = (CH_INDEX[ch] - 1) * CH_SPAN
  local first = redis.call('ZRANGEBYSCORE', QF[queue], num(lo), '(' .. num(lo + CH_SPAN),
    'WITHSCORES', 'LIMIT', 0, SOONEST_AMONG)
  for i = 1, #first, 2 do
    local r = frees_in(tonumber(first[i + 1]) - lo, tonumber(string.match(first[i], '|(%d+)|')),
      now)
    if not s.soonest or r < s.soonest then s.soonest = r end
  end
  return s
end

-- The same counts read off every logged-in agent, for any requirements.
local function scanned(call, qc, channel, now)
  local s = {logged_in = 0, eligible = 0, available = 0, working = 0}
  local busy = {}
  local needed = effective_requirements(call, qc)
  for _, a in ipairs(logged_in_agents()) do
    if member_of(a.cfg, call.queue) then
      s.logged_in = s.logged_in + 1
      if (capacity(a.cfg)[channel] or 0) > 0 and meets(a.cfg, needed) then
        s.eligible = s.eligible + 1
        local state = a.live.state
        if state == 'available' and room_for(a.live, a.cfg, channel) then
          s.available = s.available + 1
          s.working = s.working + 1
        elseif state ~= 'away' and not present(a.live.after_call) then
          s.working = s.working + 1
          local at, wrap = free_at(a.live, now)
          busy[#busy + 1] = {at = at, wrap = wrap,
            member = channel .. '|' .. string.format('%d', wrap) .. '|' .. a.id}
        end
      end
    end
  end
  table.sort(busy, function(x, y)
    if x.at ~= y.at then return x.at < y.at end
    return x.member < y.member
  end)
  for i = 1, math.min(#busy, SOONEST_AMONG) do
    local r = frees_in(busy[i].at, busy[i].wrap, now)
    if not s.soonest or r < s.soonest then s.soonest = r end
  end
  return s
end

-- Who could serve a waiting call and how soon (DESIGN §3.6), and its estimated wait:
--   k = calls ahead of it and itself, less the eligible agents with room now;
--   N = eligible agents at work (not away, not leaving after their call);
--   estimate = T1 + (k - 1) * AHT / N, where T1, the time until the first of them frees,
--   is AHT / N for random (exponential) handle times and the soonest expected end of a busy
--   agent's contact for regular ones, weighted by the squared coefficient of variation of
--   the queue's handle times. For an M/M/N queue this is the known best (n + 1) * AHT / N.
-- A contact is expected to end one handle time (the mean of its queue then) after it is
-- offered, and a wrap-up when it is due. `exact` counts every logged-in agent (tests compare).
local function staffing_for(call, qc, position, now, exact)
  local channel = call.channel or 'voice'
  local s
  if tallied_needs(call, qc) and not exact then
    s = tallied(call.queue, channel, now)
  else
    s = scanned(call, qc, channel, now)
  end
  local ht = handle_times(call.queue)
  s.aht_ms = ht.aht
  if position and s.working > 0 and ht.aht > 0 then
    local k = position - s.available
    if k <= 0 then
      s.estimate_ms = 0
    else
      local per = ht.aht / s.working
      local w = math.min(math.max(ht.var / (ht.aht * ht.aht), 0), 1)
      local first = w * per + (1 - w) * (s.soonest or per)
      s.estimate_ms = first + (k - 1) * per
    end
  end
  s.soonest = nil
  return s
end
