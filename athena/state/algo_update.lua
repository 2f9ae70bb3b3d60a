-- Record or update one exchange-side stop (algo order) atomically.
-- A finished stop (effective, canceled, failed) is final: later reports never revive it.
-- An entry's stop is one record under its base algoClOrdId; growing it places a new version under
-- another id (ops/stops.versioned_id), named in the record's liveId field. A report about any other
-- version (the superseded one's "canceled" push) is ignored: it says nothing about the live stop.
-- KEYS: 1 algo hash, 2 working-algos set, 3 algoId->algoClOrdId index hash, 4 version alias key
--       (the liveId being written -> base; only when a liveId field is given)
-- ARGV: 1 algoClOrdId (base), 2 '1' if the reported state is working, 3 '1' = may create,
--       4 retention ms of a finished stop (0 = keep),
--       5 the exchange id a report is about ('' = not a report: no version check),
--       6.. field/value pairs to set (empty algoId is skipped: it never erases a known one)
-- Returns 1 if stored, 0 if ignored (final already, unknown and may not create, or another version).
local h, working, idx, alias = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local exists = redis.call('EXISTS', h) == 1
if not exists and ARGV[3] ~= '1' then
  return 0
end
if exists and redis.call('HGET', h, 'working') == '0' then
  return 0
end
if ARGV[5] ~= '' and exists then
  local live = redis.call('HGET', h, 'liveId')
  if not live or live == '' then live = ARGV[1] end
  if live ~= ARGV[5] then
    return 0
  end
end
for i = 6, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  if not (field == 'algoId' and value == '') then
    redis.call('HSET', h, field, value)
  end
  if field == 'liveId' and value ~= ARGV[1] and value ~= '' then
    if tonumber(ARGV[4]) > 0 then
      redis.call('SET', alias, ARGV[1], 'PX', ARGV[4])
    else
      redis.call('SET', alias, ARGV[1])
    end
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
