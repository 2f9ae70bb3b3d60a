-- Apply one order update atomically (rule 2, docs/DESIGN_RULES.md).
-- Never lowers the state rank (terminal states are final) nor accFillSz; avgPx and fee always
-- belong to the stored accFillSz. Numbers arrive and are stored as decimal strings; Lua doubles
-- are used only to COMPARE them (exact for <= 15 significant digits). Python does the arithmetic.
--
-- KEYS: 1 order hash, 2 ordId->clOrdId index hash, 3 working-orders set
-- ARGV: 1 clOrdId, 2 state, 3 rank, 4 terminal rank, 5 ordId, 6 accFillSz, 7 avgPx, 8 fee,
--       9 uTime, 10 retention ms of a finished order (0 = keep), 11 n = number of create items,
--       12..11+n field/value pairs used only when the order is unknown (placed outside Athena,
--       or before a restart),
--       12+n '1' = outbox on, 13+n outbox meta (JSON from Python: the update's fillPx, fillSz,
--       fillFee, tradeId, execType, uTime), 14+n claim token, 15+n claim TTL ms.
-- KEYS 4 (outbox stream) and 5 (claim key prefix) are used only when the outbox is on.
-- Outbox: when this update raised accFillSz or made the order terminal, the same atomic step appends
-- an entry to the outbox stream (the order snapshot, the fill's before/after points and the meta),
-- claimed for the caller; OrderManager emits it and deletes it. A crash after this script leaves
-- the entry for the next drain, so the fill's side effects are never lost (nor done twice).
-- Returns {created, changed, prev_state, prev_accFillSz, prev_avgPx, prev_fee, HGETALL after,
--          outbox entry id ('' if none), outbox entry field/value list, outbox length}.
local h, idx, working = KEYS[1], KEYS[2], KEYS[3]
local cl, state, rank, terminal = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ord_id, acc, avg, fee, utime = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local retention_ms = tonumber(ARGV[10])
local ncreate = tonumber(ARGV[11])

local created = 0
if redis.call('EXISTS', h) == 0 then
  local fields = {}
  for i = 12, 11 + ncreate do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', h, unpack(fields))
  created = 1
end

local old = redis.call('HMGET', h, 'state', 'rank', 'accFillSz', 'avgPx', 'fee', 'ordId', 'uTime')
local prev_state = old[1] or 'created'
local prev_rank = tonumber(old[2]) or 0
local prev_acc = old[3] or '0'
if prev_acc == '' then prev_acc = '0' end
local prev_avg = old[4] or ''
local prev_fee = old[5] or ''
local prev_ord_id = old[6] or ''
local prev_utime = tonumber(old[7]) or 0
local changed = 0
local filled = 0

if rank > prev_rank then
  redis.call('HSET', h, 'state', state, 'rank', ARGV[3])
  changed = 1
end

-- accFillSz only grows, even when the state part of this update is stale.
if acc ~= '' then
  local a_new, a_old = tonumber(acc), tonumber(prev_acc)
  if a_new > a_old then
    redis.call('HSET', h, 'accFillSz', acc, 'avgPx', avg, 'fee', fee)
    changed = 1
    filled = 1
  elseif a_new == a_old and a_new > 0 then
    -- same fill level: only fill in what was missing
    if prev_avg == '' and avg ~= '' then
      redis.call('HSET', h, 'avgPx', avg)
      changed = 1
    end
    if prev_fee == '' and fee ~= '' then
      redis.call('HSET', h, 'fee', fee)
      changed = 1
    end
  end
end

if prev_ord_id == '' and ord_id ~= '' then
  redis.call('HSET', h, 'ordId', ord_id)
  redis.call('HSET', idx, ord_id, cl)
  changed = 1
end

if (tonumber(utime) or 0) > prev_utime then
  redis.call('HSET', h, 'uTime', utime)
end

local final = 0
local new_rank = tonumber(redis.call('HGET', h, 'rank')) or 0
if new_rank >= terminal and prev_rank < terminal then final = 1 end

if new_rank >= terminal then
  redis.call('SREM', working, cl)
  -- finished orders leave Redis after the retention period (the journal keeps them)
  if retention_ms > 0 then redis.call('PEXPIRE', h, retention_ms) end
else
  redis.call('SADD', working, cl)
end

local all = redis.call('HGETALL', h)
local entry_id, entry, pending = '', {}, 0
local o = 12 + ncreate
if ARGV[o] == '1' and (filled == 1 or final == 1) then
  local snap = {}
  for i = 1, #all, 2 do snap[all[i]] = all[i + 1] end
  entry = {'clOrdId', cl, 'fill', tostring(filled), 'final', tostring(final), 'prev_state', prev_state,
           'acc0', prev_acc, 'avg0', prev_avg, 'fee0', prev_fee, 'order', cjson.encode(snap), 'meta', ARGV[o + 1]}
  entry_id = redis.call('XADD', KEYS[4], '*', unpack(entry))
  redis.call('SET', KEYS[5] .. entry_id, ARGV[o + 2], 'PX', ARGV[o + 3])
  pending = redis.call('XLEN', KEYS[4])
end

return {created, changed, prev_state, prev_acc, prev_avg, prev_fee, all, entry_id, entry, pending}
