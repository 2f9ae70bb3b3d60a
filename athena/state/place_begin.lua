-- The start of one placement attempt, in one round trip (it used to be five, ~1 ms of order latency).
-- KEYS: 1 lease, 2 fence, 3 order hash, 4 placing marker, 5 halt switch, 6 the order's capital reservation,
--       7 the strategy pause hash
-- ARGV: 1 owner, 2 lease ttl ms, 3 now ms, 4 marker ttl s, 5 the order's strategy ('' = none)
-- Returns {token, state, first_attempt, halted, reserved_by, reserved_sz, paused}: token 0 = the lease is held
-- by another writer (nothing else done); state false = no record of this clOrdId (no marker set
-- either); reserved_by/reserved_sz false = no reservation (no pre-trade pass recorded for it).
local token
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  if string.sub(cur, sep + 1) ~= ARGV[1] then
    return {0, false, 0, 0, false, false, 0}
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  token = tonumber(string.sub(cur, 1, sep - 1))
else
  token = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], token .. '|' .. ARGV[1], 'PX', ARGV[2])
end
local halted = redis.call('EXISTS', KEYS[5])
local paused = 0
if ARGV[5] ~= '' then
  paused = redis.call('HEXISTS', KEYS[7], ARGV[5])
end
local res = redis.call('HMGET', KEYS[6], 'strategy', 'sz')
local state = redis.call('HGET', KEYS[3], 'state')
if not state then
  return {token, false, 0, halted, res[1], res[2], paused}
end
-- the marker says "an attempt may have reached the exchange": set before the first send
local first = redis.call('SET', KEYS[4], ARGV[3], 'NX', 'EX', ARGV[4]) and 1 or 0
return {token, state, first, halted, res[1], res[2], paused}
