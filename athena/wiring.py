"""The composition root: every process role's parts, built from Settings in the order they depend on.

- CLI (status, demo): account(): the account's state in Redis; building it does no I/O. A command that
  needs more builds just that (ledger_view, load_instruments).
- orders worker (workers.tasks): orders_engine(account(...), CelerySender). What its OMS emits (acks, fills
  found by a query or a sync, stop failures) is forwarded to the Redis event stream, so the stream
  worker's strategies hear about it.
- stream worker (workers.stream -> athena.process.stream_service): the pre-flight (athena.ops.preflight) on
  account(...) and okx_rest(), then stream_engine(that account, sender, that client), then
  stream_strategies(). It reads the event stream and republishes it on its own bus, and never writes to
  it, so every event reaches its strategies exactly once.
- backtest (athena.backtest.stack): trading() and strategies() over a simulated clock, without journal
  or exchange client (its sender drives the sim's matching engine in process).

Handlers run in the order they subscribe, which is the order of the steps below. A fill reaches: the
event-stream forward (orders worker), capital, the shadow ledger, the strategies, then the stream
worker's flat-position stop cancel (it reads the ledger the fill was just booked in).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

import orjson
from redis import Redis

from athena.broker import redis_client
from athena.bus import EventBus, EventType
from athena.config import Settings
from athena.domain import Fill, Instrument, Order, Position
from athena.domain.codec import to_json
from athena.engine import Account, Clock, Engine, Trading
from athena.okx.port import ExchangePort
from athena.okx.rest import OkxRestGateway
from athena.okx.signing import Credentials
from athena.okx.ws_orders import WsOrderEntry
from athena.oms.capital import CapitalCommander
from athena.oms.orders import OrderManager
from athena.oms.positions import PositionManager
from athena.oms.sender import OrderSender
from athena.ops.price_band import PriceBands
from athena.risk.config import RiskConfig
from athena.risk.halt import HaltSwitch
from athena.risk.marks import MarkBook
from athena.risk.pretrade import PreTradeCheck
from athena.risk.profile import profiles_from
from athena.risk.rate import order_rate_counters
from athena.state.algos import AlgoStore
from athena.state.journal import Journal
from athena.state.keys import Keys
from athena.state.orders import OrderStore
from athena.state.retention import INSTRUMENTS_CACHE_S
from athena.state.stream import EventStream
from athena.strategies.base import BaseStrategy
from athena.strategies.clock import Clock as StrategyClock
from athena.strategies.context import LockFactory
from athena.strategies.pause import StrategyPause
from athena.strategies.registry import (
    build_strategies,
    context_factory,
    fee_view,
    ledger_position,
    redis_locks,
)
from athena.strategies.runner import StrategyRunner

log = logging.getLogger(__name__)

# Events the orders worker forwards to the stream worker, and how they are named on the event stream
# (athena.process.stream_service.REMOTE reads them back).
FORWARDED = {
    EventType.ORDER_UPDATE: "order",
    EventType.ORDER_FILLED: "fill",
    EventType.ORDER_CANCELLED: "cancelled",
    EventType.POSITION_UPDATE: "position",
    EventType.ERROR: "error",
}


# -- clients ----------------------------------------------------------------------------------------
def redis_from_settings(settings: Settings, timeout: float = 5.0) -> Redis:
    """The state client (one server, or the current master through Redis Sentinel)."""
    client: Redis = redis_client(
        settings.redis_url.get_secret_value(),
        settings.redis_sentinel_master,
        socket_timeout=timeout,
        socket_connect_timeout=min(3.0, timeout),
        health_check_interval=30,
        retry_on_timeout=True,
    )
    return client


def okx_rest(settings: Settings) -> ExchangePort:
    return OkxRestGateway(settings)  # mypy checks here that the gateway implements the port


def orders_rest(settings: Settings) -> ExchangePort:
    """The orders worker's gateway: with okx.order_entry "ws", orders go over its own private WebSocket."""
    rest = OkxRestGateway(settings)
    if settings.okx.order_entry != "ws":
        return rest
    if settings.okx.rest_url and not settings.okx.ws_private_url:
        # the WebSocket URL would be derived from the mode while REST goes where okx.rest_url says: orders
        # must never reach another venue than the one their queries ask
        log.info("orders go by REST: okx.rest_url is set and okx.ws_private_url is not")
    else:
        entry = WsOrderEntry(
            settings.ws_url("private"),
            Credentials(*settings.credentials()),
            clock=rest.clock,
            server_time=rest.server_time,
        )
        rest.attach_order_ws(entry)
    return rest


# -- the account's state (every role) ----------------------------------------------------------------
def account(
    settings: Settings,
    *,
    redis: Redis | None = None,
    keys: Keys | None = None,
    clock: Clock = time.time,
    shared_clock: Clock | None = None,
) -> Account:
    """keys: athena:{settings.env}:{settings.account}: unless given (a backtest keeps its own namespace)."""
    redis = redis if redis is not None else redis_from_settings(settings)
    keys = keys or Keys(settings.env, settings.account)
    return Account(
        settings=settings, redis=redis, keys=keys, clock=clock, shared_clock=shared_clock,
        store=OrderStore(redis, keys), algos=AlgoStore(redis, keys),
        halt=HaltSwitch(redis, keys, clock=clock),
        pause=StrategyPause(redis, keys, clock=clock), marks=MarkBook(redis, keys, clock=clock),
        capital=CapitalCommander(redis, keys, settings, clock=clock),
    )  # fmt: skip


def ledger_view(acct: Account) -> PositionManager:
    """The shadow ledger and the exchange's last positions, to read (it books no fill, reports no drift)."""
    return PositionManager(acct.redis, acct.keys, EventBus(), subscribe=False, clock=acct.clock)


def load_instruments(acct: Account, rest: ExchangePort | None = None) -> dict[str, Instrument]:
    """The configured symbols' instruments: the Redis cache, else the exchange's list (then cached).
    Without `rest`, a client is built for a cache miss and closed after."""
    settings = acct.settings
    key = acct.keys.instruments
    raw = acct.redis.get(key)
    rows: list[dict[str, Any]]
    if raw:
        rows = orjson.loads(raw)
    else:
        client = rest or okx_rest(settings)
        try:
            rows = [to_json(i) for i in client.instruments()]
        finally:
            if rest is None:
                client.close()
        acct.redis.set(key, orjson.dumps(rows), ex=INSTRUMENTS_CACHE_S)
    wanted = set(settings.symbols) | {i for s in settings.strategies for i in s.instIds}
    out = {row["instId"]: Instrument.from_okx(row) for row in rows if row["instId"] in wanted}
    missing = wanted - set(out)
    if missing:
        raise RuntimeError(f"instruments not offered by the exchange: {sorted(missing)}")
    # Sizing, PnL and capital are linear (contracts x ctVal in the settle currency): an inverse
    # swap (BTC-USD-SWAP) would be sized and booked wrongly, so it is refused at start-up.
    inverse = sorted(i for i, inst in out.items() if inst.ctType != "linear")
    if inverse:
        raise RuntimeError(
            f"symbols: inverse swaps are not supported (linear USDT/USDC swaps only): {inverse}"
        )
    return out


# -- the OMS (orders worker, stream worker, backtest) ------------------------------------------------
def trading(
    acct: Account,
    bus: EventBus,
    sender: OrderSender,
    instruments: dict[str, Instrument],
    journal: Journal | None,
) -> Trading:
    """The OMS on `bus`, subscribed in this order: capital, then the shadow ledger (both before the
    OrderManager exists, which is what emits fills)."""
    book_capital(bus, acct.capital, instruments)
    positions = PositionManager(
        acct.redis, acct.keys, bus, journal=journal, instruments=instruments, clock=acct.clock
    )
    orders = OrderManager(acct.store, bus, sender, journal=journal, clock=acct.clock, algos=acct.algos)
    risk_config = RiskConfig.from_settings(acct.settings.risk)
    counters = order_rate_counters(acct.redis, acct.keys, clock=acct.shared_clock)  # shared by every process
    pretrade = PreTradeCheck(
        profiles_from(acct.settings), risk_config, acct.capital, acct.halt, acct.marks, counters
    )
    return Trading(
        **parts_of(acct),
        bus=bus,
        sender=sender,
        instruments=instruments,
        risk_config=risk_config,
        pretrade=pretrade,
        positions=positions,
        orders=orders,
        journal=journal,
    )


def book_capital(bus: EventBus, capital: CapitalCommander, instruments: dict[str, Instrument]) -> None:
    """A fill books its margin and PnL in capital; a cancelled or rejected order frees its reservation."""

    def book(fill: Fill) -> None:
        inst = instruments.get(fill.instId)
        if inst is None:
            log.error("fill %s for unknown instrument %s: not booked in capital", fill.fill_key, fill.instId)
            return
        capital.on_fill(fill, inst)

    def release(order: Order) -> None:
        capital.release(order.clOrdId)

    bus.subscribe(EventType.ORDER_FILLED, book)
    bus.subscribe(EventType.ORDER_CANCELLED, release)


# -- the workers ---------------------------------------------------------------------------------------
def orders_engine(acct: Account, sender: OrderSender, rest: ExchangePort | None = None) -> Engine:
    """The orders worker's Engine: its OMS's events go to the Redis event stream first."""
    events = EventStream(acct.redis, acct.keys.events)
    bus = EventBus()
    for event, kind in FORWARDED.items():
        bus.subscribe(event, _forward(events, kind))
    return _engine(acct, bus, events, sender, rest or orders_rest(acct.settings))


def stream_engine(acct: Account, sender: OrderSender, rest: ExchangePort | None = None) -> Engine:
    """The stream worker's Engine (stream_strategies() completes it)."""
    return _engine(acct, EventBus(), EventStream(acct.redis, acct.keys.events), sender, rest)


def _engine(
    acct: Account, bus: EventBus, events: EventStream, sender: OrderSender, rest: ExchangePort | None
) -> Engine:
    rest = rest or okx_rest(acct.settings)
    journal = Journal(acct.settings.db_url)
    t = trading(acct, bus, sender, load_instruments(acct, rest), journal)
    return Engine(**parts_of(t), rest=rest, price_bands=PriceBands(rest), events=events)


def _forward(events: EventStream, kind: str) -> Callable[[Any], None]:
    def forward(payload: Any) -> None:
        data = payload if isinstance(payload, dict) else to_json(payload)
        events.publish(kind, {"data": data, "type": type(payload).__name__})

    return forward


# -- strategies (stream worker, backtest) --------------------------------------------------------------
@dataclass(eq=False)
class Strategies:
    strategies: list[BaseStrategy]
    routes: dict[str, str]  # clOrdId -> strategy, for the runner's routing of order events
    runner: StrategyRunner


def strategies(t: Trading, clock: StrategyClock, locks: LockFactory) -> Strategies:
    """The enabled strategies of t.settings with their contexts (context_factory), attached to t.bus."""
    routes: dict[str, str] = {}
    make_ctx = context_factory(
        t.settings, orders=t.orders, pretrade=t.pretrade, capital=t.capital, instruments=t.instruments,
        clock=clock, locks=locks, bus=t.bus, routes=routes, pause=t.pause, halt=t.halt,
        position_view=ledger_position(t.positions),
        fee_rates=fee_view(t.redis, t.keys, t.settings, clock),
    )  # fmt: skip
    built = build_strategies(t.settings.strategies, make_ctx, t.settings.strategies_dir)
    runner = StrategyRunner(built, routes, lookup=t.orders.get)
    runner.attach(t.bus)
    return Strategies(built, routes, runner)


@runtime_checkable
class FlatStops(Protocol):
    """A sender that cancels a position's stops when it is seen flat (athena.ops.direct_stops)."""

    def on_position(self, pos: Position) -> None: ...

    def on_fill(self, fill: Fill) -> None: ...


def stream_strategies(engine: Engine, clock: StrategyClock) -> Strategies:
    """The stream worker's last steps: fills a crashed process left in the outbox go out before any
    strategy exists (strategies learn positions from the OMS's events), then the strategies, then the
    sender's flat-position stop cancel, which must follow the ledger's booking of a fill."""
    engine.orders.recover_outbox()
    wired = strategies(engine, clock, redis_locks(engine.redis, engine.keys))
    if isinstance(engine.sender, FlatStops):
        engine.bus.subscribe(EventType.POSITION_UPDATE, engine.sender.on_position)
        engine.bus.subscribe(EventType.ORDER_FILLED, engine.sender.on_fill)
    return wired


def parts_of(built: Account) -> dict[str, Any]:
    """The fields of `built` (an Account, a Trading), to build the role object that extends it."""
    return {f.name: getattr(built, f.name) for f in fields(built)}
