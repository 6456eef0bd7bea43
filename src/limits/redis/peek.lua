-- How a bucket stands now, without taking anything.
-- KEYS: the TAT key. ARGV: limit, window micros. Reply: {remaining, reset micros}.
local remaining, reset = gcra_state(read_tat(KEYS[1]), now_micros(), tonumber(ARGV[1]), tonumber(ARGV[2]))
return {remaining, reset}
