"""CapitalCommander: allocation, margin reservations, realised/unrealised PnL, equity, drawdown.

All state lives in Redis under `keys.capital` (Decimal strings), so any process sees it and a
restart continues where it left off. Every read-modify-write runs in a WATCH/MULTI transaction
(Decimal arithmetic stays in Python; Lua numbers are doubles), retried a bounded number of times.

Layout (base = keys.capital):
  base                     hash  hwm, hwm_ts, equity, equity_ts
  base:s:{strategy}        hash  reserved, pnl (gross realised), fees, funding, notional (open, at entry)
  base:strategies          set   strategy names seen
  base:res:{clOrdId}       hash  strategy, margin, sz, released, closed   (closed ones expire)
  base:open                set   clOrdIds with an open reservation
  base:pos:{s}|{inst}|{ps} hash  qty (signed contracts), avg, cpc (coin per contract), notional
  base:positions           set   "{s}|{inst}|{ps}" of every ledger position
  base:day:{YYYYMMDD}      hash  strategy -> net realised that UTC day, "_all" -> total
  base:fill:{fill_key}     str   marker: this fill was booked (on_fill is idempotent)
  base:funding:{billId}    str   marker: this funding bill was booked (on_funding is idempotent)
  base:errors              hash  clamps (releases that would have taken reserved below zero)
  base:clamps              list  the latest clamps (JSON: clOrdId, strategy, reserved, released, ts)

Conventions: fee and funding negative = paid; realised = pnl + fees + funding (net); free allocation =
allocation - reserved - open position margin (entry notional / leverage).

A transaction decides from one atomic read of every hash it writes (_READ, after WATCHing them):
reading the reservation and the strategy one after the other could see one before and one after
another process's release of the same reservation, and compute a second release from it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Any, TypeVar

from redis.exceptions import WatchError

from athena.config import Settings
from athena.domain.enums import PosSide
from athena.domain.instrument import Instrument
from athena.domain.ledger import EquityState, LedgerPosition
from athena.domain.money import ZERO, fmt
from athena.domain.orders import Fill
from athena.state.flags import Flag, known
from athena.state.keys import Keys
from athena.state.retention import DAY_PNL_RETENTION_S, FILL_RETENTION_S, ORDER_RETENTION_S
from athena.state.scripts import LuaScript

log = logging.getLogger(__name__)

Q = Decimal("0.00000001")  # ledger money scale: sums of quantised values stay exact
UNASSIGNED = "unassigned"  # strategy name for fills nobody claims (manual / flatten)
_ALL = "_all"
_TRIES = 200  # WATCH retries before giving up (bounded)
_CLAMPS_KEPT = 100  # details of the latest clamps kept for reconcile and status

T = TypeVar("T")

# Every capital hash a pre-trade decision reads, and the decision's switches (halt, pause:
# athena.state.flags), in one atomic round trip: the numbers a decision checks are one consistent state.
# KEYS: strategy-name set, position set, then one key per flag. ARGV: the strategy and position key
# prefixes (Keys), the number of configured strategies, their names, then per flag its hash field
# ('' = the key's existence).
_VIEW = LuaScript(
    """
local strat_prefix, pos_prefix = ARGV[1], ARGV[2]
local n = tonumber(ARGV[3])
local seen, strats = {}, {}
local function add(name)
  if not seen[name] then
    seen[name] = true
    table.insert(strats, name)
    table.insert(strats, redis.call('HGETALL', strat_prefix .. name))
  end
end
for i = 4, 3 + n do add(ARGV[i]) end
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do add(name) end
local pos = {}
for _, ident in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  table.insert(pos, ident)
  table.insert(pos, redis.call('HGETALL', pos_prefix .. ident))
end
local flags = {}
for i = 3, #KEYS do
  local field = ARGV[i + n + 1]
  if field == '' then
    flags[i - 2] = redis.call('EXISTS', KEYS[i])
  else
    flags[i - 2] = redis.call('HEXISTS', KEYS[i], field)
  end
end
return {strats, pos, flags}
""",
    "capital_view",
)
# reserve() against a view: write only if the strategy's reserved/notional are still what the view
# saw (compare-and-set in one round trip instead of WATCH, two reads and MULTI/EXEC).
_RESERVE_CAS = LuaScript(
    """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
local r = redis.call('HGET', KEYS[2], 'reserved') or ''
local n = redis.call('HGET', KEYS[2], 'notional') or ''
if r ~= ARGV[1] or n ~= ARGV[2] then return 'changed' end
redis.call('HSET', KEYS[1], 'strategy', ARGV[4], 'margin', ARGV[5], 'sz', ARGV[6],
           'released', '0', 'closed', '0')
redis.call('HSET', KEYS[2], 'reserved', ARGV[3])
redis.call('SADD', KEYS[3], ARGV[7])
redis.call('SADD', KEYS[4], ARGV[4])
return 'reserved'
""",
    "capital_reserve_cas",
)


# One atomic read of the keys a transaction depends on. ARGV[i]: 'h' = HGETALL, 'e' = EXISTS.
_READ = LuaScript(
    """
local out = {}
for i, key in ipairs(KEYS) do
  if ARGV[i] == 'e' then
    out[i] = redis.call('EXISTS', key)
  else
    out[i] = redis.call('HGETALL', key)
  end
end
return out
""",
    "capital_read",
)


# on_fill's snapshot: everything booking a fill reads, in one round trip. The strategy is the reservation's,
# else ARGV[3] (the fill's own); with neither ('') only the marker and the reservation are read, and
# on_fill decides in a WATCH transaction (finding the sole holder reads every position).
# KEYS: fill marker, reservation, day. ARGV: strategy and position key prefixes, fallback strategy, instId,
# posSide.
_FILL_VIEW = LuaScript(
    """
local booked = redis.call('EXISTS', KEYS[1])
local res = redis.call('HGETALL', KEYS[2])
local strategy = redis.call('HGET', KEYS[2], 'strategy')
if not strategy or strategy == '' then strategy = ARGV[3] end
if strategy == '' then return {booked, res, '', {}, {}, {}} end
local pos = redis.call('HGETALL', ARGV[2] .. strategy .. '|' .. ARGV[4] .. '|' .. ARGV[5])
local st = redis.call('HGETALL', ARGV[1] .. strategy)
return {booked, res, strategy, pos, st, redis.call('HGETALL', KEYS[3])}
""",
    "capital_fill_view",
)

# Compare-and-set for a write decided from a snapshot: nothing happens unless every key in `absent` is still
# absent ('booked') and every (key, field) in `checks` still holds the value the snapshot read ('changed');
# then every op runs. ARGV[1]: JSON {absent: [key index], checks: [[key index, field, value]],
# ops: [[command, key index, args...]]} (values as strings, '' = no such field).
_CAS_WRITE = LuaScript(
    """
local spec = cjson.decode(ARGV[1])
for _, ki in ipairs(spec.absent) do
  if redis.call('EXISTS', KEYS[ki]) == 1 then return 'booked' end
end
for _, c in ipairs(spec.checks) do
  local v = redis.call('HGET', KEYS[c[1]], c[2])
  if not v then v = '' end
  if v ~= c[3] then return 'changed' end
end
for _, op in ipairs(spec.ops) do
  local args = {op[1], KEYS[op[2]]}
  for i = 3, #op do args[#args + 1] = op[i] end
  redis.call(unpack(args))
end
return 'done'
""",
    "capital_cas_write",
)


class _Ops:
    """The pipeline methods booking a fill uses, recorded for _CAS_WRITE instead of sent (same signatures,
    so one piece of code writes a fill through either)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.ops: list[list[str]] = []

    def key(self, k: str) -> int:
        if k not in self.keys:
            self.keys.append(k)
        return self.keys.index(k) + 1  # Lua's KEYS are 1-based

    def _op(self, cmd: str, k: str, *args: Any) -> None:
        self.ops.append([cmd, self.key(k), *(str(a) for a in args)])  # type: ignore[list-item]

    def set(self, k: str, v: str, ex: int) -> None:
        self._op("SET", k, v, "EX", ex)

    def hset(
        self,
        k: str,
        field: str | None = None,
        value: str | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> None:
        pairs = [
            *(x for kv in (mapping or {}).items() for x in kv),
            *((field, value) if field is not None else ()),
        ]
        self._op("HSET", k, *pairs)

    def sadd(self, k: str, member: str) -> None:
        self._op("SADD", k, member)

    def srem(self, k: str, member: str) -> None:
        self._op("SREM", k, member)

    def expire(self, k: str, seconds: int) -> None:
        self._op("EXPIRE", k, seconds)

    def hincrby(self, k: str, field: str, n: int) -> None:
        self._op("HINCRBY", k, field, n)

    def lpush(self, k: str, v: str) -> None:
        self._op("LPUSH", k, v)

    def ltrim(self, k: str, start: int, end: int) -> None:
        self._op("LTRIM", k, start, end)


# audit(): every strategy's reserved and every open reservation, in one atomic read.
# KEYS: strategy-name set, open set. ARGV: the strategy and reservation key prefixes (Keys), then the
# configured strategy names.
_AUDIT = LuaScript(
    """
local strat_prefix, res_prefix = ARGV[1], ARGV[2]
local seen, strats = {}, {}
local function add(name)
  if not seen[name] then
    seen[name] = true
    table.insert(strats, name)
    table.insert(strats, redis.call('HGET', strat_prefix .. name, 'reserved') or '')
  end
end
for i = 3, #ARGV do add(ARGV[i]) end
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do add(name) end
local open = {}
for _, cl in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  table.insert(open, cl)
  table.insert(open, redis.call('HGETALL', res_prefix .. cl))
end
return {strats, open}
""",
    "capital_audit",
)


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {_s(flat[i]): _s(flat[i + 1]) for i in range(0, len(flat), 2)}


@dataclass(slots=True)
class _View:
    strats: dict[str, dict[str, str]]
    positions: dict[str, dict[str, str]]  # ident -> hash
    flags: tuple[bool, ...] = ()  # consistent_view's flags, in order


class CapitalBusy(RuntimeError):
    """A transaction lost the WATCH race too many times in a row."""


# -- results ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReserveResult:
    ok: bool
    code: str  # reserved | duplicate | released | insufficient | unknown_strategy
    clOrdId: str
    margin: Decimal
    free: Decimal  # free allocation before this reservation


@dataclass(frozen=True, slots=True)
class FillResult:
    applied: bool  # False when this fill_key was already booked
    strategy: str
    instId: str
    pnl: Decimal = ZERO  # gross realised by the closing part
    fee: Decimal = ZERO
    qty: Decimal = ZERO  # signed position after
    avg_px: Decimal | None = None
    released: Decimal = ZERO  # margin released proportionally

    @property
    def net(self) -> Decimal:
        return self.pnl + self.fee


@dataclass(frozen=True, slots=True)
class FundingResult:
    applied: bool  # False when this billId was already booked
    billId: str
    instId: str
    amount: Decimal
    shares: dict[str, Decimal] = field(default_factory=dict)  # strategy -> its part (they sum to amount)


@dataclass(frozen=True, slots=True)
class CapitalErrors:
    clamps: int  # releases that would have taken a strategy's reserved below zero (committed ones)
    recent: list[dict[str, Any]]  # the latest clamps' details, newest first

    def to_dict(self) -> dict[str, Any]:
        return {"clamps": self.clamps, "recent": self.recent}


@dataclass(frozen=True, slots=True)
class Unrealised:
    total: Decimal
    by_strategy: dict[str, Decimal]
    missing: tuple[str, ...]  # instIds with an open position but no mark (counted as nothing)


@dataclass(frozen=True, slots=True)
class StrategyCapital:
    name: str
    allocation: Decimal
    reserved: Decimal
    used_margin: Decimal
    free: Decimal
    realised: Decimal  # net of fees and funding
    fees: Decimal
    daily_realised: Decimal
    unrealised: Decimal
    funding: Decimal = ZERO  # funding fees booked (negative = paid)


@dataclass(frozen=True, slots=True)
class CapitalSnapshot:
    ts: int  # epoch ms
    day: str
    total_capital: Decimal
    realised: Decimal
    fees: Decimal
    unrealised: Decimal
    equity: Decimal
    hwm: Decimal
    drawdown: Decimal
    daily_realised: Decimal
    reserved: Decimal
    strategies: tuple[StrategyCapital, ...] = field(default_factory=tuple)
    missing_marks: tuple[str, ...] = ()
    funding: Decimal = ZERO  # funding fees booked (negative = paid), part of realised

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings."""

        def conv(v: Any) -> Any:
            if isinstance(v, Decimal):
                return fmt(v)
            if isinstance(v, tuple | list):
                return [conv(x) for x in v]
            if isinstance(v, StrategyCapital):
                return {k: conv(getattr(v, k)) for k in v.__dataclass_fields__}
            return v

        return {k: conv(getattr(self, k)) for k in self.__dataclass_fields__}


# -- helpers ---------------------------------------------------------------------------------------
def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))


def _h(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in raw.items()}


def _dec(raw: Mapping[str, str], name: str) -> Decimal:
    """A summed amount: absent means nothing summed yet."""
    v = raw.get(name, "")
    return Decimal(v) if v else ZERO


def _q(v: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    return v.quantize(Q, rounding=rounding)


def _sign(v: Decimal) -> int:
    return (v > 0) - (v < 0)


def apply_to_position(
    qty: Decimal, avg: Decimal | None, delta: Decimal, px: Decimal, cpc: Decimal
) -> tuple[Decimal, Decimal | None, Decimal]:
    """Pure ledger step. qty/delta signed contracts. Returns (qty', avg', gross pnl of the closing part)."""
    if qty == 0 or avg is None or _sign(qty) == _sign(delta):
        held = abs(qty) if avg is not None else ZERO
        new_qty = qty + delta
        new_avg = ((held * (avg or ZERO)) + abs(delta) * px) / (held + abs(delta))
        return new_qty, new_avg, ZERO
    closed = min(abs(qty), abs(delta))
    pnl = _q((px - avg) * closed * cpc * _sign(qty))
    new_qty = qty + delta
    if new_qty == 0:
        return new_qty, None, pnl
    if _sign(new_qty) != _sign(qty):  # flipped: the rest opens at px
        return new_qty, px, pnl
    return new_qty, avg, pnl


# -- the commander ---------------------------------------------------------------------------------
class CapitalCommander:
    def __init__(
        self, redis: Any, keys: Keys, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self._r = redis
        self._keys = keys
        self._base = keys.capital
        self._k_open = keys.capital_open
        self._k_positions = keys.capital_positions
        self._k_names = keys.capital_strategies
        self._k_errors = keys.capital_errors
        self._k_clamps = keys.capital_clamps
        self._p_strat, self._p_pos = (
            keys.capital_strategy(""),
            keys.capital_position(""),
        )  # for the Lua scripts
        self._settings = settings
        self._clock = clock
        self._strats = {s.name: s for s in settings.strategies}
        self._scope = threading.local()  # .view: the _View of the current consistent_view() block

    # -- configuration
    @property
    def total_capital(self) -> Decimal:
        return self._settings.total_capital

    def allocation(self, strategy: str) -> Decimal:
        s = self._strats.get(strategy)
        if s is None or not s.enabled:
            return ZERO
        return _q(self.total_capital * s.allocation, ROUND_DOWN)

    def leverage(self, strategy: str) -> Decimal:
        s = self._strats.get(strategy)
        cap = self._settings.risk.max_leverage
        return min(s.risk.leverage, cap) if s is not None else cap

    def day(self, ts_ms: int | None = None) -> str:
        sec = ts_ms / 1000 if ts_ms else self._clock()
        return datetime.fromtimestamp(sec, UTC).strftime("%Y%m%d")

    def strategies(self) -> list[str]:
        view = self._view()
        if view is not None:
            return sorted(view.strats)
        seen = {_s(x) for x in self._r.smembers(self._k_names)}
        return sorted(seen | set(self._strats))

    # -- one consistent read for a decision
    @contextmanager
    def consistent_view(self, flags: Sequence[Flag] = ()) -> Iterator[None]:
        """Reads in this block (this thread) come from one atomic snapshot of every capital hash,
        taken on first use: a pre-trade decision costs one round trip instead of nine, and its
        numbers (equity, free margin, exposure) all come from the same instant. reserve() inside
        the block writes only if the strategy's numbers are still those of the snapshot.
        flags (the halt, the strategy's pause): read in the same round trip, at once, and answered
        from it in the block (athena.state.flags.is_set)."""
        outer = getattr(self._scope, "active", False)
        self._scope.active = True
        try:
            if flags and not outer:
                view = self._fetch(flags)
                self._scope.view = view
                with known(dict(zip(flags, view.flags, strict=True))):
                    yield
            else:
                yield
        finally:
            if not outer:
                self._scope.active = False
                self._scope.view = None

    def _fetch(self, flags: Sequence[Flag] = ()) -> _View:
        strats, pos, *rest = _VIEW(
            self._r, [self._k_names, self._k_positions, *(f.key for f in flags)],
            [self._p_strat, self._p_pos, len(self._strats), *self._strats, *(f.field or "" for f in flags)],
        )  # fmt: skip
        got = rest[0] if rest else []
        return _View(
            {_s(strats[i]): _pairs(strats[i + 1]) for i in range(0, len(strats), 2)},
            {_s(pos[i]): _pairs(pos[i + 1]) for i in range(0, len(pos), 2)},
            tuple(bool(int(got[i])) if i < len(got) else False for i in range(len(flags))),
        )

    def _view(self) -> _View | None:
        if not getattr(self._scope, "active", False):
            return None
        view: _View | None = getattr(self._scope, "view", None)
        if view is None:
            view = self._scope.view = self._fetch()
        return view

    # -- transactions
    def _atomic(self, body: Callable[[Any], T]) -> T:
        """Run body(pipe) until its WATCHed keys were not changed by anyone else (bounded)."""
        for _ in range(_TRIES):
            with self._r.pipeline(transaction=True) as pipe:
                try:
                    return body(pipe)
                except WatchError:
                    continue
        raise CapitalBusy(f"capital transaction lost {_TRIES} WATCH races in a row")

    # -- reservations
    def _free_from(self, strategy: str, raw: Mapping[str, str]) -> Decimal:
        used = _dec(raw, "notional") / self.leverage(strategy)
        return _q(self.allocation(strategy) - _dec(raw, "reserved") - used, ROUND_DOWN)

    def reserve(
        self, strategy: str, clOrdId: str, margin: Decimal, sz: Decimal | None = None
    ) -> ReserveResult:
        """Reserve margin for an order about to be sent. Idempotent by clOrdId.

        sz (the order size) lets fills release the reservation proportionally.
        """
        if margin <= 0:
            raise ValueError(f"{clOrdId}: margin must be positive, got {margin}")
        margin = _q(margin, ROUND_UP)
        k_res, k_strat = self._keys.reservation(clOrdId), self._keys.capital_strategy(strategy)
        view = self._view()
        if view is not None:
            self._scope.view = None  # stale after this call (we write, or someone did): reads read again
            st = view.strats.get(strategy, {})
            free = self._free_from(strategy, st)
            if self.allocation(strategy) > 0 and margin <= free:
                reserved = _dec(st, "reserved") + margin
                done = _s(_RESERVE_CAS(
                    self._r, [k_res, k_strat, self._k_open, self._k_names],
                    [st.get("reserved", ""), st.get("notional", ""), fmt(reserved), strategy, fmt(margin),
                     fmt(sz) if sz else "", clOrdId],
                ))  # fmt: skip
                if done == "reserved":
                    return ReserveResult(True, "reserved", clOrdId, margin, free)
            # a refusal, a duplicate, or numbers that moved since the snapshot: decided on fresh reads

        def body(pipe: Any) -> ReserveResult:
            pipe.watch(k_res, k_strat)
            res, st = _h(pipe.hgetall(k_res)), _h(pipe.hgetall(k_strat))
            free = self._free_from(strategy, st)
            if res:
                code = "released" if res.get("closed") == "1" else "duplicate"
                return ReserveResult(code == "duplicate", code, clOrdId, Decimal(res["margin"]), free)
            if self.allocation(strategy) <= 0:
                return ReserveResult(False, "unknown_strategy", clOrdId, margin, free)
            if margin > free:
                return ReserveResult(False, "insufficient", clOrdId, margin, free)
            reserved = _dec(st, "reserved") + margin
            pipe.multi()
            pipe.hset(
                k_res,
                mapping={
                    "strategy": strategy,
                    "margin": fmt(margin),
                    "sz": fmt(sz) if sz else "",
                    "released": "0",
                    "closed": "0",
                },
            )
            pipe.hset(k_strat, "reserved", fmt(reserved))
            pipe.sadd(self._k_open, clOrdId)
            pipe.sadd(self._k_names, strategy)
            pipe.execute()
            return ReserveResult(True, "reserved", clOrdId, margin, free)

        return self._atomic(body)

    def release(self, clOrdId: str) -> Decimal:
        """Release what is left of a reservation (cancel / reject / fully filled). Exactly once:
        returns the amount released by this call, 0 when already released or unknown."""
        k_res = self._keys.reservation(clOrdId)
        clamped: list[Decimal] = []

        def body(pipe: Any) -> Decimal:
            clamped.clear()
            pipe.watch(k_res)
            strategy = _h(pipe.hgetall(k_res)).get("strategy")
            if strategy is None:
                return ZERO
            k_strat = self._keys.capital_strategy(strategy)
            pipe.watch(k_strat)
            raw_res, raw_st = _READ(pipe, [k_res, k_strat], ["h", "h"])
            res, st = _pairs(raw_res), _pairs(raw_st)
            if not res or res.get("closed") == "1":
                return ZERO
            margin, released = Decimal(res["margin"]), Decimal(res["released"])
            amount = margin - released
            pipe.multi()
            clamped.extend(
                self._queue_release(
                    pipe, clOrdId, strategy, _dec(st, "reserved") - amount, margin, closed=True
                )
            )
            pipe.execute()
            return amount

        amount = self._atomic(body)
        self._log_clamps(clOrdId, clamped)
        return amount

    def _queue_release(
        self, pipe: Any, cl: str, strategy: str, reserved: Decimal, released: Decimal, closed: bool
    ) -> list[Decimal]:
        """Queue a release's writes; returns [the negative reserved] when it had to be clamped (the
        clamp is counted, with its details, in the same transaction: only a committed one counts)."""
        clamped = []
        if reserved < 0:
            clamped.append(reserved)
            pipe.hincrby(self._k_errors, "clamps", 1)
            detail = {
                "clOrdId": cl,
                "strategy": strategy,
                "reserved": fmt(reserved),
                "released": fmt(released),
                "ts": int(self._clock() * 1000),
            }
            pipe.lpush(self._k_clamps, json.dumps(detail, sort_keys=True))
            pipe.ltrim(self._k_clamps, 0, _CLAMPS_KEPT - 1)
            reserved = ZERO
        k_res = self._keys.reservation(cl)
        pipe.hset(self._keys.capital_strategy(strategy), "reserved", fmt(reserved))
        pipe.hset(k_res, mapping={"released": fmt(released), "closed": "1" if closed else "0"})
        if closed:
            pipe.srem(self._k_open, cl)
            pipe.expire(k_res, ORDER_RETENTION_S)
        return clamped

    @staticmethod
    def _log_clamps(cl: str, clamped: list[Decimal]) -> None:
        for reserved in clamped:
            log.error(
                "capital: releasing %s would take reserved to %s; clamped to 0 and counted (see reconcile)",
                cl,
                reserved,
            )

    def errors(self) -> CapitalErrors:
        """Accounting errors counted so far: clamps, with the latest ones' details."""
        pipe = self._r.pipeline(transaction=False)
        pipe.hget(self._k_errors, "clamps")
        pipe.lrange(self._k_clamps, 0, _CLAMPS_KEPT - 1)
        count, recent = pipe.execute()
        return CapitalErrors(int(count or 0), [json.loads(_s(x)) for x in recent])

    def audit(self) -> list[dict[str, str]]:
        """Strategies whose reserved differs from what their open reservations still hold (a release
        counted twice, or never): empty when the books agree. One atomic read."""
        strats, opened = _AUDIT(
            self._r, [self._k_names, self._k_open], [self._p_strat, self._keys.reservation(""), *self._strats]
        )
        reserved = {_s(strats[i]): Decimal(_s(strats[i + 1]) or "0") for i in range(0, len(strats), 2)}
        held = dict.fromkeys(reserved, ZERO)
        for i in range(0, len(opened), 2):
            res = _pairs(opened[i + 1])
            if res and res.get("closed") != "1":
                held[res["strategy"]] = (
                    held.get(res["strategy"], ZERO) + Decimal(res["margin"]) - Decimal(res["released"])
                )
        return [
            {"strategy": n, "reserved": fmt(reserved.get(n, ZERO)), "held": fmt(held[n])}
            for n in sorted(held)
            if reserved.get(n, ZERO) != held[n]
        ]

    def reservation(self, clOrdId: str) -> dict[str, str]:
        return _h(self._r.hgetall(self._keys.reservation(clOrdId)))

    def open_reservations(self) -> list[str]:
        return sorted(_s(x) for x in self._r.smembers(self._k_open))

    # -- fills and PnL
    def on_fill(self, fill: Fill, instrument: Instrument) -> FillResult:
        """Book one fill delta: position, realised PnL with fees, daily PnL, proportional release.
        Idempotent by fill.fill_key.

        Two round trips when the fill's strategy is known (its reservation's, else the fill's own): one
        snapshot (_FILL_VIEW) and one compare-and-set write (_CAS_WRITE) of what was decided from it. When
        the snapshot is stale by the time of the write, or the strategy must be found among the positions,
        the same booking runs in a WATCH transaction."""
        if fill.instId != instrument.instId:
            raise ValueError(f"fill {fill.fill_key} is for {fill.instId}, instrument is {instrument.instId}")
        k_res = self._keys.reservation(fill.clOrdId)
        k_mark = self._keys.capital_fill(fill.fill_key)
        day = self.day(fill.ts or None)
        k_day = self._keys.capital_day(day)
        ps = str(fill.posSide or PosSide.NET)
        clamped: list[Decimal] = []

        booked, raw_res, got, raw_pos, raw_st, raw_day = _FILL_VIEW(
            self._r, [k_mark, k_res, k_day],
            [self._p_strat, self._p_pos, fill.strategy or "", fill.instId, ps],
        )  # fmt: skip
        strategy = _s(got)
        if strategy:
            if int(booked):
                return FillResult(False, strategy, fill.instId)
            res, pos, st, days = _pairs(raw_res), _pairs(raw_pos), _pairs(raw_st), _pairs(raw_day)
            k_pos, k_strat = (
                self._keys.capital_position(f"{strategy}|{fill.instId}|{ps}"),
                self._keys.capital_strategy(strategy),
            )
            ops = _Ops()
            result = self._book_fill(ops, fill, instrument, strategy, ps, res, pos, st, days, k_mark, k_pos,
                                     k_strat, k_day, clamped)  # fmt: skip
            checks = [
                *(
                    (ops.key(k_res), f, res.get(f, ""))
                    for f in ("strategy", "margin", "sz", "released", "closed")
                ),
                *((ops.key(k_pos), f, pos.get(f, "")) for f in ("qty", "avg", "notional")),
                *((ops.key(k_strat), f, st.get(f, "")) for f in ("pnl", "fees", "notional", "reserved")),
                *((ops.key(k_day), f, days.get(f, "")) for f in (strategy, _ALL)),
            ]
            spec = {"absent": [ops.key(k_mark)], "checks": checks, "ops": ops.ops}
            done = _s(_CAS_WRITE(self._r, ops.keys, [json.dumps(spec)]))
            if done == "done":
                self._log_clamps(fill.clOrdId, clamped)
                return result
            if done == "booked":
                return FillResult(False, strategy, fill.instId)
            clamped.clear()  # changed since the snapshot: decide again on WATCHed reads

        def body(pipe: Any) -> FillResult:
            clamped.clear()
            pipe.watch(k_mark, k_res, k_day)
            claimed = _h(pipe.hgetall(k_res)).get("strategy")
            # the reservation is authoritative; an unclaimed fill that reduces exactly one
            # strategy's position (flatten's close-position, a manual close) is that strategy's
            strategy = claimed or fill.strategy or self._sole_holder(fill) or UNASSIGNED
            if pipe.exists(k_mark):
                return FillResult(False, strategy, fill.instId)
            ident = f"{strategy}|{fill.instId}|{ps}"
            k_pos, k_strat = self._keys.capital_position(ident), self._keys.capital_strategy(strategy)
            pipe.watch(k_pos, k_strat)
            booked, *raw = _READ(pipe, [k_mark, k_res, k_pos, k_strat, k_day], ["e", "h", "h", "h", "h"])
            res, pos, st, days = (_pairs(flat) for flat in raw)
            if int(booked):
                return FillResult(False, strategy, fill.instId)
            if res.get("strategy") != claimed:
                raise WatchError("the reservation changed while the fill was being booked")  # decide again
            pipe.multi()
            result = self._book_fill(pipe, fill, instrument, strategy, ps, res, pos, st, days, k_mark, k_pos,
                                     k_strat, k_day, clamped)  # fmt: skip
            pipe.execute()
            return result

        result = self._atomic(body)
        self._log_clamps(fill.clOrdId, clamped)
        return result

    def _book_fill(
        self,
        w: Any,
        fill: Fill,
        instrument: Instrument,
        strategy: str,
        ps: str,
        res: Mapping[str, str],
        pos: Mapping[str, str],
        st: Mapping[str, str],
        days: Mapping[str, str],
        k_mark: str,
        k_pos: str,
        k_strat: str,
        k_day: str,
        clamped: list[Decimal],
    ) -> FillResult:
        """Decide a fill's booking from the hashes read and queue its writes on w (a MULTI pipeline,
        or _Ops)."""
        cpc = instrument.coin_per_contract
        qty = _dec(pos, "qty")
        avg = Decimal(pos["avg"]) if pos.get("avg") else None
        new_qty, new_avg, pnl = apply_to_position(qty, avg, fill.signed_sz, fill.fillPx, cpc)
        notional = _q(abs(new_qty) * (new_avg or ZERO) * cpc)
        net = pnl + fill.fee
        strat = {
            "pnl": fmt(_dec(st, "pnl") + pnl),
            "fees": fmt(_dec(st, "fees") + fill.fee),
            "notional": fmt(_dec(st, "notional") - _dec(pos, "notional") + notional),
        }
        released, release_args = self._proportional(fill, res, st)
        w.set(k_mark, "1", ex=FILL_RETENTION_S)
        w.hset(
            k_pos,
            mapping={
                "strategy": strategy, "instId": fill.instId, "posSide": ps,
                "qty": fmt(new_qty), "avg": str(new_avg) if new_avg is not None else "",
                "cpc": fmt(cpc), "notional": fmt(notional),
            },
        )  # fmt: skip
        w.sadd(self._k_positions, f"{strategy}|{fill.instId}|{ps}")
        w.sadd(self._k_names, strategy)
        w.hset(k_strat, mapping=strat)
        w.hset(k_day, mapping={strategy: fmt(_dec(days, strategy) + net), _ALL: fmt(_dec(days, _ALL) + net)})
        w.expire(k_day, DAY_PNL_RETENTION_S)
        if release_args is not None:
            clamped.extend(self._queue_release(w, fill.clOrdId, strategy, *release_args))
        return FillResult(True, strategy, fill.instId, pnl, fill.fee, new_qty, new_avg, released)

    def _sole_holder(self, fill: Fill) -> str | None:
        ps = str(fill.posSide or PosSide.NET)
        holders = [
            p.strategy for p in self.positions()
            if p.instId == fill.instId and p.posSide == ps and p.strategy != UNASSIGNED
            and p.qty != 0 and (p.qty > 0) != (fill.signed_sz > 0)
        ]  # fmt: skip
        return holders[0] if len(holders) == 1 else None

    def _proportional(
        self, fill: Fill, res: Mapping[str, str], st: Mapping[str, str]
    ) -> tuple[Decimal, tuple[Decimal, Decimal, bool] | None]:
        """Release margin * accFillSz / sz (cumulative target, so replays never over-release)."""
        if not res or res.get("closed") == "1" or not res.get("sz"):
            return ZERO, None
        margin, sz, released = Decimal(res["margin"]), Decimal(res["sz"]), Decimal(res["released"])
        done = fill.accFillSz >= sz
        target = margin if done else _q(margin * fill.accFillSz / sz, ROUND_DOWN)
        amount = target - released
        if amount <= 0 and not done:
            return ZERO, None  # a replayed or out-of-order smaller accFillSz: nothing more to release
        amount = max(amount, ZERO)
        return amount, (_dec(st, "reserved") - amount, target, done)

    # -- funding
    def funding_shares(self, instId: str, amount: Decimal) -> dict[str, Decimal]:
        """Who a funding charge on instId belongs to: the strategies holding it in the ledger, each in
        proportion to its signed position (they sum to the exchange's net position, whose notional was
        charged), the rounding remainder to the largest holder; UNASSIGNED when the ledger holds none."""
        held = [(p.strategy, p.qty) for p in self.positions() if p.instId == instId and p.qty != 0]
        net = sum((q for _, q in held), ZERO)
        if not held or net == 0:
            return {UNASSIGNED: amount}
        shares: dict[str, Decimal] = {}
        for strategy, qty in held:
            shares[strategy] = shares.get(strategy, ZERO) + _q(amount * qty / net)
        largest = max(held, key=lambda h: abs(h[1]))[0]
        shares[largest] += amount - sum(shares.values(), ZERO)
        return shares

    def on_funding(self, billId: str, instId: str, amount: Decimal, ts: int = 0) -> FundingResult:
        """Book one funding bill (OKX account bill of type 8) into realised PnL, the day's PnL and each
        holding strategy's share (funding_shares). Idempotent by billId."""
        k_mark = self._keys.capital_funding(billId)
        day = self.day(ts or None)
        k_day = self._keys.capital_day(day)
        shares = self.funding_shares(instId, amount)
        names = sorted(shares)
        k_strats = [self._keys.capital_strategy(s) for s in names]

        def body(pipe: Any) -> FundingResult:
            pipe.watch(k_mark, k_day, *k_strats)
            booked, days, *raw = _READ(pipe, [k_mark, k_day, *k_strats], ["e", "h", *(["h"] * len(k_strats))])
            if int(booked):
                return FundingResult(False, billId, instId, amount)
            daily = _pairs(days)
            pipe.multi()
            pipe.set(k_mark, "1", ex=FILL_RETENTION_S)
            for name, k_strat, flat in zip(names, k_strats, raw, strict=True):
                st = _pairs(flat)
                pipe.hset(k_strat, "funding", fmt(_dec(st, "funding") + shares[name]))
                pipe.sadd(self._k_names, name)
                daily[name] = fmt(_dec(daily, name) + shares[name])
            daily[_ALL] = fmt(_dec(daily, _ALL) + amount)
            pipe.hset(k_day, mapping=daily)
            pipe.expire(k_day, DAY_PNL_RETENTION_S)
            pipe.execute()
            return FundingResult(True, billId, instId, amount, shares)

        return self._atomic(body)

    def funding(self, strategy: str | None = None) -> Decimal:
        """Funding fees booked (negative = paid)."""
        names = [strategy] if strategy is not None else self.strategies()
        return sum((_dec(self._strat(s), "funding") for s in names), ZERO)

    # -- views
    def positions(self, strategy: str | None = None) -> list[LedgerPosition]:
        view = self._view()
        idents = (
            sorted(view.positions)
            if view is not None
            else sorted(_s(x) for x in self._r.smembers(self._k_positions))
        )
        if strategy is not None:
            idents = [i for i in idents if i.split("|", 1)[0] == strategy]
        if view is not None:
            raws = [view.positions[i] for i in idents]
        else:
            pipe = self._r.pipeline(transaction=False)
            for ident in idents:
                pipe.hgetall(self._keys.capital_position(ident))
            raws = [_h(r) for r in pipe.execute()]
        out = []
        for raw in raws:
            if not raw:
                continue
            out.append(
                LedgerPosition(
                    strategy=raw["strategy"], instId=raw["instId"], posSide=raw["posSide"],
                    qty=_dec(raw, "qty"), avg_px=Decimal(raw["avg"]) if raw.get("avg") else None,
                    coin_per_contract=Decimal(raw["cpc"]), notional=_dec(raw, "notional"),
                )
            )  # fmt: skip
        return out

    def position(self, instId: str, strategy: str | None = None) -> Decimal:
        """Signed contracts held in instId (by one strategy, or by all)."""
        return sum((p.qty for p in self.positions(strategy) if p.instId == instId), ZERO)

    def open_instruments(self) -> set[str]:
        return {p.instId for p in self.positions() if p.qty != 0}

    def _strat(self, strategy: str) -> dict[str, str]:
        view = self._view()
        if view is not None and strategy in view.strats:
            return view.strats[strategy]
        return _h(self._r.hgetall(self._keys.capital_strategy(strategy)))

    def reserved(self, strategy: str | None = None) -> Decimal:
        names = [strategy] if strategy is not None else self.strategies()
        return sum((_dec(self._strat(s), "reserved") for s in names), ZERO)

    def used_margin(self, strategy: str) -> Decimal:
        return _q(_dec(self._strat(strategy), "notional") / self.leverage(strategy))

    def free(self, strategy: str) -> Decimal:
        return self._free_from(strategy, self._strat(strategy))

    def fees(self, strategy: str | None = None) -> Decimal:
        names = [strategy] if strategy is not None else self.strategies()
        return sum((_dec(self._strat(s), "fees") for s in names), ZERO)

    def realised(self, strategy: str | None = None) -> Decimal:
        """Net realised PnL (fees and funding included)."""
        names = [strategy] if strategy is not None else self.strategies()
        return sum(
            (_dec(st, "pnl") + _dec(st, "fees") + _dec(st, "funding") for st in map(self._strat, names)), ZERO
        )

    def daily_realised(self, strategy: str | None = None, day: str | None = None) -> Decimal:
        raw = _h(self._r.hgetall(self._keys.capital_day(day or self.day())))
        return _dec(raw, strategy if strategy is not None else _ALL)

    def unrealised(self, marks: Mapping[str, Decimal]) -> Unrealised:
        by: dict[str, Decimal] = {}
        missing: set[str] = set()
        for p in self.positions():
            if p.qty == 0 or p.avg_px is None:
                continue
            mark = marks.get(p.instId)
            if mark is None:
                missing.add(p.instId)
                continue
            by[p.strategy] = by.get(p.strategy, ZERO) + _q((mark - p.avg_px) * p.qty * p.coin_per_contract)
        return Unrealised(sum(by.values(), ZERO), by, tuple(sorted(missing)))

    def gross_exposure(
        self, marks: Mapping[str, Decimal], ledger: list[LedgerPosition] | None = None
    ) -> Decimal:
        """Sum of |position| notional, at mark (entry price where no mark is known)."""
        total = ZERO
        for p in self.positions() if ledger is None else ledger:
            px = marks.get(p.instId) or p.avg_px
            if p.qty != 0 and px is not None:
                total += abs(p.qty) * p.coin_per_contract * px
        return total

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        return self.total_capital + self.realised() + self.unrealised(marks).total

    def update_equity(self, marks: Mapping[str, Decimal]) -> EquityState:
        """Compute equity, raise the high-water mark (only on complete marks), persist both."""
        u = self.unrealised(marks)
        equity = self.total_capital + self.realised() + u.total
        complete = not u.missing
        now = int(self._clock() * 1000)

        def body(pipe: Any) -> EquityState:
            pipe.watch(self._base)
            raw = _h(pipe.hgetall(self._base))
            hwm = Decimal(raw["hwm"]) if raw.get("hwm") else self.total_capital
            new = {"equity": fmt(equity), "equity_ts": str(now)}
            if complete and equity > hwm:
                hwm = equity
                new.update(hwm=fmt(hwm), hwm_ts=str(now))
            elif not raw.get("hwm"):
                new.update(hwm=fmt(hwm), hwm_ts=str(now))
            pipe.multi()
            pipe.hset(self._base, mapping=new)
            pipe.execute()
            dd = (hwm - equity) / hwm if hwm > 0 and equity < hwm else ZERO
            return EquityState(equity, hwm, dd, complete)

        return self._atomic(body)

    def high_water_mark(self) -> Decimal:
        raw = _s(self._r.hget(self._base, "hwm"))
        return Decimal(raw) if raw else self.total_capital

    def snapshot(self, marks: Mapping[str, Decimal] | None = None) -> CapitalSnapshot:
        marks = marks or {}
        eq = self.update_equity(marks)
        u = self.unrealised(marks)
        day = self.day()
        strategies = tuple(
            StrategyCapital(
                name=s, allocation=self.allocation(s), reserved=self.reserved(s),
                used_margin=self.used_margin(s),
                free=self.free(s), realised=self.realised(s), fees=self.fees(s),
                daily_realised=self.daily_realised(s, day), unrealised=u.by_strategy.get(s, ZERO),
                funding=self.funding(s),
            )
            for s in self.strategies()
        )  # fmt: skip
        return CapitalSnapshot(
            ts=int(self._clock() * 1000), day=day, total_capital=self.total_capital,
            realised=self.realised(), fees=self.fees(), unrealised=u.total, equity=eq.equity, hwm=eq.hwm,
            drawdown=eq.drawdown, daily_realised=self.daily_realised(day=day), reserved=self.reserved(),
            strategies=strategies, missing_marks=u.missing, funding=self.funding(),
        )  # fmt: skip
