"""Composition root: builds the components one process needs, from Settings.

Roles:
- "orders": the orders worker (Celery tasks). Events its OrderManager produces (acks, fills found by
  a query or a sync, stop failures) are forwarded to the Redis event stream so the stream worker's
  strategies hear about them.
- "stream": the stream worker. It reads that event stream and republishes it on its own bus. It
  never writes to the stream, so every event reaches its strategies exactly once.
- "cli": status and manual controls.

Fill side effects (journal, shadow ledger, capital) are idempotent by the fill's identity
(clOrdId:accFillSz), so whichever process sees a fill first books it and a relayed copy books nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal

import orjson
from redis import Redis

from athena.broker import redis_client
from athena.bus import EventBus, EventType
from athena.config import Settings
from athena.domain import Fill, Instrument, Order, Position
from athena.domain.codec import to_json
from athena.oms.capital import CapitalCommander
from athena.oms.orders import OrderManager
from athena.oms.positions import PositionManager
from athena.oms.sender import OrderSender
from athena.risk.config import RiskConfig
from athena.risk.halt import HaltSwitch
from athena.risk.marks import MarkBook
from athena.risk.pretrade import PreTradeCheck
from athena.risk.profile import profiles_from
from athena.state.algos import AlgoStore
from athena.state.counters import Backoff, Breaker, RateCounter
from athena.state.journal import Journal
from athena.state.keys import Keys
from athena.state.orders import OrderStore
from athena.state.stream import EventStream

log = logging.getLogger(__name__)

Role = Literal["orders", "stream", "cli", "test"]
INSTRUMENTS_TTL_S = 3600
# Events forwarded from the orders worker to the stream worker, and how they are named there.
FORWARDED = {
    EventType.ORDER_UPDATE: "order",
    EventType.ORDER_FILLED: "fill",
    EventType.ORDER_CANCELLED: "cancelled",
    EventType.POSITION_UPDATE: "position",
    EventType.ERROR: "error",
}


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


class Engine:
    """Everything one process needs, built lazily so a CLI command pays only for what it uses."""

    def __init__(
        self,
        settings: Settings,
        *,
        role: Role = "cli",
        sender: OrderSender | None = None,
        redis: Redis | None = None,
        bus: EventBus | None = None,
        clock: Callable[[], float] = time.time,
        shared_clock: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.role = role
        self.clock = clock
        # What times shared state (breakers, job backoff): None = Redis's TIME, which every process
        # agrees on; a caller that must control time (a test) injects its own.
        self.shared_clock = shared_clock
        self.redis = redis or redis_from_settings(settings)
        self.keys = Keys(settings.env, settings.account)
        self.bus = bus or EventBus()
        self._sender = sender
        self._instruments: dict[str, Instrument] | None = None
        if role == "orders":
            for event in FORWARDED:
                self.bus.subscribe(event, self._forward(event))
        self.bus.subscribe(EventType.ORDER_FILLED, self._book_fill)
        self.bus.subscribe(EventType.ORDER_CANCELLED, self._release)

    # -- state ----------------------------------------------------------------------------------
    @cached_property
    def store(self) -> OrderStore:
        return OrderStore(self.redis, self.keys)

    @cached_property
    def algos(self) -> AlgoStore:
        return AlgoStore(self.redis, self.keys)

    @cached_property
    def journal(self) -> Journal:
        return Journal(self.settings.db_url)

    @cached_property
    def events(self) -> EventStream:
        return EventStream(self.redis, self.keys.events)

    @cached_property
    def halt(self) -> HaltSwitch:
        return HaltSwitch(self.redis, self.keys, clock=self.clock)

    @cached_property
    def marks(self) -> MarkBook:
        return MarkBook(self.redis, self.keys, clock=self.clock)

    def breaker(self, name: str) -> Breaker:
        sched = self.settings.schedule
        return Breaker(self.redis, self.keys, name, threshold=sched.breaker_threshold, open_s=sched.breaker_open_s,
                       clock=self.shared_clock)

    def backoff(self, name: str, min_s: float, max_s: float, lease_s: float) -> Backoff:
        return Backoff(self.redis, self.keys.backoff(name), min_s=min_s, max_s=max_s, lease_s=lease_s,
                       clock=self.shared_clock)

    # -- trading components -------------------------------------------------------------------
    @property
    def sender(self) -> OrderSender:
        if self._sender is None:
            raise RuntimeError(f"engine role {self.role!r} was built without an OrderSender")
        return self._sender

    @cached_property
    def orders(self) -> OrderManager:
        _ = self.positions  # the ledger must be subscribed before the first fill can be emitted
        return OrderManager(self.store, self.bus, self.sender, journal=self.journal, clock=self.clock, algos=self.algos)

    @cached_property
    def positions(self) -> PositionManager:
        return PositionManager(self.redis, self.keys, self.bus, journal=self.journal, instruments=self.instruments, clock=self.clock)

    @cached_property
    def capital(self) -> CapitalCommander:
        return CapitalCommander(self.redis, self.keys, self.settings, clock=self.clock)

    @cached_property
    def risk_config(self) -> RiskConfig:
        return RiskConfig.from_settings(self.settings.risk)

    @cached_property
    def pretrade(self) -> PreTradeCheck:
        return PreTradeCheck(
            profiles_from(self.settings),
            self.risk_config,
            self.capital,
            self.halt,
            self.marks,
            lambda strategy: RateCounter(self.redis, self.keys.counter(f"orders_per_min:{strategy}"), 60.0),
        )

    # -- exchange -----------------------------------------------------------------------------
    @cached_property
    def rest(self) -> Any:
        from athena.okx.rest import OkxRestGateway

        return OkxRestGateway(self.settings)

    @cached_property
    def price_bands(self) -> Any:
        """Each instrument's price-limit band, fetched when a refusal shows it matters (athena.ops.price_band)."""
        from athena.ops.price_band import PriceBands

        return PriceBands(self.rest)

    @property
    def instruments(self) -> dict[str, Instrument]:
        """Instrument metadata for the configured symbols: Redis cache, else REST (then cached)."""
        if self._instruments is None:
            self._instruments = self._load_instruments()
        return self._instruments

    def _load_instruments(self) -> dict[str, Instrument]:
        key = self.keys.kv("instruments")
        raw = self.redis.get(key)
        rows: list[dict[str, Any]]
        if raw:
            rows = orjson.loads(raw)
        else:
            rows = [to_json(i) for i in self.rest.instruments()]
            self.redis.set(key, orjson.dumps(rows), ex=INSTRUMENTS_TTL_S)
        wanted = set(self.settings.symbols) | {i for s in self.settings.strategies for i in s.instIds}
        out = {}
        for row in rows:
            if row["instId"] in wanted:
                out[row["instId"]] = Instrument.from_okx(row)
        missing = wanted - set(out)
        if missing:
            raise RuntimeError(f"instruments not offered by the exchange: {sorted(missing)}")
        # Sizing, PnL and capital are linear (contracts x ctVal in the settle currency): an inverse
        # swap (BTC-USD-SWAP) would be sized and booked wrongly, so it is refused at start-up.
        inverse = sorted(i for i, inst in out.items() if inst.ctType != "linear")
        if inverse:
            raise RuntimeError(f"symbols: inverse swaps are not supported (linear USDT/USDC swaps only): {inverse}")
        return out

    # -- fill side effects (idempotent) ---------------------------------------------------------
    def _book_fill(self, fill: Fill) -> None:
        inst = self.instruments.get(fill.instId)
        if inst is None:
            log.error("fill %s for unknown instrument %s: not booked in capital", fill.fill_key, fill.instId)
            return
        self.capital.on_fill(fill, inst)

    def _release(self, order: Order) -> None:
        self.capital.release(order.clOrdId)

    def _forward(self, event: EventType) -> Callable[[Any], None]:
        kind = FORWARDED[event]

        def forward(payload: Any) -> None:
            data = payload if isinstance(payload, dict) else to_json(payload)
            self.events.publish(kind, {"data": data, "type": type(payload).__name__})

        return forward

    # -- views ----------------------------------------------------------------------------------
    def mark_map(self) -> dict[str, Decimal]:
        return self.marks.get_many(self.instruments)

    def on_exchange_positions(self, positions: list[Position]) -> None:
        for pos in positions:
            self.positions.on_exchange_position(pos)
            self.bus.publish(EventType.POSITION_UPDATE, pos)

    def close(self) -> None:
        if "rest" in self.__dict__:
            self.rest.close()
        if "journal" in self.__dict__:
            self.journal.close()
        self.redis.close()
