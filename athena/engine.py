"""What one process holds for one account, by role; athena.wiring builds each, in order.

- Account: the account's state in Redis (orders, stops, halt switch, pauses, marks, capital), read and
  written by every role. The CLI needs nothing else.
- Trading: an Account with its OMS (bus, instruments, risk, shadow ledger, OrderManager): what the orders
  worker, the stream worker and the backtest run.
- Engine: Trading with the journal, the exchange (ExchangePort, and its price-limit bands) and the Redis
  event stream: the orders and stream workers'. athena.ops takes one.

Fill side effects (journal, shadow ledger, capital) are idempotent by the fill's identity
(clOrdId:accFillSz), so whichever process sees a fill first books it and a relayed copy books nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from redis import Redis

from athena.bus import EventBus, EventType
from athena.config import Settings
from athena.domain import Instrument, Position
from athena.okx.port import ExchangePort
from athena.oms.capital import CapitalCommander
from athena.oms.orders import OrderManager
from athena.oms.positions import PositionManager
from athena.oms.sender import OrderSender
from athena.ops.price_band import PriceBands
from athena.risk.config import RiskConfig
from athena.risk.halt import HaltSwitch
from athena.risk.marks import MarkBook
from athena.risk.pretrade import PreTradeCheck
from athena.state.algos import AlgoStore
from athena.state.counters import Backoff, Breaker
from athena.state.journal import Journal
from athena.state.keys import Keys
from athena.state.orders import OrderStore
from athena.state.stream import EventStream
from athena.strategies.pause import StrategyPause

Clock = Callable[[], float]  # epoch seconds


@dataclass(kw_only=True, eq=False, repr=False)
class Account:
    settings: Settings
    redis: Redis
    keys: Keys
    clock: Clock  # stamps records (orders, halt, marks, capital): a backtest's is simulated
    # What times shared state (breakers, job backoff): None = Redis's TIME, which every process agrees
    # on; a caller that must control time (a test) injects its own.
    shared_clock: Clock | None
    store: OrderStore
    algos: AlgoStore
    halt: HaltSwitch
    pause: StrategyPause
    marks: MarkBook
    capital: CapitalCommander

    def breaker(self, name: str) -> Breaker:
        sched = self.settings.schedule
        return Breaker(
            self.redis,
            self.keys,
            name,
            threshold=sched.breaker_threshold,
            open_s=sched.breaker_open_s,
            clock=self.shared_clock,
        )

    def backoff(self, name: str, min_s: float, max_s: float, lease_s: float) -> Backoff:
        return Backoff(
            self.redis,
            self.keys.backoff(name),
            min_s=min_s,
            max_s=max_s,
            lease_s=lease_s,
            clock=self.shared_clock,
        )

    def close(self) -> None:
        self.redis.close()


@dataclass(kw_only=True, eq=False, repr=False)
class Trading(Account):
    bus: EventBus
    sender: OrderSender
    instruments: dict[str, Instrument]
    risk_config: RiskConfig
    pretrade: PreTradeCheck
    positions: PositionManager
    orders: OrderManager
    journal: Journal | None  # None in a backtest

    def mark_map(self) -> dict[str, Decimal]:
        return self.marks.get_many(self.instruments)

    def on_exchange_positions(self, positions: list[Position]) -> None:
        for pos in positions:
            self.positions.on_exchange_position(pos)
            self.bus.publish(EventType.POSITION_UPDATE, pos)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
        super().close()


@dataclass(kw_only=True, eq=False, repr=False)
class Engine(Trading):
    journal: Journal
    rest: ExchangePort
    price_bands: PriceBands  # each instrument's price-limit band, fetched when a refusal shows it matters
    events: EventStream  # the Redis event stream from the orders worker to the stream worker

    def close(self) -> None:
        self.rest.close()
        super().close()
