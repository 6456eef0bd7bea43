-- A scope's usage: its counters and, when a period is given, the current period's spend.
-- KEYS: the usage hash, the spend key base. ARGV: period seconds (0: no period).
-- Reply: the five counters (in FIELDS order), then the period spend; missing ones are nil.
local reply = redis.call('HMGET', KEYS[1], unpack(FIELDS))
local period = tonumber(ARGV[1])
local spent = false
if period > 0 then
  spent = redis.call('GET', (spend_key(KEYS[2], period, now_micros())))
end
reply[#FIELDS + 1] = spent
return reply
