"""PositionManager: the shadow ledger, reconciliation with the exchange, ghosts and protection.

The ledger is the expected signed size and average price per (instId, posSide), built only from
our fills (ORDER_FILLED, each fill_key booked once) and persisted in Redis, so a restart continues
where it stopped. It is never a local flag: the exchange wins (rule 5, docs/DESIGN_RULES.md) —
reconcile() forces the ledger to the exchange's size when they differ.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, cast

from redis import Redis
from redis.exceptions import WatchError

from athena import alerts
from athena.alerts import events as alert_events
from athena.bus import EventBus, EventType
from athena.domain import AlgoOrder, Fill, Instrument, Order, Position, PosSide, Side, TdMode
from athena.domain.money import ZERO, D, opt_D
from athena.oms.stops import is_entry
from athena.state.keys import Keys
from athena.state.scripts import LuaScript, s

log = logging.getLogger(__name__)

# Store a position report unless the stored one is newer (uTime is the last '|' part; ms fit a double).
_SNAPSHOT = LuaScript(
    """
local old = redis.call('HGET', KEYS[1], ARGV[1])
local ut = tonumber(ARGV[3]) or 0
if old and ut > 0 and (tonumber(string.match(old, '|([^|]*)$')) or 0) > ut then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
""",
    "position_snapshot",
)

KEEP_FILL_KEYS = 20_000  # booked fill_keys remembered per ledger (dedupe window)
MAX_WATCH_RETRIES = 50
PosKey = tuple[str, PosSide]
RedisMapping = dict[str | bytes, bytes | float | int | str]


class Journal(Protocol):
    def record_event(self, kind: str, message: str, data: dict[str, Any]) -> Any: ...


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    instId: str
    posSide: PosSide
    sz: Decimal  # signed: + long, - short (a SHORT posSide row is negative)
    avgPx: Decimal | None
    uTime: int = 0


@dataclass(frozen=True, slots=True)
class Drift:
    """Ledger vs exchange for one (instId, posSide). diff = exchange - ledger (signed)."""

    instId: str
    posSide: PosSide
    ledger_sz: Decimal
    exchange_sz: Decimal
    lotSz: Decimal
    corrected: bool

    @property
    def diff(self) -> Decimal:
        return self.exchange_sz - self.ledger_sz


@dataclass(frozen=True, slots=True)
class Ghosts:
    orders: list[Order]
    stops: list[AlgoOrder]


def next_avg(sz0: Decimal, avg0: Decimal | None, delta: Decimal, px: Decimal) -> Decimal | None:
    """Average entry price after adding signed `delta` at `px` to signed `sz0` at `avg0`."""
    sz1 = sz0 + delta
    if sz1 == ZERO:
        return None
    if sz0 == ZERO or (sz0 > ZERO) != (sz1 > ZERO):
        return px  # opened, or flipped through zero: the remainder opened at px
    if abs(sz1) < abs(sz0):
        return avg0  # reducing keeps the entry price
    if avg0 is None:
        return None  # unknown stays unknown: never invented
    return (abs(sz0) * avg0 + abs(delta) * px) / abs(sz1)


def closing_side(signed_sz: Decimal) -> Side:
    return Side.SELL if signed_sz > ZERO else Side.BUY


def _exchange_map(positions: Iterable[Position]) -> dict[PosKey, Position]:
    return {(p.instId, p.posSide): p for p in positions}


# A fill's push normally trails the exchange's position by milliseconds; a difference that outlives
# this is not in flight.
SETTLE_MS = 3_000


class PositionManager:
    def __init__(
        self,
        redis: Redis[bytes],
        keys: Keys,
        bus: EventBus,
        journal: Journal | None = None,
        instruments: Mapping[str, Instrument] | None = None,
        clock: Callable[[], float] = time.time,
        subscribe: bool = True,
        settle_ms: int = SETTLE_MS,
    ) -> None:
        self.redis = redis
        self.settle_ms = settle_ms
        self.keys = keys
        self.bus = bus
        self.journal = journal
        self.instruments: dict[str, Instrument] = dict(instruments or {})
        self.clock = clock
        if subscribe:
            bus.subscribe(EventType.ORDER_FILLED, self._on_fill_event)

    def _on_fill_event(self, fill: Fill) -> None:
        self.on_fill(fill)

    # -- keys -----------------------------------------------------------------------------------
    def _fills_key(self, instId: str, posSide: PosSide) -> str:
        return self.keys.ledger_fills(instId, str(posSide))

    @property
    def _index_key(self) -> str:
        return self.keys.ledgers

    @property
    def _snapshot_key(self) -> str:
        return self.keys.exchange_positions

    @property
    def _drift_key(self) -> str:
        return self.keys.ledger_drift

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- ledger -----------------------------------------------------------------------------
    def on_fill(self, fill: Fill) -> bool:
        """Book one fill (idempotent by fill_key). True if booked now, False if seen before."""
        key = self.keys.ledger(fill.instId, str(fill.posSide))
        fkey = self._fills_key(fill.instId, fill.posSide)
        for _ in range(MAX_WATCH_RETRIES):
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(key, fkey)
                    if pipe.zscore(fkey, fill.fill_key) is not None:
                        return False
                    cur = self._entry_from(
                        fill.instId, fill.posSide, cast(Mapping[Any, Any], pipe.hgetall(key))
                    )
                    sz1 = cur.sz + fill.signed_sz
                    avg1 = next_avg(cur.sz, cur.avgPx, fill.signed_sz, fill.fillPx)
                    pipe.multi()
                    pipe.hset(key, mapping=self._ledger_hash(sz1, avg1))
                    pipe.zadd(fkey, {fill.fill_key: self._now_ms()})
                    pipe.zremrangebyrank(fkey, 0, -KEEP_FILL_KEYS - 1)
                    pipe.sadd(self._index_key, f"{fill.instId}|{fill.posSide}")
                    pipe.execute()
                    return True
                except WatchError:
                    continue
        raise RuntimeError(f"ledger {fill.instId}/{fill.posSide}: too much contention")

    @staticmethod
    def _entry_from(instId: str, posSide: PosSide, raw: Mapping[Any, Any]) -> LedgerEntry:
        h = {s(k): s(v) for k, v in raw.items()}
        return LedgerEntry(
            instId=instId,
            posSide=posSide,
            sz=D(h.get("sz") or "0"),
            avgPx=opt_D(h.get("avgPx", "")),
            uTime=int(h.get("uTime") or 0),
        )

    def expected(self, instId: str, posSide: PosSide = PosSide.NET) -> LedgerEntry:
        return self._entry_from(instId, posSide, self.redis.hgetall(self.keys.ledger(instId, str(posSide))))

    def ledger(self) -> dict[PosKey, LedgerEntry]:
        out: dict[PosKey, LedgerEntry] = {}
        for member in sorted(s(m) for m in self.redis.smembers(self._index_key)):
            instId, _, side = member.partition("|")
            out[(instId, PosSide(side))] = self.expected(instId, PosSide(side))
        return out

    def _ledger_hash(self, sz: Decimal, avgPx: Decimal | None) -> RedisMapping:
        return {
            "sz": str(sz),
            "avgPx": "" if avgPx is None or sz == ZERO else str(avgPx),
            "uTime": str(self._now_ms()),
        }

    def _force(self, instId: str, posSide: PosSide, was: Decimal, sz: Decimal, avgPx: Decimal | None) -> bool:
        """Set the ledger to the exchange's value, unless a fill moved it since it was read (then
        the next reconcile decides again). True if written."""
        key = self.keys.ledger(instId, str(posSide))
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(key)
                cur = self._entry_from(instId, posSide, cast(Mapping[Any, Any], pipe.hgetall(key)))
                if cur.sz != was:
                    return False
                pipe.multi()
                pipe.hset(key, mapping=self._ledger_hash(sz, avgPx))
                pipe.sadd(self._index_key, f"{instId}|{posSide}")
                pipe.execute()
                return True
            except WatchError:
                return False

    # -- exchange snapshot ------------------------------------------------------------------
    def on_exchange_position(self, pos: Position) -> bool:
        """Keep the latest exchange report per (instId, posSide); an older uTime never replaces a newer
        one (atomic). True if stored."""
        avg = "" if pos.avgPx is None else str(pos.avgPx)
        value = f"{pos.pos}|{avg}|{pos.mgnMode}|{pos.uTime}"
        field = f"{pos.instId}|{pos.posSide}"
        return bool(int(_SNAPSHOT(self.redis, [self._snapshot_key], [field, value, pos.uTime])))

    def exchange_positions(self) -> list[Position]:
        out: list[Position] = []
        for field, raw in sorted((s(k), s(v)) for k, v in self.redis.hgetall(self._snapshot_key).items()):
            instId, _, side = field.partition("|")
            pos, avg, mgn, utime = raw.split("|")
            out.append(
                Position(
                    instId, PosSide(side), D(pos), opt_D(avg), mgnMode=TdMode(mgn), uTime=int(utime or 0)
                )
            )
        return out

    # -- reconcile (rule 5) ----------------------------------------------------------------
    def lot(self, instId: str) -> Decimal:
        inst = self.instruments.get(instId)
        return inst.lotSz if inst is not None else ZERO

    def reconcile(
        self, exchange_positions: Iterable[Position], in_flight: Collection[str] = ()
    ) -> list[Drift]:
        """Compare the ledger with the exchange (positions missing from the list are flat).

        Every difference is returned. The ledger is forced to the exchange only when the difference
        cannot be a fill still in flight: neither side changed for `settle_ms` (the exchange's
        position uTime and our last booking; a position missing from the list went flat at a time
        the list does not say, so only the next rule applies to it), or the same difference was
        first seen at least `settle_ms` ago (a real drift persists while fills come and go). Forcing
        on sight would race the push of a fill the exchange already counts, and that fill would then
        be counted twice. in_flight: instruments with a fill that may not be booked yet whatever the
        time says (an order the exchange has not acknowledged, a working order nobody has settled
        while the private socket may have missed its fill, a fill committed and not yet emitted):
        their differences are reported, never forced. Corrections are ERROR events and journal rows.
        """
        snapshot = _exchange_map(exchange_positions)
        for pos in snapshot.values():
            self.on_exchange_position(pos)
        ledger = self.ledger()
        previous = {s(k): s(v) for k, v in self.redis.hgetall(self._drift_key).items()}
        now = self._now_ms()
        drifts: list[Drift] = []
        seen_now: RedisMapping = {}
        for key in sorted(set(ledger) | set(snapshot)):
            instId, posSide = key
            entry = ledger.get(key)
            row = snapshot.get(key)
            ledger_sz = entry.sz if entry else ZERO
            exch_sz = row.signed if row else ZERO
            if ledger_sz == exch_sz:
                continue
            lot = self.lot(instId)
            diff = exch_sz - ledger_sz
            field = f"{instId}|{posSide}"
            last_change = max(entry.uTime if entry else 0, row.uTime if row else 0)
            quiet = row is not None and now - last_change >= self.settle_ms
            prev_diff, _, prev_ms = previous.get(field, "").partition("@")
            first_seen = int(prev_ms) if prev_diff == str(diff) and prev_ms.isdigit() else now
            persisted = now - first_seen >= self.settle_ms
            force = (quiet or persisted) and instId not in in_flight
            corrected = force and self._force(instId, posSide, ledger_sz, exch_sz, row.avgPx if row else None)
            if corrected:
                self._report(instId, posSide, ledger_sz, exch_sz, lot)
            elif not force:
                seen_now[field] = f"{diff}@{first_seen}"
            drifts.append(Drift(instId, posSide, ledger_sz, exch_sz, lot, corrected))
        pipe = self.redis.pipeline()
        pipe.delete(self._drift_key)
        if seen_now:
            pipe.hset(self._drift_key, mapping=seen_now)
        pipe.execute()
        return drifts

    def _report(
        self, instId: str, posSide: PosSide, ledger_sz: Decimal, exch_sz: Decimal, lot: Decimal
    ) -> None:
        msg = f"ledger {instId}/{posSide} was {ledger_sz}, exchange says {exch_sz}: corrected to the exchange"
        data = {
            "instId": instId,
            "posSide": str(posSide),
            "ledger_sz": str(ledger_sz),
            "exchange_sz": str(exch_sz),
            "lotSz": str(lot),
        }
        log.error(msg)
        self.bus.publish(EventType.ERROR, {"kind": "ledger_drift", "message": msg, **data})
        alerts.emit(alert_events.ledger_drift(instId, str(posSide), str(ledger_sz), str(exch_sz)))
        if self.journal is not None:
            try:
                self.journal.record_event("ledger_drift", msg, data)
            except Exception:
                log.exception("journal ledger_drift failed")

    # -- ghosts and protection -------------------------------------------------------------
    def ghost_orders(
        self,
        working_orders: Iterable[Order],
        working_stops: Iterable[AlgoOrder],
        exchange_positions: Iterable[Position],
        now_ms: int | None = None,
        min_age_ms: int = 0,
    ) -> Ghosts:
        """Reduce-only orders and stops with no position to reduce (flat, or the other direction).

        Entry orders are never ghosts. Anything younger than min_age_ms is spared (a fill may not
        have reached the position snapshot yet).
        """
        snapshot = _exchange_map(exchange_positions)
        now = self._now_ms() if now_ms is None else now_ms

        def nothing_to_reduce(instId: str, posSide: PosSide, side: Side) -> bool:
            pos = snapshot.get((instId, posSide))
            return pos is None or pos.is_flat or closing_side(pos.signed) is not side

        orders = [
            o
            for o in working_orders
            if o.state.is_working
            and not is_entry(o.req)
            and now - max(o.cTime, o.uTime) >= min_age_ms
            and nothing_to_reduce(o.instId, o.req.posSide, o.req.side)
        ]
        stops = [
            a
            for a in working_stops
            if a.state.is_working
            and now - a.uTime >= min_age_ms
            and nothing_to_reduce(a.instId, a.posSide, a.side)
        ]
        return Ghosts(orders, stops)

    @staticmethod
    def unprotected(
        exchange_positions: Iterable[Position], working_stops: Iterable[AlgoOrder]
    ) -> list[tuple[Position, Decimal]]:
        """Open positions whose working stops (closing side, same instId/posSide) cover less than
        their size, with the size that is covered. A stop on the whole position (closeFraction) covers it."""
        stops = [a for a in working_stops if a.state.is_working]
        out: list[tuple[Position, Decimal]] = []
        for pos in exchange_positions:
            if pos.is_flat:
                continue
            side = closing_side(pos.signed)
            covered = sum(
                (
                    a.covers(pos.pos)
                    for a in stops
                    if a.instId == pos.instId and a.posSide is pos.posSide and a.side is side
                ),
                ZERO,
            )
            if covered < abs(pos.pos):
                out.append((pos, covered))
        return out
