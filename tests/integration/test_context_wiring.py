"""One builder makes every strategy's context: the context the stream worker wires (StreamService.build
over the Engine athena.wiring builds, as live, demo and sim run it) sizes and refuses entries exactly as the
backtest's does, capped by the strategy's max_position and by its free allocation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import orjson
import pytest

from athena.backtest.engine import Backtest
from athena.config import RiskProfileSettings, StrategySettings, load_settings
from athena.domain.codec import to_json
from athena.oms.capital import CapitalCommander
from athena.oms.sender import RecordingSender
from athena.process.stream_service import StreamService
from athena.sim.instruments import default_instruments
from athena.strategies.context import StrategyContext
from athena.wiring import account, stream_engine

BTC = "BTC-USDT-SWAP"
PX, STOP = D("100000.0"), D("99000.0")  # one contract (0.01 BTC) is 1000 USDT: margin 333.33 at leverage 3
# 10 contracts by max_order_notional (and by leverage x allocation: 15000), 3 by max_position
RISK = RiskProfileSettings(leverage=D(3), max_order_notional=D(10_000), max_position=D(3))
STRATEGY = StrategySettings(name="wired", instIds=[BTC], allocation=D("0.5"), risk=RISK)  # 5000 of 10000


@dataclass
class Wired:
    ctx: StrategyContext
    capital: CapitalCommander


@pytest.fixture(params=["stream", "backtest"])
def wired(
    request: pytest.FixtureRequest, redis_client: Any, redis_url: str, tmp_path: Path
) -> Iterator[Wired]:
    if request.param == "backtest":
        bt = Backtest([STRATEGY], redis_client, total_capital=D(10_000))
        yield Wired(bt.stack.strategies[0].ctx, bt.stack.capital)
        return
    env = {
        "ATHENA_ENV": "test",
        "REDIS_URL": redis_url,
        "ATHENA_ACCOUNT": "wiring",
        "ATHENA_DB_URL": f"sqlite:///{tmp_path / 'athena.db'}",
    }
    settings = load_settings(env="test", environ=env, dotenv=False)
    settings = settings.model_copy(
        update={"strategies": [STRATEGY], "symbols": [BTC], "total_capital": D(10_000)}
    )
    acct = account(settings)
    rows = [to_json(si.inst) for si in default_instruments()]  # the instrument cache the engine reads first
    redis_client.set(acct.keys.instruments, orjson.dumps(rows))
    engine = stream_engine(acct, RecordingSender())
    svc = StreamService(engine)
    svc.build()  # the stream worker's wiring; its WebSocket gateways are built, never started
    try:
        yield Wired(svc.strategies[0].ctx, engine.capital)
    finally:
        engine.close()


def buy(ctx: StrategyContext, sz: str) -> Any:
    return ctx.buy(BTC, D(sz), PX, post_only=True, stop_loss_px=STOP)


def test_entries_are_sized_to_max_position_and_refused_beyond_it(wired: Wired) -> None:
    ctx = wired.ctx
    assert ctx.max_contracts(BTC, PX) == D(3)  # not the 10 the notional cap alone allows
    beyond = buy(ctx, "3.01")
    assert not beyond.ok and beyond.reason.startswith("max_position"), beyond
    assert buy(ctx, "3").ok


def test_entries_are_sized_to_the_free_allocation_and_refused_beyond_it(wired: Wired) -> None:
    ctx = wired.ctx
    held = wired.capital.reserve("wired", "held1", D(4500))  # another order of this strategy holds 4500
    assert held.ok
    assert ctx.max_contracts(BTC, PX) == D("1.5")  # leverage 3 x free 500 = 1500 USDT
    beyond = buy(ctx, "1.51")
    assert not beyond.ok and beyond.reason.startswith("buying_power"), beyond
    assert buy(ctx, "1.5").ok
