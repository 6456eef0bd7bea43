-- A finished request's charge: usage counters, period spend and token corrections, atomically.
-- KEYS: S usage hash keys, then P spend key bases, then one TAT key per correction.
-- ARGV: S; the five counters (in FIELDS order); spend key lifetime margin in seconds;
--       period count P; P x period seconds (one per spend key base);
--       then one (limit, window micros, delta) per correction key.
local now = now_micros()
local scopes = tonumber(ARGV[1])
for i = 1, scopes do
  for f = 1, #FIELDS do
    local value = ARGV[1 + f]
    if value ~= '0' then
      redis.call('HINCRBY', KEYS[i], FIELDS[f], value)
    end
  end
end

local spend = ARGV[1 + #FIELDS]
local margin = tonumber(ARGV[2 + #FIELDS])
local periods = tonumber(ARGV[3 + #FIELDS])
local first_period = 4 + #FIELDS
if spend ~= '0' then
  for p = 1, periods do
    local period = tonumber(ARGV[first_period + p - 1])
    local key, start = spend_key(KEYS[scopes + p], period, now)
    redis.call('INCRBY', key, spend)
    -- A period's spend is never read once the period is over; the margin covers a read that
    -- straddles the boundary.
    redis.call('EXPIREAT', key, start + period + margin)
  end
end

local first_correction = first_period + periods
local corrected = scopes + periods
for i = corrected + 1, #KEYS do
  local at = first_correction + 3 * (i - corrected - 1)
  local limit, window, delta = tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  write_tat(KEYS[i], gcra_adjust(read_tat(KEYS[i]), now, limit, window, delta), now)
end
return 0
