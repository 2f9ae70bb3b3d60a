"""The real parts a PreTradeCheck needs over one Redis namespace, and order requests for it (helpers the
risk tests share; not a test module)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from athena.config import RiskProfileSettings, RiskSettings, Settings, StrategySettings
from athena.domain import Fill, Instrument, OrderRequest, OrdType, PosSide, Side
from athena.oms.capital import CapitalCommander
from athena.risk import (
    Approved,
    HaltSwitch,
    MarkBook,
    PreTradeCheck,
    Reason,
    Rejected,
    RiskConfig,
    profiles_from,
)
from athena.risk.rate import order_rate_counters
from athena.state.keys import Keys

BTC = Instrument("BTC-USDT-SWAP", ctVal=D("0.01"), lotSz=D("0.01"), tickSz=D("0.1"), minSz=D("0.01"))
ETH = Instrument("ETH-USDT-SWAP", ctVal=D("0.1"), lotSz=D("0.01"), tickSz=D("0.01"), minSz=D("0.01"))
DOGE = Instrument("DOGE-USDT-SWAP", ctVal=D(1), lotSz=D(1), tickSz=D("0.00001"), minSz=D(1))
EQUITY = D(10000)


class Clock:
    def __init__(self, t: float = 1_780_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Rig:
    """The real parts a PreTradeCheck needs, over one Redis namespace."""

    def __init__(self, redis: Any, risk: RiskSettings | None = None, leverage: str = "3") -> None:
        self.redis = redis
        self.clock = Clock()
        self.keys = Keys("test", "risk")
        prof = RiskProfileSettings(
            leverage=D(leverage), max_order_notional=D(5000), max_orders_per_minute=5, max_position=D(50)
        )
        self.settings = Settings(
            total_capital=D(10000),
            risk=risk or RiskSettings(),
            strategies=[
                StrategySettings(name="alpha", instIds=["BTC-USDT-SWAP"], allocation=D("0.5"), risk=prof),
                StrategySettings(name="beta", instIds=["ETH-USDT-SWAP"], allocation=D("0.5")),
            ],
        )
        self.capital = CapitalCommander(redis, self.keys, self.settings, self.clock)
        self.halt = HaltSwitch(redis, self.keys, self.clock)
        self.marks = MarkBook(redis, self.keys, clock=self.clock)
        self.check = PreTradeCheck(
            profiles_from(self.settings),
            RiskConfig.from_settings(self.settings.risk),
            self.capital,
            self.halt,
            self.marks,
            order_rate_counters(redis, self.keys, clock=self.clock),
        )


_seq = iter(range(1, 10**9))


def req(
    side: Side = Side.BUY,
    sz: str = "1",
    px: str | None = "50000",
    stop: str | None = "49000",
    reduce: bool = False,
    strategy: str = "alpha",
    inst: Instrument = BTC,
) -> OrderRequest:
    return OrderRequest(
        clOrdId=f"t{next(_seq)}", instId=inst.instId, side=side,
        ordType=OrdType.LIMIT if px is not None else OrdType.MARKET, sz=D(sz),
        px=D(px) if px is not None else None, reduceOnly=reduce, strategy=strategy,
        stop_loss_px=D(stop) if stop is not None else None,
    )  # fmt: skip


def rejected(result: Approved | Rejected, code: Reason) -> bool:
    return isinstance(result, Rejected) and result.code == code and not result.ok and bool(result.text)


def book(rig: Rig, inst: Instrument, side: Side, sz: str, px: str, strategy: str = "alpha") -> None:
    f = Fill(f"f{next(_seq)}", inst.instId, side, PosSide.NET, D(sz), D(px), D(sz), strategy=strategy)
    assert rig.capital.on_fill(f, inst).applied
