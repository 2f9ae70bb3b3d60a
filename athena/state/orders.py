"""OrderStore: every order in Redis under its clOrdId from the moment it is created, and every update
applied by one Lua script that never goes backwards (rules 1 and 2, docs/DESIGN_RULES.md)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext
from typing import Any

import orjson
from redis import Redis

from athena.domain.enums import TERMINAL_RANK, OrderState
from athena.domain.money import ZERO, D
from athena.domain.orders import Order, OrderUpdate
from athena.state.indexes import prune_index
from athena.state.keys import Keys
from athena.state.records import dec, decode, external_order_hash, opt_dec, order_from_hash, order_to_hash
from athena.state.retention import ORDER_RETENTION_S
from athena.state.scripts import LuaScript, s

log = logging.getLogger(__name__)

_APPLY = LuaScript.from_package("order_update.lua")
_CREATE = LuaScript.from_package("order_create.lua")
# Claim an outbox entry only while it still exists: a drainer holding a stale listing must not
# re-take an entry another drainer has just emitted and deleted (its claim is gone with it).
_CLAIM = LuaScript(
    """
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return 0 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
return 0
""",
    "outbox_claim",
)

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
    outbox: OutboxEntry | None = None  # the side effects to emit (apply(..., outbox=True) only)
    outbox_pending: int = 0  # outbox length right after this apply (>1: others are waiting)

    @property
    def filled(self) -> bool:
        return self.fill_sz > ZERO

    @property
    def state_changed(self) -> bool:
        return self.state is not self.prev_state


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One transition's side effects still to emit: a fill delta and/or the order becoming final.

    Written by the same Lua step that committed the transition, so it exists iff the transition does.
    The fill is rebuilt from the cumulative points exactly as Transition computes it.
    """

    id: str
    clOrdId: str
    fill: bool
    final: bool
    prev_state: OrderState
    acc0: Decimal
    avg0: Decimal | None
    order: Order  # the order right after the transition
    fill_px_hint: Decimal | None  # the update's fillPx
    fill_sz_hint: Decimal | None  # the update's fillSz
    fill_fee: Decimal | None
    tradeId: str
    execType: str
    uTime: int
    fee0: Decimal | None = None  # cumulative fee before this delta ('' in Redis: unknown)
    fee1: Decimal | None = None  # cumulative fee after it

    @property
    def fill_sz(self) -> Decimal:
        return self.order.accFillSz - self.acc0 if self.fill else ZERO

    @property
    def fill_px(self) -> Decimal | None:
        if not self.fill:
            return None
        return delta_px(self.acc0, self.avg0, self.order.accFillSz, self.order.avgPx, self.fill_px_hint)

    @property
    def fee(self) -> Decimal:
        """This delta's fee: the update's fillFee when it describes exactly this delta, else the rise
        of the cumulative fee (a REST query or a push that covers several trades has no per-trade
        fee: taking 0 there would leave those trades' fees out of capital), else 0."""
        if not self.fill:
            return ZERO
        if self.fill_fee is not None and self.fill_sz_hint == self.fill_sz:
            return self.fill_fee
        fee0 = ZERO if self.acc0 == ZERO else self.fee0
        if self.fee1 is not None and fee0 is not None:
            return self.fee1 - fee0
        return ZERO

    @classmethod
    def parse(cls, entry_id: str, fields: Mapping[Any, Any] | list[Any]) -> OutboxEntry:
        f = decode(fields)
        meta = orjson.loads(f.get("meta") or "{}")
        snap = orjson.loads(f["order"])

        def opt(name: str) -> Decimal | None:
            raw = meta.get(name)
            return None if raw in (None, "") else D(str(raw))

        return cls(
            id=entry_id,
            clOrdId=f["clOrdId"],
            fill=f.get("fill") == "1",
            final=f.get("final") == "1",
            prev_state=OrderState(f.get("prev_state") or "created"),
            acc0=D(f.get("acc0") or "0"),
            avg0=opt_dec(f.get("avg0", "")),
            order=order_from_hash({str(k): str(v) for k, v in snap.items()}),
            fill_px_hint=opt("fillPx"),
            fill_sz_hint=opt("fillSz"),
            fill_fee=opt("fillFee"),
            tradeId=str(meta.get("tradeId") or ""),
            execType=str(meta.get("execType") or ""),
            uTime=int(meta.get("uTime") or 0),
            fee0=opt_dec(f.get("fee0", "")),
            fee1=opt_dec(str(snap.get("fee", ""))),
        )


def _outbox_meta(u: OrderUpdate) -> str:
    return orjson.dumps(
        {
            "fillPx": dec(u.fillPx),
            "fillSz": dec(u.fillSz),
            "fillFee": dec(u.fillFee),
            "tradeId": u.tradeId or "",
            "execType": u.execType or "",
            "uTime": u.uTime,
        }
    ).decode()


DEFAULT_CLAIM_TTL_S = (
    120.0  # an emitter that is silent this long is presumed dead; its entries are re-emitted
)


def delta_px(
    acc0: Decimal, avg0: Decimal | None, acc1: Decimal, avg1: Decimal | None, fill_px: Decimal | None
) -> Decimal | None:
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


class OrderStore:
    """Orders of one account in Redis. Safe to share across threads and processes."""

    def __init__(self, redis: Redis, keys: Keys, retention_s: float = ORDER_RETENTION_S) -> None:
        self.redis = redis
        self.keys = keys
        self.retention_ms = max(0, int(retention_s * 1000))

    def create(self, order: Order, enqueue: tuple[str, str] | None = None) -> bool:
        """Record a new order atomically. False if its clOrdId is already recorded (a redelivered task).
        enqueue: (list key, message) LPUSHed in the same step when the order is new (its placement
        task, on a broker that is this Redis)."""
        k = self.keys
        flat: list[str] = []
        for field, value in order_to_hash(order).items():
            flat += [field, value]
        working = "1" if order.state.is_working else "0"
        queue, message = enqueue or (k.working_orders, "")  # KEYS[4] is not touched without a message
        created = _CREATE(
            self.redis, [k.order(order.clOrdId), k.ord_id_index, k.working_orders, queue],
            [order.clOrdId, order.ordId or "", working, self.retention_ms, message, *flat],
        )  # fmt: skip
        return bool(int(created))

    def apply(
        self,
        update: OrderUpdate,
        outbox: bool = False,
        claim: str = "",
        claim_ttl_s: float = DEFAULT_CLAIM_TTL_S,
    ) -> Transition:
        """Apply one report from any source; idempotent and order-insensitive.

        outbox=True: a fill delta or a final state also appends an OutboxEntry in the same atomic
        step, claimed by `claim` for claim_ttl_s (OrderManager emits it, then ack_outbox)."""
        if not update.clOrdId:
            raise ValueError(
                f"order update without clOrdId (ordId {update.ordId!r}): map it to a clOrdId first"
            )
        k = self.keys
        acc = update.accFillSz
        # avgPx/fee mean nothing without fills (OKX sends avgPx "0" or "" before the first fill)
        avg = update.avgPx if acc is not None and acc > ZERO else None
        create_items: list[str] = []
        for field, value in external_order_hash(update).items():
            create_items += [field, value]
        reply = _APPLY(
            self.redis,
            [k.order(update.clOrdId), k.ord_id_index, k.working_orders, k.fill_outbox, k.outbox_claim("")],
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
                "1" if outbox else "0",
                _outbox_meta(update) if outbox else "",
                claim or "-",
                str(max(1, int(claim_ttl_s * 1000))),
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
            outbox=OutboxEntry.parse(s(reply[7]), reply[8]) if s(reply[7]) else None,
            outbox_pending=int(reply[9]),
        )

    # -- outbox -----------------------------------------------------------------------------
    def outbox(self, count: int = 100, after: str = "-") -> list[OutboxEntry]:
        """Entries not yet emitted, oldest first (from `after`, exclusive when given)."""
        start = after if after == "-" else "(" + after
        return [
            OutboxEntry.parse(s(i), f)
            for i, f in self.redis.xrange(self.keys.fill_outbox, start, "+", count=count)
        ]

    def outbox_length(self) -> int:
        return int(self.redis.xlen(self.keys.fill_outbox))

    def claim_outbox(self, entry_id: str, owner: str, ttl_s: float = DEFAULT_CLAIM_TTL_S) -> bool:
        """Take one entry for emission; False when it is gone (emitted) or another live emitter holds it."""
        k = self.keys
        return bool(
            int(
                _CLAIM(
                    self.redis,
                    [k.fill_outbox, k.outbox_claim(entry_id)],
                    [entry_id, owner, max(1, int(ttl_s * 1000))],
                )
            )
        )

    def ack_outbox(self, entry_id: str) -> None:
        """The entry's side effects are done: delete it and its claim."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xdel(self.keys.fill_outbox, entry_id)
        pipe.delete(self.keys.outbox_claim(entry_id))
        pipe.execute()

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

    def prune_index(self) -> int:
        """Drop ordId index entries whose order has expired; returns how many (athena.prune_indexes)."""
        return prune_index(self.redis, self.keys.ord_id_index, self.keys.order)

    def set_reason(self, clOrdId: str, reason: str) -> None:
        """Annotate an order (why it was rejected/cancelled); does not touch its state."""
        if self.redis.exists(self.keys.order(clOrdId)):
            self.redis.hset(self.keys.order(clOrdId), "reason", reason)
