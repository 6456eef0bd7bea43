-- Shared prelude of every script: Redis time and the GCRA of `store::gcra`, in microseconds.
-- Lua numbers are doubles: epoch microseconds (about 1.8e15) stay exact below 2^53, epoch
-- nanoseconds would not. Scripts run atomically, so each one reads and writes without races.

local MICROS_PER_SEC = 1000000
local MICROS_PER_MILLI = 1000
-- Fields of a usage hash, in the order of `Counters`.
local FIELDS = {'requests', 'input_tokens', 'output_tokens', 'cached_tokens', 'spend_micros'}

-- Microseconds since the epoch by the Redis server's clock, so replicas with skewed clocks agree.
local function now_micros()
  local time = redis.call('TIME')
  return tonumber(time[1]) * MICROS_PER_SEC + tonumber(time[2])
end

-- Microseconds one unit of a `limit`-per-`window` allowance takes to come back.
local function interval_of(limit, window)
  return math.floor(window / math.max(limit, 1))
end

-- `gcra::take`: the new arrival time, or nil and the wait until the cost fits.
local function gcra_take(tat, now, limit, window, cost)
  local interval = interval_of(limit, window)
  -- A request larger than the whole allowance runs alone rather than never.
  cost = math.min(math.max(cost, 1), math.max(limit, 1))
  local new_tat = math.max(tat, now) + cost * interval
  local ahead = new_tat - now
  if ahead <= window then
    return new_tat, 0
  end
  return nil, ahead - window
end

-- `gcra::state`: units left now and microseconds until the bucket is full again.
local function gcra_state(tat, now, limit, window)
  local interval = math.max(interval_of(limit, window), 1)
  local ahead = math.max(tat - now, 0)
  local remaining = math.min(math.floor(math.max(window - ahead, 0) / interval), limit)
  return remaining, ahead
end

-- `gcra::adjust`: moves an arrival time by `delta` units; a refund never goes before now.
local function gcra_adjust(tat, now, limit, window, delta)
  local shift = interval_of(limit, window) * math.abs(delta)
  if delta >= 0 then
    return math.max(tat, now) + shift
  end
  return math.max(tat - shift, now)
end

-- A missing TAT key is a full bucket (arrival time 0, like a new bucket in memory).
local function read_tat(key)
  return tonumber(redis.call('GET', key) or '0')
end

-- Stores an arrival time until it passes: once the key expires the bucket is full again, so
-- idle buckets cost no memory.
local function write_tat(key, tat, now)
  local ttl_ms = math.ceil((tat - now) / MICROS_PER_MILLI)
  if ttl_ms <= 0 then
    redis.call('DEL', key)
  else
    -- %d, not tostring: tostring would print 1.8e+15.
    redis.call('SET', key, string.format('%d', tat), 'PX', ttl_ms)
  end
end

-- The spend key of the budget period containing now (`store::period_start`).
local function spend_key(base, period_secs, now)
  local now_secs = math.floor(now / MICROS_PER_SEC)
  local start = now_secs - now_secs % period_secs
  return base .. ':' .. string.format('%d', start), start
end

