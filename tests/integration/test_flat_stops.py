"""A position's Athena stops go when the position goes flat: the stream worker cancels them the moment
it sees it flat (the positions push, or the closing fill leaving the ledger flat), not 30 s later
when beat's cancel_ghost_orders comes round.

Real pieces: the sim (REST + WebSockets), the stream worker's StreamService with its stop sender
(DirectStopSender over CelerySender), and a real Celery worker running place_order / cancel_stop.
No beat runs here, so every cancel seen was the stream worker's doing.

The demo's "two live stops on one ETH short ~4 s after the previous long had closed" was the long's
stop, left working after a take profit / time stop closed the long (OrderManager.on_position was
wired only in tests), next to the short's new stop, until cancel_ghost_orders (every 6 s in the
demo) removed it. The invariant tested: the old position's stop is cancelled by a request the stream
worker sent before the next position's stop reached the exchange, so two Athena stops coexist on
one instrument for at most that cancel's round trip.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from celery import Celery

from athena.config import Settings, get_settings, load_settings, set_settings
from athena.domain import OrderRequest, OrdType, Position, Side
from athena.ops.direct_stops import DirectStopSender
from athena.process.stream_service import StreamService
from athena.sim.server import SimServer
from athena.wiring import account, stream_engine
from tests.waiting import wait_for
from workers import tasks
from workers.sender import CelerySender

pytestmark = pytest.mark.usefixtures("celery_worker")

BTC = "BTC-USDT-SWAP"
ALGO_PATH = "/api/v5/trade/order-algo"
_accounts = itertools.count(1)


class TracedSender:
    """The stream worker's Celery sender, noting when each stop cancel was handed to Celery."""

    def __init__(self, inner: CelerySender) -> None:
        self.inner = inner
        self.cancel_sent_ns: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def send_cancel_stop(self, instId: str, algoClOrdId: str) -> None:
        self.cancel_sent_ns.setdefault(algoClOrdId, time.monotonic_ns())
        self.inner.send_cancel_stop(instId, algoClOrdId)


class PositionsLost:
    """The stream worker's inbox with every positions push lost on the way (a dropped channel)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def put(self, item: Any) -> None:
        if not isinstance(item, Position):
            self.inner.put(item)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Stack:
    sim: SimServer
    settings: Settings
    service: StreamService
    traced: TracedSender
    algo_placed_ns: dict[str, int] = field(default_factory=dict)  # algoClOrdId -> when the sim got it

    def live_stops(self, instId: str = BTC) -> list[str]:
        return sorted(a["algoClOrdId"] for a in self.sim.exchange.state()["algos"] if a["instId"] == instId)

    def position(self, instId: str = BTC) -> Decimal:
        return sum(
            (
                Decimal(p["pos"] or "0")
                for p in self.sim.exchange.state()["positions"]
                if p["instId"] == instId
            ),
            Decimal(0),
        )

    def submit(self, cl: str, side: Side, sz: str, reduce_only: bool = False) -> None:
        eng = self.service.engine
        inst = eng.instruments[BTC]
        last = Decimal(self.sim.exchange.state()["markets"][BTC]["last"])
        stop = (
            None
            if reduce_only
            else (
                inst.px_down(last * Decimal("0.98"))
                if side is Side.BUY
                else inst.px_up(last * Decimal("1.02"))
            )
        )
        eng.marks.set(BTC, last)  # the worker's pre-trade check prices a market entry by the mark
        eng.orders.submit(
            OrderRequest(
                clOrdId=cl,
                instId=BTC,
                side=side,
                ordType=OrdType.MARKET,
                sz=Decimal(sz),
                reduceOnly=reduce_only,
                strategy="scalpbtc",
                stop_loss_px=stop,
            )
        )


def start_stack(redis_url: str, tmp_path: Path, celery_app: Celery, lose_positions: bool) -> Iterator[Stack]:
    previous = get_settings()
    sim = SimServer(tick_interval_ms=0).start()
    sim.call(sim.market.step)
    env = {
        "ATHENA_ENV": "test",
        "REDIS_URL": redis_url,
        "ATHENA_DB_URL": f"sqlite:///{tmp_path / 'athena.db'}",
        "ATHENA_ACCOUNT": f"flatstops{next(_accounts)}",
        "OKX_REST_URL": sim.url,
        "OKX_WS_PUBLIC_URL": sim.ws_url("public"),
        "OKX_WS_PRIVATE_URL": sim.ws_url("private"),
        "OKX_WS_BUSINESS_URL": sim.ws_url("business"),
    }
    # The orders worker knows the configured strategies (an entry without a decision's pass is checked
    # against its strategy's limits); this stream worker runs none, so the test alone places orders.
    worker_settings = load_settings(env="test", environ=env, dotenv=False)
    settings = worker_settings.model_copy(update={"strategies": []})
    set_settings(worker_settings)
    tasks.reset_engine()  # the worker's tasks use these settings
    traced = TracedSender(CelerySender(celery_app))
    sender = DirectStopSender(traced)  # type: ignore[arg-type]
    engine = stream_engine(account(settings), sender)
    sender.bind(lambda: engine)
    service = StreamService(engine)
    stack = Stack(sim, settings, service, traced)
    lock = threading.Lock()

    def on_request(path: str, raw: bytes, recv_ns: int) -> None:
        if path == ALGO_PATH and raw:
            with lock:
                stack.algo_placed_ns.setdefault(orjson.loads(raw).get("algoClOrdId", ""), recv_ns)

    sim.on_request = on_request
    if lose_positions:
        service.inbox = PositionsLost(service.inbox)  # type: ignore[assignment]
    service.start()
    try:
        wait_for(lambda: service.status().get("private") == "ready", 20, "the private WebSocket")
        yield stack
    finally:
        sim.on_request = None
        service.stop()
        sender.close()
        service.engine.close()
        tasks.reset_engine()
        set_settings(previous)
        sim.stop()


@pytest.fixture()
def stack(redis_url: str, tmp_path: Path, celery_app: Celery) -> Iterator[Stack]:
    yield from start_stack(redis_url, tmp_path, celery_app, lose_positions=False)


@pytest.fixture()
def stack_without_position_pushes(redis_url: str, tmp_path: Path, celery_app: Celery) -> Iterator[Stack]:
    yield from start_stack(redis_url, tmp_path, celery_app, lose_positions=True)


def test_a_closed_long_loses_its_stop_before_the_next_short_gets_one(stack: Stack) -> None:
    stack.submit("flatlong1", Side.BUY, "1")
    wait_for(lambda: stack.live_stops() == ["slflatlong1"], 20, "the long's stop")
    stack.submit("flatclose1", Side.SELL, "1", reduce_only=True)  # a take profit / time stop: flat
    wait_for(lambda: stack.position() == 0, 20, "the long closed")
    stack.submit("flatshort1", Side.SELL, "1")  # the next position, at once
    wait_for(lambda: "slflatshort1" in stack.live_stops(), 20, "the short's stop")
    wait_for(
        lambda: stack.live_stops() == ["slflatshort1"], 20, "the long's stop cancelled (no beat runs here)"
    )

    sent = stack.traced.cancel_sent_ns.get("slflatlong1")
    assert sent is not None, "the stream worker never asked to cancel the long's stop"
    # Two stops coexisted at most from the short's stop reaching the exchange until the long's cancel
    # did, and that cancel had already left the stream worker: at most one cancel round trip.
    assert sent < stack.algo_placed_ns["slflatshort1"]
    assert "slflatshort1" not in stack.traced.cancel_sent_ns  # the new position keeps its protection
    assert (
        stack.service.engine.sender.status()["flat_cancels"] == 1
    )  # push and fill both said flat: sent once
    assert stack.position() == -1


def test_the_closing_fill_cancels_the_stop_when_the_positions_push_is_lost(
    stack_without_position_pushes: Stack,
) -> None:
    stack = stack_without_position_pushes
    stack.submit("flatlong2", Side.BUY, "2")
    wait_for(lambda: stack.live_stops() == ["slflatlong2"], 20, "the long's stop")
    stack.submit("flatclose2", Side.SELL, "2", reduce_only=True)
    wait_for(
        lambda: stack.live_stops() == [],
        20,
        "the stop cancelled on the closing fill (no positions push, no beat)",
    )
    assert stack.service.stats.positions == 0  # it really came from the fill
    assert "slflatlong2" in stack.traced.cancel_sent_ns
