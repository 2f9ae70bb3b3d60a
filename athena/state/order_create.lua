-- Record a new order atomically; a redelivered task finds it already there (rule 8, docs/DESIGN_RULES.md).
-- With a queued message (the placement task, as the broker's list holds it), the order and its
-- message are written together: an order recorded as sent was sent, and a duplicate queues nothing.
-- KEYS: 1 order hash, 2 ordId->clOrdId index hash, 3 working-orders set, 4 queue list (only read
--       when ARGV[5] is not '')
-- ARGV: 1 clOrdId, 2 ordId ('' if none), 3 '1' if working, 4 retention ms of a finished order
--       (0 = keep), 5 message to LPUSH onto KEYS[4] ('' = none), 6.. field/value pairs
-- Returns 1 if created, 0 if the clOrdId was already recorded.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
end
if ARGV[3] == '1' then
  redis.call('SADD', KEYS[3], ARGV[1])
elseif tonumber(ARGV[4]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
if ARGV[5] ~= '' then
  redis.call('LPUSH', KEYS[4], ARGV[5])
end
return 1
