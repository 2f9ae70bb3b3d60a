"""OrderManager: the lifecycle of our orders, on top of OrderStore's monotonic transitions.
The rules cited are those of docs/DESIGN_RULES.md.

- clOrdId first (rule 1): the order is recorded CREATED in Redis before anything is sent; a
  redelivered request finds it and sends nothing.
- Every report (REST ack, WS push, sync) goes through OrderStore.apply (rule 2): each fill delta is
  published, journaled and covered by a stop exactly once (rule 3).
- Unknown is a state (rule 8): an order whose send outcome is unknown is AMBIGUOUS until the
  exchange, asked by clOrdId, settles it; it is never re-sent under another id.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from athena import alerts
from athena.alerts import events as alert_events
from athena.bus import EventBus, EventType
from athena.domain import (
    AlgoOrder,
    Fill,
    Order,
    OrderRequest,
    OrderState,
    OrderUpdate,
    OrdType,
    Position,
    PosSide,
    valid_cl_ord_id,
)
from athena.domain.money import ZERO
from athena.oms.sender import OrderSender
from athena.oms.stops import (
    StopAction,
    StopPlan,
    StopRequest,
    alnum,
    fit_stops,
    inst_code,
    plan_stop,
    stop_id_for,
    stop_owner,
)
from athena.state.orders import DEFAULT_CLAIM_TTL_S, OrderStore, OutboxEntry, Transition
from athena.state.retention import ORDER_RETENTION_S

log = logging.getLogger(__name__)

MAX_CL_ORD_ID = 30  # OKX allows 32; 30 leaves room for the stop prefix (stop_id_for)
AMBIGUITY_WINDOW_S = 10.0  # how long the exchange may take before "not found" means "never arrived"
MAX_RESENDS = 3


class DuplicateIntentError(RuntimeError):
    """A clOrdId already recorded for a different request: two intents collided on one id."""


class AlgoBook(Protocol):
    """The part of athena.state's AlgoStore the OMS needs (requested stops, by algoClOrdId)."""

    def get(self, algoClOrdId: str) -> AlgoOrder | None: ...

    def record(self, algo: AlgoOrder) -> bool: ...

    def working(self, instId: str | None = None) -> list[AlgoOrder]: ...


class Journal(Protocol):
    def upsert_order(self, order: Order) -> Any: ...

    def record_fill(self, fill: Fill) -> bool: ...

    def record_event(self, kind: str, message: str, data: dict[str, Any]) -> Any: ...


def new_cl_ord_id(strategy: str, seq: int | str, instId: str = "") -> str:
    """Deterministic clOrdId of one intent: strategy + instrument code + intent sequence.

    The same (strategy, seq, instId) always gives the same id, so a retried or redelivered request
    maps to the same order. Too long -> strategy prefix + a digest of the whole intent.
    """
    strat, code, sq = alnum(strategy), inst_code(instId), alnum(str(seq))
    if not strat or not sq:
        raise ValueError(f"clOrdId needs a strategy and a sequence, got {strategy!r}, {seq!r}")
    cand = f"{strat}{code}{sq}"
    if len(cand) <= MAX_CL_ORD_ID:
        return cand
    digest = hashlib.blake2b(f"{strategy}|{instId}|{seq}".encode(), digest_size=16).hexdigest()
    return (strat[:12] + "h" + digest)[:MAX_CL_ORD_ID]


@dataclass(frozen=True, slots=True)
class Resolution:
    """What resolve_ambiguous did: settled by the exchange, waiting, re-sent, or given up."""

    outcome: str  # "settled" | "wait" | "resent" | "rejected" | "not_ambiguous" | "unknown"
    order: Order | None
    transition: Transition | None = None

    @property
    def status(self) -> str:
        """Alias of outcome (athena.ops.reconcile reports it under this name)."""
        return self.outcome


SEQ_BLOCK = 64  # intent numbers reserved per Redis round trip


class OrderManager:
    """One account's orders. Call on_update from one thread (the dispatcher) or from idempotent tasks:
    every write goes through OrderStore's atomic scripts, so concurrent callers cannot double a fill."""

    def __init__(
        self,
        store: OrderStore,
        bus: EventBus,
        sender: OrderSender,
        journal: Journal | None = None,
        clock: Callable[[], float] = time.time,
        algos: AlgoBook | None = None,
        ambiguity_window_s: float = AMBIGUITY_WINDOW_S,
        max_resends: int = MAX_RESENDS,
        claim_ttl_s: float = DEFAULT_CLAIM_TTL_S,
    ) -> None:
        self.store = store
        self.bus = bus
        self.sender = sender
        self.journal = journal
        self.clock = clock
        self.algos = algos
        self.ambiguity_window_s = ambiguity_window_s
        self.max_resends = max_resends
        self.claim_ttl_s = claim_ttl_s
        # Set by the stream worker's dispatcher: where the journal rows of non-terminal updates go, to be
        # written when no event is waiting (StreamService). The row is a record, Redis holds the order, and
        # upsert_order never moves a row backwards, so a late row cannot undo a newer one. None: at once.
        self.defer_journal: Callable[[Callable[[], None]], None] | None = None
        self._owner = uuid.uuid4().hex  # names this manager's outbox claims
        self._seq_blocks: dict[
            tuple[str, str], tuple[int, int]
        ] = {}  # (strategy, instId) -> (next, last) reserved
        self._seq_lock = threading.Lock()

    # -- ids -------------------------------------------------------------------------------
    @staticmethod
    def new_cl_ord_id(strategy: str, seq: int | str, instId: str = "") -> str:
        return new_cl_ord_id(strategy, seq, instId)

    def next_seq(self, strategy: str, instId: str = "") -> int:
        """A fresh intent sequence number, never handed out before, also across restarts and by other
        processes: numbers are reserved from Redis in blocks (INCRBY SEQ_BLOCK) and handed out from
        memory, so a decision costs no round trip for its id. A restart skips the rest of its block."""
        key = (strategy, instId)
        with self._seq_lock:
            nxt, end = self._seq_blocks.get(key, (1, 0))
            if nxt > end:
                end = int(self.store.redis.incrby(self.store.keys.intent_seq(strategy, instId), SEQ_BLOCK))
                nxt = end - SEQ_BLOCK + 1
            self._seq_blocks[key] = (nxt + 1, end)
            return nxt

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- placing -----------------------------------------------------------------------------
    def submit(self, req: OrderRequest) -> Order:
        """Record the order, send it. A redelivered request sends nothing.
        With a sender that offers order_message (its queue is in this Redis), the record (SENT) and
        the task go in one atomic step; else the order is recorded CREATED, sent, then marked SENT.

        If the sender raises, the outcome is unknown: the order is marked AMBIGUOUS and returned.
        """
        now = self._now_ms()
        # A sender whose queue is in this Redis hands over its message: the record and the task are
        # written in one atomic step (one round trip; "recorded, then lost before the send" cannot happen).
        order_message = getattr(self.sender, "order_message", None)
        message = order_message(req, self.store.redis) if order_message is not None else None
        order = Order(req=req, state=OrderState.SENT if message else OrderState.CREATED, cTime=now, uTime=now)
        if not self.store.create(order, enqueue=message):
            existing = self.store.get(req.clOrdId)
            if existing is None:  # deleted between the two calls: nothing sane to do but refuse
                raise DuplicateIntentError(f"{req.clOrdId}: recorded and gone")
            self._check_same_intent(existing, req)
            log.info("submit %s: already recorded (%s), not sent again", req.clOrdId, existing.state)
            return existing
        if message is not None:
            self._journal_soon(order)
            return order
        # The journal (a SQLite write, slower than the send itself) is written after the send: Redis
        # already holds the order (rule 1), and the durable copy must not delay the order on the wire.
        try:
            self.sender.send_order(req)
        except Exception as exc:
            log.exception("send_order %s failed: outcome unknown", req.clOrdId)
            self._journal("upsert_order", order)
            self._error(
                "send_failed", f"{req.clOrdId}: send failed, order ambiguous: {exc}", {"clOrdId": req.clOrdId}
            )
            return self.mark_ambiguous(req.clOrdId).order
        sent = self._apply_local(req, OrderState.SENT).order
        self._journal_soon(sent)
        return sent

    @staticmethod
    def _check_same_intent(existing: Order, req: OrderRequest) -> None:
        a = existing.req
        if existing.reason == "external":  # recorded from an exchange report: compare what it told
            same = a.instId == req.instId and (a.side is req.side)
        else:
            same = (a.instId, a.side, a.sz, a.posSide, a.reduceOnly, a.ordType) == (
                req.instId,
                req.side,
                req.sz,
                req.posSide,
                req.reduceOnly,
                req.ordType,
            )
        if not same:
            raise DuplicateIntentError(f"clOrdId {req.clOrdId} already names a different order")

    def _apply_local(self, req: OrderRequest, state: OrderState) -> Transition:
        return self.store.apply(
            OrderUpdate(
                clOrdId=req.clOrdId, instId=req.instId, state=state, uTime=self._now_ms(), source="local"
            )
        )

    def cancel(self, clOrdId: str) -> bool:
        """Ask the exchange to cancel a working order. False if unknown or already final."""
        order = self.store.get(clOrdId)
        if order is None or order.state.is_terminal:
            return False
        self.sender.send_cancel(order.instId, clOrdId)
        return True

    def get(self, clOrdId: str) -> Order | None:
        return self.store.get(clOrdId)

    def working(self, instId: str | None = None) -> list[Order]:
        return self.store.working(instId)

    # -- reports -----------------------------------------------------------------------------
    def resolve(self, update: OrderUpdate) -> OrderUpdate:
        """Give an update its clOrdId: by clOrdId first, else ordId through the index, else a
        synthetic id for an order placed outside Athena (x + ordId)."""
        if update.clOrdId:
            return update
        if update.algoClOrdId and valid_cl_ord_id(update.algoClOrdId):
            # The order a triggered exchange stop created: keyed by the stop's id, booked to the
            # strategy that owns the stop (so capital, the ledger and the strategy see its fill).
            self._adopt_stop_order(update)
            return _with_cl_ord_id(update, update.algoClOrdId)
        if update.ordId:
            cl = self.store.cl_ord_id_of(update.ordId)
            synthetic = cl or ("x" + alnum(update.ordId))[:32]
            if valid_cl_ord_id(synthetic):
                return _with_cl_ord_id(update, synthetic)
        raise ValueError(f"order update without clOrdId or ordId: {update!r}")

    def _adopt_stop_order(self, update: OrderUpdate) -> None:
        cl = update.algoClOrdId
        sz = update.sz if update.sz is not None and update.sz > ZERO else update.accFillSz
        if self.store.get(cl) is not None or update.side is None or sz is None or sz <= ZERO:
            return  # known already, or too little said to build a request: recorded as external
        owner = stop_owner(self.store.redis, self.store.keys, cl)
        req = OrderRequest(
            clOrdId=cl,
            instId=update.instId,
            side=update.side,
            ordType=update.ordType or OrdType.MARKET,
            sz=sz,
            px=update.px if (update.ordType or OrdType.MARKET).needs_px else None,
            posSide=update.posSide or PosSide.NET,
            reduceOnly=True,
            strategy=owner[0] if owner else "",
            tag="stop",
        )
        now = self._now_ms()
        if self.store.create(Order(req=req, state=OrderState.CREATED, cTime=now, uTime=now)):
            log.info("stop %s triggered: order %s booked to strategy %r", cl, update.ordId, req.strategy)

    def on_update(self, update: OrderUpdate) -> Transition:
        """Apply one report; publish/journal what changed; keep the entry's stop covering its fills.

        A fill delta or final state is committed together with its outbox entry (one Lua step) and
        emitted right after from that entry, so a crash in between loses nothing: the next drain
        (recover_outbox) emits it, exactly once per entry."""
        t = self.store.apply(
            self.resolve(update), outbox=True, claim=self._owner, claim_ttl_s=self.claim_ttl_s
        )
        stop_done = t.outbox is not None and t.outbox.fill
        if stop_done:
            # Stop first (rule 3): the protective order must not wait behind the journal writes, the
            # ledger and the fill listeners, which take several times the stop's own send.
            self.ensure_stop(t.order)
        if t.applied:
            self.bus.publish(EventType.ORDER_UPDATE, t.order)
            self._journal_soon(t.order)
        if t.outbox is not None:
            self._emit(t.outbox, stop_done=stop_done)
        if t.outbox_pending > 1:  # someone else's entries wait too: in flight elsewhere, or left by a crash
            self.recover_outbox()
        return t

    # -- outbox: the fill's side effects, exactly once and crash-safe ----------------------------
    def recover_outbox(self, limit: int = 1000) -> int:
        """Emit every outbox entry no live process is emitting (left by a crash between the Lua
        commit and the emission). Run at start-up and by reconcile; cheap when the outbox is empty.
        Returns how many entries were emitted."""
        done, after = 0, "-"
        while done < limit:
            batch = self.store.outbox(count=min(100, limit - done), after=after)
            if not batch:
                break
            for entry in batch:
                after = entry.id
                if self.store.claim_outbox(entry.id, self._owner, self.claim_ttl_s):
                    log.warning(
                        "outbox: emitting %s of %s left by an earlier process", entry.id, entry.clOrdId
                    )
                    self._emit(entry, recovered=True)
                    done += 1
        return done

    def _emit(self, entry: OutboxEntry, recovered: bool = False, stop_done: bool = False) -> None:
        """The side effects of one committed transition, then ack. Each step is idempotent or
        guarded by the entry's claim: journal rows are unique by fill_key, the stop plan compares
        with the stop already requested, the ledger and capital book each fill_key once."""
        order = entry.order  # as right after the transition
        current = self.store.get(entry.clOrdId) or order  # the newest word (later reports may have landed)
        if recovered:
            # its ORDER_UPDATE may have died with the process that committed it: say where the order
            # is NOW, never an older snapshot after a newer one (no state regression for listeners)
            self.bus.publish(EventType.ORDER_UPDATE, current)
            self._journal("upsert_order", current)
        if entry.fill:
            self._on_fill(entry)
        if entry.final and order.state in (OrderState.CANCELED, OrderState.REJECTED):
            self.bus.publish(EventType.ORDER_CANCELLED, order)
        if not stop_done:  # on_update already sent it, ahead of the side effects above
            self.ensure_stop(current)
        try:
            self.store.ack_outbox(entry.id)
        except Exception:  # the claim expires and a later drain re-emits: idempotent consumers
            log.exception("outbox ack %s failed", entry.id)

    def _on_fill(self, entry: OutboxEntry) -> None:
        order, req = entry.order, entry.order.req
        fill_px = entry.fill_px
        if fill_px is None:
            # No price anywhere (rule 4): never invent one. Size still drives the stop;
            # the ledger is corrected from the exchange by reconcile.
            self._error(
                "fill_without_px",
                f"{order.clOrdId}: fill of {entry.fill_sz} without any price; not booked",
                {"clOrdId": order.clOrdId, "fillSz": str(entry.fill_sz), "accFillSz": str(order.accFillSz)},
            )
            return
        fill = Fill(
            clOrdId=order.clOrdId,
            instId=order.instId,
            side=req.side,
            posSide=req.posSide,
            fillSz=entry.fill_sz,
            fillPx=fill_px,
            accFillSz=order.accFillSz,
            fee=entry.fee,
            tradeId=entry.tradeId,
            ordId=order.ordId,
            strategy=req.strategy,
            reduceOnly=req.reduceOnly,
            execType=entry.execType,
            ts=entry.uTime or self._now_ms(),
        )
        self._journal("record_fill", fill)
        self.bus.publish(EventType.ORDER_FILLED, fill)

    # -- stops --------------------------------------------------------------------------------
    def stop_of(self, clOrdId: str) -> AlgoOrder | None:
        """The stop we last requested for an entry (None = never requested, or no AlgoStore)."""
        return self.algos.get(stop_id_for(clOrdId)) if self.algos is not None else None

    def ensure_stop(self, order: Order | str) -> StopPlan:
        """Place/amend/cancel the entry's stop so it matches the entry's fills; idempotent."""
        if isinstance(order, str):
            found = self.store.get(order)
            if found is None:
                raise KeyError(order)
            order = found
        plan = plan_stop(order, self.stop_of(order.clOrdId))
        try:
            if plan.action in (StopAction.PLACE, StopAction.AMEND) and plan.stop is not None:
                self.sender.send_stop(plan.stop)
                if self.algos is not None:  # recorded after the send: the id is deterministic and
                    self.algos.record(plan.stop.to_algo(uTime=self._now_ms()))  # send_stop idempotent
            elif plan.action is StopAction.CANCEL:
                self.sender.send_cancel_stop(plan.instId, plan.algoClOrdId)
        except Exception as exc:
            log.exception("stop %s for %s failed", plan.action, order.clOrdId)
            self._error(
                "stop_failed",
                f"{order.clOrdId}: {plan.action} stop {plan.algoClOrdId} failed: {exc}",
                {"clOrdId": order.clOrdId, "algoClOrdId": plan.algoClOrdId, "action": str(plan.action)},
            )
        return plan

    def on_position(self, pos: Position) -> list[str]:
        """The exchange reports a position: cancel its stops when it is flat (position closed ->
        cancel its stop), shrink them when together they exceed it (an oversized reduce-only order
        is rejected whole). Returns the algoClOrdIds touched. Only stops requested before the report
        (stop.uTime <= pos.uTime) are its: an older report must not strip the protection of a fresh
        fill. Flat: those are cancelled and newer ones kept (they protect the next position);
        otherwise nothing is resized unless every stop predates the report."""
        if self.algos is None:
            return []
        stops = [a for a in self.algos.working(pos.instId) if a.posSide is pos.posSide]
        if pos.is_flat:
            stops = [a for a in stops if a.uTime <= pos.uTime]
        elif any(a.uTime > pos.uTime for a in stops):
            return []
        touched: list[str] = []
        for stop, sz in fit_stops(pos, stops):
            try:
                if sz > ZERO:
                    req = StopRequest.resize(stop, sz)
                    self.sender.send_stop(req)
                    self.algos.record(req.to_algo(uTime=stop.uTime))  # keeps its age: still the oldest
                else:
                    self.sender.send_cancel_stop(stop.instId, stop.algoClOrdId)
                touched.append(stop.algoClOrdId)
            except Exception as exc:
                self._error(
                    "stop_failed",
                    f"resize stop {stop.algoClOrdId} to {sz} failed: {exc}",
                    {"algoClOrdId": stop.algoClOrdId},
                )
        return touched

    # -- ambiguity (rule 8) ----------------------------------------------------------------
    def mark_ambiguous(self, clOrdId: str) -> Transition:
        order = self.store.get(clOrdId)
        if order is None:
            raise KeyError(clOrdId)
        return self._apply_local(order.req, OrderState.AMBIGUOUS)

    def unconfirmed(self, older_than_s: float | None = None) -> list[Order]:
        """Orders the exchange has not acknowledged yet (CREATED/SENT/AMBIGUOUS) and whose last
        word is older than older_than_s (default: the ambiguity window): to query by clOrdId."""
        age_ms = int((self.ambiguity_window_s if older_than_s is None else older_than_s) * 1000)
        now = self._now_ms()
        return [
            o
            for o in self.store.working()
            if o.state.rank < OrderState.LIVE.rank and now - max(o.uTime, o.cTime) >= age_ms
        ]

    def resolve_ambiguous(
        self, clOrdId: str, exchange_update: OrderUpdate | None, resend: bool = True
    ) -> Resolution:
        """Settle an unacknowledged order with the exchange's answer to a query by clOrdId.

        exchange_update given -> applied like any report. None (the exchange does not know it):
        within the ambiguity window -> wait; after it -> re-send with the SAME clOrdId (bounded by
        max_resends), or, if resend is False or the bound is reached, record it REJECTED.
        """
        order = self.store.get(clOrdId)
        if order is None:
            return Resolution("unknown", None)
        if exchange_update is not None:
            t = self.on_update(exchange_update)
            return Resolution("settled", t.order, t)
        if order.state.rank >= OrderState.LIVE.rank:
            return Resolution("not_ambiguous", order)
        if self._now_ms() - max(order.uTime, order.cTime) < int(self.ambiguity_window_s * 1000):
            return Resolution("wait", order)
        resends_key = self.store.keys.resends(clOrdId)
        if resend and int(self.store.redis.incr(resends_key)) <= self.max_resends:
            self.store.redis.expire(resends_key, ORDER_RETENTION_S)
            t = self._apply_local(order.req, OrderState.AMBIGUOUS)  # restarts the window (uTime)
            try:
                self.sender.send_order(order.req)
            except Exception:
                log.exception("re-send of %s failed: stays ambiguous", clOrdId)
            return Resolution("resent", self.store.get(clOrdId), t)
        self.store.set_reason(clOrdId, "not found at the exchange after the ambiguity window")
        t = self.on_update(
            OrderUpdate(
                clOrdId=clOrdId,
                instId=order.instId,
                state=OrderState.REJECTED,
                sMsg="not found",
                uTime=self._now_ms(),
                source="local",
            )
        )
        return Resolution("rejected", t.order, t)

    # -- events ------------------------------------------------------------------------------
    def _journal_soon(self, order: Order) -> None:
        """The order's journal row: handed to defer_journal when it is set and the state is not terminal
        (a terminal row is written at once), else written now."""
        if self.defer_journal is not None and not order.state.is_terminal:
            self.defer_journal(functools.partial(self._journal, "upsert_order", order))
        else:
            self._journal("upsert_order", order)

    def _journal(self, method: str, obj: Order | Fill) -> None:
        """Journal writes never interrupt on_update: its delta is already committed in Redis, so
        what follows (publishing the fill, the stop) must still happen."""
        if self.journal is None:
            return
        try:
            getattr(self.journal, method)(obj)
        except Exception as exc:
            log.exception("journal %s failed", method)
            self.bus.publish(
                EventType.ERROR, {"kind": "journal_failed", "message": f"journal {method}: {exc}"}
            )

    def _error(self, kind: str, message: str, data: dict[str, Any]) -> None:
        self.bus.publish(EventType.ERROR, {"kind": kind, "message": message, **data})
        if kind == "stop_failed":
            alerts.emit(
                alert_events.stop_failed(
                    str(data.get("algoClOrdId", "")), str(data.get("clOrdId", "-")), message
                )
            )
        if self.journal is not None:
            try:
                self.journal.record_event(kind, message, data)
            except Exception:
                log.exception("journal event %s failed", kind)


def _with_cl_ord_id(update: OrderUpdate, clOrdId: str) -> OrderUpdate:
    return replace(update, clOrdId=clOrdId)
