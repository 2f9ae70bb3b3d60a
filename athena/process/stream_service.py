"""The stream worker's engine room, independent of Celery (workers/stream.py starts it).

WebSocket threads and the Redis event-stream reader only receive, parse and put events in ONE inbox;
ONE dispatcher thread takes them out and runs the OMS views and the strategies, so strategy code
never needs a lock. The tick path does no I/O: the dispatcher only notes each book's mid (it writes
an instrument's first mark itself, so the first decision finds one), and the housekeeping thread
writes the mark prices (at most once a second per instrument) and the status snapshot, so no event
waits behind those Redis round trips.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from athena.bus import EventType
from athena.domain import AlgoOrder, BookTop, OrderUpdate, Position, Tick, Ticker, Trade
from athena.domain.codec import CodecError, from_json
from athena.engine import Engine
from athena.okx.types import PrivateResync
from athena.risk.liquidation import LiquidationGuard
from athena.strategies.base import BaseStrategy
from athena.strategies.clock import WallClock
from athena.strategies.runner import StrategyRunner
from athena.wiring import stream_strategies

log = logging.getLogger(__name__)

REMOTE = {
    "order": EventType.ORDER_UPDATE,
    "fill": EventType.ORDER_FILLED,
    "cancelled": EventType.ORDER_CANCELLED,
    "position": EventType.POSITION_UPDATE,
    "error": EventType.ERROR,
}
MARK_WRITE_INTERVAL_S = 1.0  # mark prices: one write a second per instrument whose mid moved
STATS_INTERVAL_S = 1.0
_STOP = object()  # wakes the dispatcher on stop()


@dataclass(slots=True)
class Remote:
    """An event another process published on the Redis event stream."""

    kind: str
    payload: dict[str, Any]


@dataclass
class StreamStats:
    ticks: int = 0
    order_updates: int = 0
    positions: int = 0
    remote: int = 0
    bad_events: int = 0
    handler_errors: int = 0
    resyncs: int = 0  # private (re)logins, each followed by a REST reconcile
    last_tick_ms: dict[str, int] = field(default_factory=dict)
    started_ms: int = 0


class StreamService:
    def __init__(
        self,
        engine: Engine,
        *,
        public_channels: tuple[str, ...] = ("books5", "trades"),
        ws_opts: dict[str, Any] | None = None,
    ) -> None:
        """engine: athena.wiring.stream_engine's."""
        self.settings = engine.settings
        self.engine = engine
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.stats = StreamStats()
        self.public_channels = public_channels
        self.ws_opts = ws_opts or {}
        self.strategies: list[BaseStrategy] = []
        self.runner: StrategyRunner | None = None
        self.public: Any = None
        self.private: Any = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._mids: dict[str, Decimal] = {}  # latest book mid per instId (written by the dispatcher only)
        self._marks_written: dict[str, Decimal] = {}  # the mid last written as each instId's mark
        self._mark_failing: set[str] = set()  # instIds whose last mark write failed (logged once)
        self._clock = WallClock()
        self.liq_guard: LiquidationGuard | None = None  # built with the engine (build())
        # journal rows of non-terminal order updates (OrderManager.defer_journal): written by the dispatcher
        # when no event waits, one per inbox check, instead of between an update and the fill behind it
        self._deferred: deque[Callable[[], None]] = deque()

    # -- wiring --------------------------------------------------------------------------------
    def build(self) -> None:
        wired = stream_strategies(self.engine, self._clock)
        self.strategies, self.runner = wired.strategies, wired.runner
        enabled = [s for s in self.settings.strategies if s.enabled]
        self.liq_guard = LiquidationGuard(self.engine.halt, self.settings.risk.liq_distance_multiple)
        inst_ids = sorted(set(self.settings.symbols) | {i for s in enabled for i in s.instIds})
        from athena.okx.private_ws import OkxPrivateWsGateway
        from athena.okx.public_ws import OkxPublicWsGateway

        self.public = OkxPublicWsGateway(
            self.settings.ws_url("public"), inst_ids, self.public_channels, self.inbox.put, **self.ws_opts
        )
        key, secret, passphrase = self.settings.credentials()
        self.private = OkxPrivateWsGateway(
            self.settings.ws_url("private"), key, secret, passphrase, self.inbox.put,
            business_url=self.settings.ws_url("business"), on_error=self._on_ws_error,
            server_time=self.engine.rest.server_time, **self.ws_opts,
        )  # fmt: skip

    def start(self) -> StreamService:
        if self.runner is None:
            self.build()
        self.stats.started_ms = int(time.time() * 1000)
        self._spawn("athena-dispatcher", self._dispatch_loop)
        self._spawn("athena-events", self._events_loop)
        self._spawn("athena-housekeeping", self._housekeeping_loop)
        self.public.start()
        self.private.start()
        log.info(
            "stream service started: %d strategies on %s",
            len(self.strategies),
            sorted(self.engine.instruments),
        )
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.inbox.put(_STOP)
        for gw in (self.public, self.private):
            if gw is not None:
                try:
                    gw.stop(timeout)
                except Exception:
                    log.exception("stopping %r", gw)
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        self._write_marks()
        self._publish_stats()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _on_ws_error(self, exc: Exception) -> None:
        self.inbox.put(Remote("error", {"data": {"kind": "ws_error", "message": str(exc)}}))

    # -- the Redis event stream (acks, fills, rejections from the orders worker) ----------------
    def _events_loop(self) -> None:
        eng = self.engine
        cursor_key = eng.keys.stream_cursor
        raw = eng.redis.get(cursor_key)
        last = raw.decode() if isinstance(raw, bytes) else (raw or eng.events.latest_id())
        while not self._stop.is_set():
            try:
                batch = eng.events.read(last, block_ms=500, count=500)
            except Exception:
                log.exception("event stream read failed; retrying in 1 s")
                self._stop.wait(1.0)
                continue
            for event_id, kind, payload in batch:
                self.inbox.put(Remote(kind, payload))
                last = event_id
            if batch:
                eng.redis.set(cursor_key, last)

    # -- the dispatcher: the only thread that runs strategies -----------------------------------
    def _dispatch_loop(self) -> None:
        """Blocks on the inbox and does nothing else between events: no timed poll (stop() puts
        _STOP), no status write or other I/O of its own (the housekeeping thread does those)."""
        get = self.inbox.get
        stop = self._stop
        deferred = self._deferred
        orders = getattr(self.engine, "orders", None)
        if orders is not None:
            orders.defer_journal = deferred.append
        while not stop.is_set():
            if deferred:
                try:
                    item = get(False)
                except queue.Empty:
                    deferred.popleft()()  # nothing waits: one deferred journal row, then look again
                    continue
            else:
                item = get()
            if item is _STOP:
                break
            try:
                self.handle(item)
            except Exception:
                self.stats.handler_errors += 1
                log.exception("dispatcher: event %s failed", type(item).__name__)
        if orders is not None:
            orders.defer_journal = None
        while deferred:  # stopping: the rows still owed
            deferred.popleft()()

    # -- housekeeping: the Redis writes the dispatcher must not wait for ------------------------
    def _housekeeping_loop(self) -> None:
        while not self._stop.wait(min(MARK_WRITE_INTERVAL_S, STATS_INTERVAL_S)):
            self._write_marks()
            self._publish_stats()
            self._check_liquidation()

    def _check_liquidation(self) -> None:
        """The liquidation-distance rule (athena.risk.liquidation), from the latest pushes and mids."""
        if self.liq_guard is None:
            return
        try:
            self.liq_guard.check(self._mids.copy(), self.engine.algos.working, self.engine.instruments)
        except Exception:
            log.exception("liquidation-distance check failed (retried in a second)")

    def _write_marks(self) -> None:
        """Each instrument's latest book mid as its mark price, when it changed since the last write."""
        mids = self._mids.copy()  # one C-level copy: safe against the dispatcher adding an instId
        for instId, mid in mids.items():
            if self._marks_written.get(instId) != mid:
                self._write_mark(instId, mid)

    def _write_mark(self, instId: str, mid: Decimal) -> None:
        try:
            self.engine.marks.set(instId, self.engine.instruments[instId].round_px(mid))
        except Exception:
            if instId not in self._mark_failing:
                self._mark_failing.add(instId)
                log.warning("mark price of %s not written (retried every second)", instId, exc_info=True)
            return
        self._marks_written[instId] = mid
        self._mark_failing.discard(instId)

    def handle(self, item: Any) -> None:
        eng = self.engine
        if isinstance(item, BookTop):
            self._tick(item.instId, Tick(item.instId, book=item, recv_ns=time.monotonic_ns()), item)
        elif isinstance(item, Trade):
            self._tick(item.instId, Tick(item.instId, trade=item, recv_ns=time.monotonic_ns()), None)
        elif isinstance(item, Ticker):
            self._tick(item.instId, Tick(item.instId, ticker=item, recv_ns=time.monotonic_ns()), None)
        elif isinstance(item, OrderUpdate):
            self.stats.order_updates += 1
            eng.orders.on_update(item)
        elif isinstance(item, Position):
            self.stats.positions += 1
            if self.liq_guard is not None:
                self.liq_guard.on_position(item)
            eng.positions.on_exchange_position(item)
            eng.bus.publish(EventType.POSITION_UPDATE, item)
        elif isinstance(item, AlgoOrder):
            eng.algos.apply_report(item)
        elif isinstance(item, Remote):
            self._remote(item)
        elif isinstance(item, PrivateResync):
            # Every login, the first included (a restarted stream worker missed pushes too): the
            # orders worker reconciles by REST and its fills come back here through the event stream.
            self.stats.resyncs += 1
            log.info(
                "private %s logged in (login %d, gap %s ms): requesting reconcile",
                item.connection,
                item.logins,
                item.gap_ms,
            )
            send = getattr(self.engine.sender, "send_reconcile", None)
            if send is not None:
                send()
        else:  # balances and anything else the gateways hand over: latest value, for status
            name = type(item).__name__.lower()
            if name == "balance":
                if self.liq_guard is not None:
                    self.liq_guard.on_account(getattr(item, "totalEq", None), getattr(item, "mgnRatio", None))
                eng.redis.set(eng.keys.balance, orjson.dumps(item, default=str), ex=300)

    def _tick(self, instId: str, tick: Tick, book: BookTop | None) -> None:
        self.stats.ticks += 1
        self.stats.last_tick_ms[instId] = int(time.time() * 1000)
        if book is not None:
            mid = book.mid
            if mid is not None:
                self._mids[instId] = mid  # the housekeeping thread writes it (no I/O here)...
                if instId not in self._marks_written and instId not in self._mark_failing:
                    self._write_mark(instId, mid)  # ...but the first one: a decision must find a mark
        self.engine.bus.publish(EventType.TICK, tick)

    def _remote(self, item: Remote) -> None:
        self.stats.remote += 1
        event = REMOTE.get(item.kind)
        data = item.payload.get("data")
        if event is None or data is None:
            self.stats.bad_events += 1
            return
        if isinstance(data, dict) and "_type" in data:
            try:
                data = from_json(data)
            except CodecError:
                self.stats.bad_events += 1
                log.warning("event stream: undecodable %s event", item.kind)
                return
        self.engine.bus.publish(event, data)

    # -- status --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "ticks": self.stats.ticks, "order_updates": self.stats.order_updates, "remote": self.stats.remote,
            "bad_events": self.stats.bad_events, "handler_errors": self.stats.handler_errors,
            "resyncs": self.stats.resyncs, "last_tick_ms": dict(self.stats.last_tick_ms),
            "started_ms": self.stats.started_ms,
            # a strategy's counters (ScalperV1: entries, fee_gate skips, ...): read from this thread, the
            # dispatcher's ints are replaced whole, never resized, so a copy is consistent enough to show
            "strategies": [{"name": s.name, "instIds": s.instIds,
                            "stats": dict(getattr(s, "stats", {}) or {})}
                           for s in self.strategies],
            "public": getattr(self.public, "state", None) if self.public else None,
            "private": getattr(self.private, "state", None) if self.private else None,
            "ws": self._ws_stats(), "at_ms": int(time.time() * 1000),
        }  # fmt: skip

    def _ws_stats(self) -> dict[str, Any]:
        """Per connection: its state, message counts and when it last received a data message and
        any frame at all (pongs too), as epoch ms (None: nothing yet)."""
        out: dict[str, Any] = {}
        conns = [self.public] if self.public is not None else []
        if self.private is not None:
            conns += list(self.private.connections)
        now_ms, now_mono = time.time() * 1000, time.monotonic()
        for c in conns:
            st = getattr(c, "stats", None)
            if st is not None:
                data_age, rx_age = st.age_s("data", now_mono), st.age_s("rx", now_mono)
                out[getattr(c, "name", "ws")] = {
                    "state": getattr(c, "state", None),
                    "messages": getattr(st, "messages", 0), "reconnects": getattr(st, "reconnects", 0),
                    "malformed": sum(getattr(st, "malformed", {}).values()),
                    "last_message_ms": int(now_ms - data_age * 1000) if data_age is not None else None,
                    "last_frame_ms": int(now_ms - rx_age * 1000) if rx_age is not None else None,
                }  # fmt: skip
        return out

    def _publish_stats(self) -> None:
        try:
            self.engine.redis.set(self.engine.keys.stream_status, orjson.dumps(self.status()), ex=30)
        except Exception:
            log.warning("stream status not written", exc_info=True)
