-- Admission, all or nothing: every budget is checked first, then every take's GCRA; only when
-- all pass are the new arrival times written.
-- KEYS: B spend key bases (one per budget), then the TAT key of each take, in order.
-- ARGV: budget count B; B x (period seconds, limit micros); then one (limit, window micros, cost)
--       per take.
-- Reply: {0, remaining, reset, ...} admitted; {1, index, retry_after, remaining, reset, ...}
--        limited; {2, index, spent} over budget. Indexes are 0-based, times in microseconds.
local ADMITTED, LIMITED, OVER_BUDGET = 0, 1, 2
local now = now_micros()
local budgets = tonumber(ARGV[1])
for i = 1, budgets do
  local at = 2 * i
  local period, limit = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  local spent = tonumber(redis.call('GET', (spend_key(KEYS[i], period, now))) or '0')
  if spent >= limit then
    return {OVER_BUDGET, i - 1, spent}
  end
end

local takes = #KEYS - budgets
local first = 2 + 2 * budgets
local function take_args(i)
  local at = first + 3 * (i - 1)
  return tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
end
local function tat_key(i)
  return KEYS[budgets + i]
end

local tats = {}
for i = 1, takes do
  tats[i] = read_tat(tat_key(i))
end
local new_tats = {}
for i = 1, takes do
  local limit, window, cost = take_args(i)
  local new_tat, wait = gcra_take(tats[i], now, limit, window, cost)
  if not new_tat then
    local reply = {LIMITED, i - 1, wait}
    for j = 1, takes do
      local other_limit, other_window = take_args(j)
      local remaining, reset = gcra_state(tats[j], now, other_limit, other_window)
      reply[#reply + 1] = remaining
      reply[#reply + 1] = reset
    end
    return reply
  end
  new_tats[i] = new_tat
end

local reply = {ADMITTED}
for i = 1, takes do
  local limit, window = take_args(i)
  write_tat(tat_key(i), new_tats[i], now)
  local remaining, reset = gcra_state(new_tats[i], now, limit, window)
  reply[#reply + 1] = remaining
  reply[#reply + 1] = reset
end
return reply
