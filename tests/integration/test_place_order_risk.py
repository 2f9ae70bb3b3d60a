"""athena.place_order sent by hand (celery call, Flower's async-apply) faces the pre-trade check in the
orders worker; an entry the strategy's decision already checked (its capital reservation is there) is
placed without a second check and with no extra Redis round trip. A real worker (threads pool) over
the private Redis, against the real sim."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest
from celery import Celery
from celery.signals import task_prerun

from athena.config import Settings, get_settings, set_settings
from athena.domain import OrderRequest, OrderState, OrdType, Side
from athena.domain.codec import to_json
from athena.engine import Engine
from athena.process.stream_service import StreamService
from athena.sim.server import SimServer
from athena.strategies.context import StrategyContext
from athena.wiring import account, stream_engine
from tests.waiting import TASK_TIMEOUT, wait_for
from workers import tasks
from workers.sender import CelerySender

pytestmark = pytest.mark.usefixtures("celery_worker")

BTC = "BTC-USDT-SWAP"
STRATEGY = "scalpbtc"  # config/base.json: allocation 0.4 of 10000, leverage 3, max_order_notional 5000


@dataclass
class Spy:
    """What the orders worker's Engine did: pre-trade checks, and the Redis commands each worker thread
    sent before it put an order on the wire."""

    checks: list[str] = field(default_factory=list)
    commands: list[tuple[int, str]] = field(default_factory=list)
    task_start: dict[int, int] = field(
        default_factory=dict
    )  # worker thread -> len(commands) at its task's start
    before_send: dict[str, list[str]] = field(
        default_factory=dict
    )  # clOrdId -> its task's commands until sent

    def clear(self) -> None:
        self.checks.clear()
        self.commands.clear()
        self.task_start.clear()
        self.before_send.clear()

    def started(self, **_: Any) -> None:  # celery's task_prerun: runs in the worker thread
        self.task_start[threading.get_ident()] = len(self.commands)

    def sent(self, clOrdId: str) -> None:
        me = threading.get_ident()
        self.before_send[clOrdId] = [c for t, c in self.commands[self.task_start.get(me, 0) :] if t == me]


@dataclass
class World:
    sim: SimServer
    worker: Engine  # the very Engine the worker threads use
    spy: Spy
    app: Celery

    def sim_orders(self, clOrdId: str) -> list[Any]:
        return [o for o in list(self.sim.exchange.orders.values()) if o.clOrdId == clOrdId]

    def entry(self, cl: str, sz: str, strategy: str = STRATEGY, below: str = "0.99") -> OrderRequest:
        inst = self.worker.instruments[BTC]
        px = inst.px_down(Decimal(self.sim.exchange.state()["markets"][BTC]["bid"]) * Decimal(below))
        return OrderRequest(
            clOrdId=cl,
            instId=BTC,
            side=Side.BUY,
            ordType=OrdType.POST_ONLY,
            sz=Decimal(sz),
            px=px,
            strategy=strategy,
            stop_loss_px=inst.px_down(px * Decimal("0.99")),
        )

    def sim_positions(self) -> list[dict[str, Any]]:
        return [p for p in self.sim.exchange.state()["positions"] if Decimal(p["pos"] or "0") != 0]

    def place_by_hand(self, req: OrderRequest) -> dict[str, Any]:
        """What `celery call athena.place_order` or Flower's async-apply sends: the task by name."""
        out: dict[str, Any] = self.app.send_task("athena.place_order", args=[to_json(req)]).get(
            timeout=TASK_TIMEOUT
        )
        return out


@pytest.fixture()
def world(
    sim: SimServer, sim_settings: Callable[..., Settings], celery_app: Celery, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    previous = get_settings()
    settings = sim_settings(
        sim, "placerisk", OKX_WS_PUBLIC_URL=sim.ws_url("public"), OKX_WS_PRIVATE_URL=sim.ws_url("private")
    )
    set_settings(settings)
    tasks.reset_engine()
    eng = tasks.engine()
    spy = Spy()
    real_check, real_exec, real_place = eng.pretrade.check, eng.redis.execute_command, eng.rest.place_order

    def check(req: OrderRequest, *args: Any, **kw: Any) -> Any:
        spy.checks.append(req.clOrdId)
        return real_check(req, *args, **kw)

    def execute_command(*args: Any, **kw: Any) -> Any:
        spy.commands.append((threading.get_ident(), str(args[0]).upper()))
        return real_exec(*args, **kw)

    def place_order(req: OrderRequest) -> Any:
        spy.sent(req.clOrdId)
        return real_place(req)

    monkeypatch.setattr(eng.pretrade, "check", check)
    monkeypatch.setattr(eng.redis, "execute_command", execute_command)
    monkeypatch.setattr(eng.rest, "place_order", place_order)
    task_prerun.connect(spy.started, weak=False)
    try:
        yield World(sim, eng, spy, celery_app)
    finally:
        task_prerun.disconnect(spy.started)
        tasks.reset_engine()
        set_settings(previous)


@pytest.fixture()
def decide(world: World, celery_app: Celery) -> Iterator[StrategyContext]:
    """The stream worker's context for scalpbtc (StreamService.build), sending through Celery."""
    sender = CelerySender(celery_app)
    eng = stream_engine(account(get_settings()), sender)
    svc = StreamService(eng)
    svc.build()
    try:
        yield next(s for s in svc.strategies if s.name == STRATEGY).ctx
    finally:
        sender.publisher.close()
        eng.close()


def refused(world: World, req: OrderRequest, code: str) -> None:
    out = world.place_by_hand(req)
    assert out["status"] == "rejected" and out["state"] == "rejected", out
    assert out["detail"].startswith(code), out
    order = world.worker.store.get(req.clOrdId)
    assert (
        order is not None
        and order.state is OrderState.REJECTED
        and order.reason.startswith(f"pre-trade: {code}")
    )
    assert world.sim_orders(req.clOrdId) == []  # nothing reached the exchange
    assert world.spy.checks == [req.clOrdId]
    assert world.worker.capital.reservation(req.clOrdId) == {}


def test_a_hand_sent_entry_beyond_max_order_notional_is_refused_with_its_reason(world: World) -> None:
    refused(world, world.entry("hand1", "6"), "max_order_notional")  # ~5900 USDT > 5000


def test_a_hand_sent_entry_beyond_the_free_allocation_is_refused_with_its_reason(world: World) -> None:
    assert world.worker.capital.reserve(STRATEGY, "held1", Decimal(3900)).ok  # 100 of 4000 left: 300 at 3x
    refused(world, world.entry("hand2", "1"), "buying_power")  # ~990 USDT


def test_a_hand_sent_entry_for_no_configured_strategy_is_refused(world: World) -> None:
    refused(world, world.entry("hand3", "1", strategy="t"), "unknown_strategy")


def test_a_hand_sent_entry_within_the_limits_is_checked_reserved_and_placed_once(world: World) -> None:
    req = world.entry("hand4", "1")
    assert world.place_by_hand(req)["status"] == "acked"
    assert world.spy.checks == ["hand4"] and len(world.sim_orders("hand4")) == 1
    assert world.worker.capital.reservation("hand4")["sz"] == "1"  # its pass is recorded like a decision's
    assert world.place_by_hand(req)["status"] == "already"  # a redelivery: no second check, no second order
    assert world.spy.checks == ["hand4"] and len(world.sim_orders("hand4")) == 1


def test_a_hand_sent_reduce_only_close_keeps_the_logged_bypass(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="athena.ops.placement")
    taker = replace(world.entry("handopen", "1", below="1.01"), ordType=OrdType.LIMIT)  # crosses the book
    assert world.place_by_hand(taker)["status"] == "acked"
    wait_for(lambda: world.sim_positions(), TASK_TIMEOUT, "the position")
    world.spy.clear()
    close = OrderRequest(
        clOrdId="handclose",
        instId=BTC,
        side=Side.SELL,
        ordType=OrdType.MARKET,
        sz=Decimal(1),
        reduceOnly=True,
        strategy=STRATEGY,
    )
    assert world.place_by_hand(close)["status"] == "acked"
    assert world.spy.checks == [] and len(world.sim_orders("handclose")) == 1
    wait_for(lambda: not world.sim_positions(), TASK_TIMEOUT, "flat")
    assert [r for r in caplog.records if "handclose" in r.getMessage() and "BYPASS" in r.getMessage()]


def test_a_decided_entry_is_placed_without_a_second_check_or_round_trip(
    world: World, decide: StrategyContext
) -> None:
    inst = world.worker.instruments[BTC]
    px = inst.px_down(Decimal(world.sim.exchange.state()["markets"][BTC]["bid"]) * Decimal("0.99"))
    stop = inst.px_down(px * Decimal("0.99"))
    ids = []
    for _ in range(2):  # the first loads the worker's Lua scripts
        world.spy.clear()
        intent = decide.buy(BTC, Decimal(1), px, post_only=True, stop_loss_px=stop)
        assert intent.ok, intent.reason
        ids.append(intent.clOrdId)
        wait_for(
            lambda cl=intent.clOrdId: world.sim_orders(cl), TASK_TIMEOUT, "the decided entry on the exchange"
        )
        assert world.spy.checks == []  # the decision's check stands
    assert world.spy.before_send[ids[1]] == ["EVALSHA"]  # place_begin.lua: one round trip, as before
    order = wait_for(
        lambda: (o := world.worker.store.get(ids[1])) and o.state is OrderState.LIVE and o, 10, "live"
    )
    assert order.req.strategy == STRATEGY
