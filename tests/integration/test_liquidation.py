"""The liquidation-distance rule in the stream worker: a position whose liquidation price is closer than
3x its stop's distance (a 100x isolated position on the sim) holds new entries within seconds of its
positions push; the hold lifts by itself when the position is closed. The guard writes Redis only on a
change and settles a hold a previous process left."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from typing import Any

import orjson
import pytest

from athena.config import Settings, StrategySettings
from athena.domain import AlgoOrder, Instrument, Position, PosSide, Side
from athena.domain.codec import to_json
from athena.oms.sender import RecordingSender
from athena.process.stream_service import StreamService
from athena.risk import HaltSwitch
from athena.risk.liquidation import HOLD, WHO, Finding, LiquidationGuard
from athena.sim.client import SimClient
from athena.sim.instruments import default_instruments
from athena.sim.server import SimServer
from athena.state.keys import Keys
from athena.wiring import account, stream_engine
from tests.waiting import wait_for

BTC = "BTC-USDT-SWAP"
QUIET = StrategySettings(name="quiet", instIds=[BTC], allocation=D("0.5"), params={"min_trades": 100_000})


@pytest.fixture()
def streaming(
    redis_client: Any, sim_settings: Callable[..., Settings]
) -> Iterator[tuple[StreamService, SimClient]]:
    with SimServer(tick_interval_ms=0, rate_limits=False) as sim:
        sim.call(sim.market.step)
        settings = sim_settings(
            sim,
            "liq",
            OKX_WS_PUBLIC_URL=sim.ws_url("public"),
            OKX_WS_PRIVATE_URL=sim.ws_url("private"),
            OKX_WS_BUSINESS_URL=sim.ws_url("business"),
        )
        settings = settings.model_copy(update={"strategies": [QUIET], "symbols": [BTC]})
        acct = account(settings)
        redis_client.set(
            acct.keys.instruments, orjson.dumps([to_json(si.inst) for si in default_instruments()])
        )
        engine = stream_engine(acct, RecordingSender())
        svc = StreamService(engine)
        svc.start()
        try:
            yield svc, SimClient(sim.url)
        finally:
            svc.stop()
            engine.close()


def test_a_position_near_liquidation_holds_entries_until_closed(
    streaming: tuple[StreamService, SimClient],
) -> None:
    svc, admin = streaming
    halt = svc.engine.halt
    wait_for(lambda: svc.private is not None and svc.private.ready, 20, "the private WebSocket")
    admin.post("/api/v5/account/set-leverage", {"instId": BTC, "lever": "100", "mgnMode": "isolated"})
    r = admin.post(
        "/api/v5/trade/order",
        {
            "instId": BTC,
            "tdMode": "isolated",
            "side": "buy",
            "ordType": "market",
            "sz": "1",
            "clOrdId": "hand1",
        },
    )
    assert r["data"][0]["sCode"] == "0"
    held = wait_for(lambda: halt.holds().get(HOLD), 20, "the liquidation-distance hold")
    assert "liquidation too close" in held.reason and BTC in held.reason and halt.is_halted()
    st = halt.state()
    assert st is not None and st.who == "liquidation_guard"
    # the strategy's next entry is refused with that reason
    ctx = svc.strategies[0].ctx
    refused = ctx.buy(BTC, D("0.01"), D("90000.0"), post_only=True, stop_loss_px=D("89000.0"))
    assert not refused.ok and "liquidation too close" in refused.reason
    admin.post("/api/v5/trade/close-position", {"instId": BTC, "mgnMode": "isolated"})
    wait_for(lambda: HOLD not in halt.holds(), 20, "the hold to lift once the position is closed")
    assert not halt.is_halted()


class CountingHalt(HaltSwitch):
    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.writes = 0

    def hold(self, name: str, reason: str, who: str) -> bool:
        self.writes += 1
        return super().hold(name, reason, who)

    def release(self, name: str, who: str) -> bool:
        self.writes += 1
        return super().release(name, who)


def test_the_guard_writes_only_on_a_change_and_settles_a_stale_hold(redis_client: Any) -> None:
    halt = CountingHalt(redis_client, Keys("test", "liqguard"))
    halt.hold(HOLD, "left by a previous process", "liquidation_guard")
    guard = LiquidationGuard(halt, D(3))
    calm = [Finding(BTC, D(5000), D(1000), D(3))]
    tight = [Finding(BTC, D(2000), D(1000), D(3))]
    halt.writes = 0
    assert guard.apply(calm) == [] and not halt.is_halted() and halt.writes == 1  # the stale hold released
    guard.apply(calm)
    assert halt.writes == 1  # nothing changed: no write
    assert guard.apply(tight) == tight and halt.is_halted() and halt.writes == 2
    guard.apply(tight)
    assert halt.writes == 2
    guard.apply(calm)
    assert not halt.is_halted() and halt.writes == 3


def test_check_is_skipped_while_flat_and_settled(redis_client: Any) -> None:
    halt = CountingHalt(redis_client, Keys("test", "liqflat"))
    guard = LiquidationGuard(halt, D(3))
    asked: list[int] = []

    def stops() -> list[Any]:
        asked.append(1)
        return []

    assert guard.check({}, stops, {}) == [] and halt.writes == 1  # the first check settles the hold
    assert guard.check({}, stops, {}) is None and halt.writes == 1 and asked == []  # flat: nothing read
    guard.on_position(Position(BTC, PosSide.NET, D("0"), None))
    assert guard.check({}, stops, {}) == [] and asked == []  # a flat push: re-evaluated, no stops needed


def test_a_long_and_a_short_of_one_instrument_are_watched_apart(redis_client: Any) -> None:
    """Long/short mode: a flat short push must not replace the long that is close to liquidation."""
    insts = {BTC: Instrument(BTC, ctVal=D("0.01"), lotSz=D("0.01"), tickSz=D("0.1"), minSz=D("0.01"))}
    guard = LiquidationGuard(HaltSwitch(redis_client, Keys("test", "liqsides")), D(3))
    guard.on_position(Position(BTC, PosSide.LONG, D(1), D(100000), markPx=D(100000), liqPx=D(98600)))
    guard.on_position(Position(BTC, PosSide.SHORT, D(0), None))
    found = guard.check({BTC: D(100000)}, lambda: [AlgoOrder("s", BTC, Side.SELL, D(1), D(99500))], insts)
    assert found is not None and [f.liq_distance for f in found] == [D(1400)] and guard.halt.is_halted()


def test_a_breach_is_reported_once_with_its_reason_and_lifted_by_the_guard(
    redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The account finding comes from the last account push; on_breach gets the breached findings; the
    hold's text names every breach and what to do; a changed breach rewrites the text without a second
    alert; the release is the guard's and is logged."""
    insts = {BTC: Instrument(BTC, ctVal=D("0.01"), lotSz=D("0.01"), tickSz=D("0.1"), minSz=D("0.01"))}
    halt = CountingHalt(redis_client, Keys("test", "liqbreach"))
    alerts: list[list[Finding]] = []
    guard = LiquidationGuard(halt, D(3), on_breach=alerts.append)
    guard.on_position(Position(BTC, PosSide.NET, D(2), D(100000), markPx=D(100000)))  # no liqPx: account only
    guard.on_account(D(100), D("1.25"))  # 20 USDT to lose, the stop would lose 20
    with caplog.at_level(logging.WARNING, logger="athena.risk.liquidation"):
        found = guard.check({BTC: D(100000)}, lambda: [AlgoOrder("s", BTC, Side.SELL, D(2), D(99500))], insts)
        assert found == [Finding("account", D(20), D(10), D(3))] and alerts == [found]  # the stop's loss: 10
        reason = halt.holds()[HOLD].reason
        assert reason == (
            "liquidation too close: " + found[0].sentence() + ": new entries held until it is not "
            "(reduce the position, add margin or lower the leverage)"
        )
        guard.on_account(D(100), D("1.2"))  # closer still: the text follows, no second alert
        guard.check({BTC: D(100000)}, lambda: [AlgoOrder("s", BTC, Side.SELL, D(2), D(99500))], insts)
        assert len(alerts) == 1 and "lose 16.67" in halt.holds()[HOLD].reason
        guard.on_account(D(100), D(10))
        assert (
            guard.check({BTC: D(100000)}, lambda: [AlgoOrder("s", BTC, Side.SELL, D(2), D(99500))], insts)
            == []
        )
    assert not halt.is_halted() and halt.history(1)[0]["who"] == WHO
    assert [r.getMessage() for r in caplog.records if r.name == "athena.risk.liquidation"] == [
        f"LIQUIDATION DISTANCE: {reason}",
        "liquidation distance back above 3x: entries allowed again",
    ]


def test_a_breach_found_under_a_hold_left_by_a_previous_process_still_alerts(redis_client: Any) -> None:
    halt = HaltSwitch(redis_client, Keys("test", "liqstale"))
    halt.hold(HOLD, "left by a previous process", WHO)
    alerts: list[list[Finding]] = []
    guard = LiquidationGuard(halt, D(3), on_breach=alerts.append)
    tight = [Finding(BTC, D(2000), D(1000), D(3))]
    assert guard.apply(tight) == tight and alerts == [
        tight
    ]  # the hold was there already: alerted all the same
