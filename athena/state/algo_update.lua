-- Record or update one exchange-side stop (algo order) atomically.
-- A finished stop (effective, canceled, failed) is final: later reports never revive it.
-- KEYS: 1 algo hash, 2 working-algos set, 3 algoId->algoClOrdId index hash
-- ARGV: 1 algoClOrdId, 2 '1' if the reported state is working, 3 '1' = may create,
--       4 retention ms of a finished stop (0 = keep),
--       5.. field/value pairs to set (empty algoId is skipped: it never erases a known one)
-- Returns 1 if stored, 0 if ignored (final already, or unknown and may not create).
local h, working, idx = KEYS[1], KEYS[2], KEYS[3]
local exists = redis.call('EXISTS', h) == 1
if not exists and ARGV[3] ~= '1' then
  return 0
end
if exists and redis.call('HGET', h, 'working') == '0' then
  return 0
end
for i = 5, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  if not (field == 'algoId' and value == '') then
    redis.call('HSET', h, field, value)
  end
end
redis.call('HSET', h, 'working', ARGV[2])
local algo_id = redis.call('HGET', h, 'algoId')
if algo_id and algo_id ~= '' then
  redis.call('HSET', idx, algo_id, ARGV[1])
end
if ARGV[2] == '1' then
  redis.call('SADD', working, ARGV[1])
else
  redis.call('SREM', working, ARGV[1])
  if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', h, ARGV[4]) end
end
return 1
