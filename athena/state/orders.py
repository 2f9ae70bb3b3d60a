"""OrderStore: every order in Redis under its clOrdId from the moment it is created (DESIGN rule 1),
and every update applied by one Lua script that never goes backwards (rule 2)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext

from redis import Redis

from athena.domain.enums import TERMINAL_RANK, OrderState
from athena.domain.money import ZERO, D
from athena.domain.orders import Order, OrderUpdate
from athena.state.keys import Keys
from athena.state.records import dec, decode, external_order_hash, opt_dec, order_from_hash, order_to_hash
from athena.state.scripts import LuaScript, s

log = logging.getLogger(__name__)

_APPLY = LuaScript.from_package("order_update.lua")
_CREATE = LuaScript.from_package("order_create.lua")

# fill_px of a delta that is not an exact decimal keeps this many digits beyond avgPx's.
EXTRA_PX_DIGITS = 8


@dataclass(frozen=True, slots=True)
class Transition:
    """What one apply() did. fill_sz > 0 exactly once per increase of accFillSz."""

    applied: bool  # anything stored changed (or the order was created)
    created: bool  # the order was unknown: placed outside Athena or before a restart
    state: OrderState
    prev_state: OrderState
    fill_sz: Decimal  # ZERO when this update carried no new fill
    fill_px: Decimal | None  # px of the fill_sz delta; None when nothing filled or px unknown
    acc_fill_sz: Decimal
    avg_px: Decimal | None
    order: Order

    @property
    def filled(self) -> bool:
        return self.fill_sz > ZERO

    @property
    def state_changed(self) -> bool:
        return self.state is not self.prev_state


def delta_px(acc0: Decimal, avg0: Decimal | None, acc1: Decimal, avg1: Decimal | None, fill_px: Decimal | None) -> Decimal | None:
    """Price of the fill between two cumulative (accFillSz, avgPx) points.

    (acc1*avg1 - acc0*avg0) / (acc1 - acc0), exact when the quotient is a finite decimal (so the
    fills' notionals add up to accFillSz*avgPx), otherwise rounded half-even to EXTRA_PX_DIGITS
    beyond avgPx's precision. Without the averages: the update's fillPx, else avgPx.
    Never raises: it runs after the Lua commit, and an exception there would lose the fill.
    """
    delta = acc1 - acc0
    if delta <= ZERO:
        return None
    if avg1 is not None and (avg0 is not None or acc0 == ZERO):
        try:
            return _average_delta_px(acc0, avg0 if avg0 is not None else ZERO, acc1, avg1)
        except ArithmeticError:
            log.exception("fill px from averages failed (acc %s->%s, avg %s->%s)", acc0, acc1, avg0, avg1)
    if fill_px is not None:
        return fill_px
    return avg1


def _average_delta_px(acc0: Decimal, avg0: Decimal, acc1: Decimal, avg1: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60  # all of it, products included, so 28-digit avgPx values stay exact
        ctx.clear_flags()
        px = (acc1 * avg1 - acc0 * avg0) / (acc1 - acc0)
        if not ctx.flags[Inexact]:
            return px
        exp = min(avg1.as_tuple().exponent, avg0.as_tuple().exponent if acc0 else avg1.as_tuple().exponent)
        assert isinstance(exp, int)
        return px.quantize(Decimal(1).scaleb(exp - EXTRA_PX_DIGITS))


# Finished orders stay in Redis this long (late reports still find them; the journal keeps them for good).
# Far beyond Celery's redelivery window, so a redelivered placement always finds its order.
DEFAULT_RETENTION_S = 7 * 24 * 3600


class OrderStore:
    """Orders of one account in Redis. Safe to share across threads and processes."""

    def __init__(self, redis: Redis, keys: Keys, retention_s: float = DEFAULT_RETENTION_S) -> None:
        self.redis = redis
        self.keys = keys
        self.retention_ms = max(0, int(retention_s * 1000))

    def create(self, order: Order) -> bool:
        """Record a new order atomically. False if its clOrdId is already recorded (a redelivered task)."""
        k = self.keys
        flat: list[str] = []
        for field, value in order_to_hash(order).items():
            flat += [field, value]
        working = "1" if order.state.is_working else "0"
        created = _CREATE(self.redis, [k.order(order.clOrdId), k.ord_id_index, k.working_orders], [order.clOrdId, order.ordId or "", working, self.retention_ms, *flat])
        return bool(int(created))

    def apply(self, update: OrderUpdate) -> Transition:
        """Apply one report from any source; idempotent and order-insensitive."""
        if not update.clOrdId:
            raise ValueError(f"order update without clOrdId (ordId {update.ordId!r}): map it to a clOrdId first")
        k = self.keys
        acc = update.accFillSz
        # avgPx/fee mean nothing without fills (OKX sends avgPx "0" or "" before the first fill)
        avg = update.avgPx if acc is not None and acc > ZERO else None
        create_items: list[str] = []
        for field, value in external_order_hash(update).items():
            create_items += [field, value]
        reply = _APPLY(
            self.redis,
            [k.order(update.clOrdId), k.ord_id_index, k.working_orders],
            [
                update.clOrdId,
                str(update.state),
                str(update.state.rank),
                str(TERMINAL_RANK),
                update.ordId or "",
                dec(acc),
                dec(avg),
                dec(update.fee) if acc is not None else "",
                str(update.uTime),
                str(self.retention_ms),
                str(len(create_items)),
                *create_items,
            ],
        )
        created, changed = bool(int(reply[0])), bool(int(reply[1]))
        prev_state = OrderState(s(reply[2]))
        acc0, avg0 = D(s(reply[3])), opt_dec(s(reply[4]))
        order = order_from_hash(decode(reply[6]))
        fill_sz = order.accFillSz - acc0
        if fill_sz > ZERO:
            fill_px = delta_px(acc0, avg0, order.accFillSz, order.avgPx, update.fillPx)
        else:
            fill_sz, fill_px = ZERO, None
        return Transition(
            applied=created or changed,
            created=created,
            state=order.state,
            prev_state=prev_state,
            fill_sz=fill_sz,
            fill_px=fill_px,
            acc_fill_sz=order.accFillSz,
            avg_px=order.avgPx,
            order=order,
        )

    # -- reads ------------------------------------------------------------------------------
    def get(self, clOrdId: str) -> Order | None:
        raw = self.redis.hgetall(self.keys.order(clOrdId))
        return order_from_hash(decode(raw)) if raw else None

    def by_ord_id(self, ordId: str) -> Order | None:
        cl = self.redis.hget(self.keys.ord_id_index, ordId)
        return self.get(s(cl)) if cl else None

    def cl_ord_id_of(self, ordId: str) -> str | None:
        cl = self.redis.hget(self.keys.ord_id_index, ordId)
        return s(cl) if cl else None

    def working(self, instId: str | None = None) -> list[Order]:
        """Non-terminal orders (optionally of one instrument), oldest first."""
        ids = sorted(s(x) for x in self.redis.smembers(self.keys.working_orders))
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for cl in ids:
            pipe.hgetall(self.keys.order(cl))
        out = [order_from_hash(decode(raw)) for raw in pipe.execute() if raw]
        if instId is not None:
            out = [o for o in out if o.instId == instId]
        out.sort(key=lambda o: (o.cTime, o.clOrdId))
        return out

    def prune_index(self, batch: int = 500) -> int:
        """Drop ordId index entries whose order has expired; returns how many. Run now and then (beat)."""
        removed, cursor = 0, 0
        for _ in range(100_000):  # bounded: HSCAN ends when the cursor returns to 0
            cursor, entries = self.redis.hscan(self.keys.ord_id_index, cursor, count=batch)
            pairs = [(s(o), s(c)) for o, c in entries.items()]
            if pairs:
                pipe = self.redis.pipeline(transaction=False)
                for _o, cl in pairs:
                    pipe.exists(self.keys.order(cl))
                gone = [o for (o, _c), alive in zip(pairs, pipe.execute(), strict=True) if not alive]
                if gone:
                    removed += int(self.redis.hdel(self.keys.ord_id_index, *gone))
            if int(cursor) == 0:
                break
        return removed

    def set_reason(self, clOrdId: str, reason: str) -> None:
        """Annotate an order (why it was rejected/cancelled); does not touch its state."""
        if self.redis.exists(self.keys.order(clOrdId)):
            self.redis.hset(self.keys.order(clOrdId), "reason", reason)
