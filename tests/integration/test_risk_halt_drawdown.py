"""HaltSwitch and the drawdown breaker against a real Redis."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

from athena import alerts
from athena.alerts import Alert, Notifier
from athena.alerts import events as alert_events
from athena.config import RiskSettings, Settings, StrategySettings
from athena.domain import Fill, Instrument, PosSide, Side
from athena.oms.capital import CapitalCommander
from athena.risk import HaltSwitch, RiskConfig, check_drawdown
from athena.state.keys import Keys

BTC = Instrument("BTC-USDT-SWAP", ctVal=D("0.01"), lotSz=D("0.01"), tickSz=D("0.1"), minSz=D("0.01"))
MARK = "BTC-USDT-SWAP"
SETTINGS = Settings(
    total_capital=D(10000),
    strategies=[StrategySettings(name="alpha", instIds=["BTC-USDT-SWAP"], allocation=D(1))],
)


class Clock:
    def __init__(self, t: float = 1_780_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def keys() -> Keys:
    return Keys("test", "dd")


@pytest.fixture()
def halt(redis_client: Any, keys: Keys, clock: Clock) -> HaltSwitch:
    return HaltSwitch(redis_client, keys, clock)


@pytest.fixture()
def cap(redis_client: Any, keys: Keys, clock: Clock) -> CapitalCommander:
    return CapitalCommander(redis_client, keys, SETTINGS, clock)


class RecordingSink:
    name = "recording"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


@pytest.fixture()
def sent() -> Iterator[list[Alert]]:
    """The alerts this process emits, as a sink receives them (no rate limit: every emit is seen)."""
    sink = RecordingSink()
    previous = alerts.install(Notifier([sink], max_per_window=100))
    try:
        yield sink.alerts
    finally:
        alerts.install(previous)


def delivered(sent: list[Alert]) -> list[Alert]:
    notifier = alerts.current()
    assert notifier is not None and notifier.flush(5.0)
    return [replace(a, ts_ms=0) for a in sent]


CFG = RiskConfig.from_settings(RiskSettings())  # max drawdown 10%, daily loss 3%

_n = iter(range(1, 10**9))


def trade(cap: CapitalCommander, side: Side, sz: str, px: str, fee: str = "0") -> None:
    f = Fill(f"o{next(_n)}", BTC.instId, side, PosSide.NET, D(sz), D(px), D(sz), fee=D(fee), strategy="alpha")
    assert cap.on_fill(f, BTC).applied


# -- halt switch ------------------------------------------------------------------------------------------
def test_halt_carries_reason_who_when_and_first_wins(redis_client: Any, halt: HaltSwitch, keys: Keys) -> None:
    assert not halt.is_halted() and halt.state() is None
    assert halt.halt("manual stop", who="alice")
    assert not halt.halt("second reason", who="bob")  # already halted: original kept
    st = halt.state()
    assert st is not None and (st.reason, st.who, st.ts) == ("manual stop", "alice", 1_780_000_000_000)
    other = HaltSwitch(redis_client, keys)  # another process sees it
    assert other.is_halted()
    assert other.resume(who="alice") and not halt.is_halted()
    assert not halt.resume()
    assert [e["action"] for e in halt.history()] == ["resume", "halt"]


def test_a_new_halt_alerts_with_its_reason_and_who_and_a_repeated_halt_does_not(
    halt: HaltSwitch, sent: list[Alert]
) -> None:
    assert halt.halt("manual stop", who="alice")
    assert not halt.halt("second reason", who="bob")
    assert delivered(sent) == [replace(alert_events.halt("manual stop", "alice"), ts_ms=0)]


def test_halt_is_per_account(redis_client: Any, halt: HaltSwitch) -> None:
    halt.halt("x")
    assert not HaltSwitch(redis_client, Keys("test", "other")).is_halted()


# -- drawdown breaker -------------------------------------------------------------------------------------
def test_no_breach_no_halt(cap: CapitalCommander, halt: HaltSwitch) -> None:
    rep = check_drawdown(cap, CFG, halt)
    assert rep.equity == D(10000) and rep.hwm == D(10000) and rep.drawdown == 0
    assert rep.breached is None and not rep.halted and not halt.is_halted()
    assert rep.daily_limit == D(300)


def test_max_drawdown_on_unrealised_loss_halts(cap: CapitalCommander, halt: HaltSwitch) -> None:
    trade(cap, Side.BUY, "100", "50000")  # 1 BTC
    rep = check_drawdown(cap, CFG, halt, {MARK: D(49100)})  # -900: 9%
    assert rep.drawdown == D("0.09") and rep.breached is None and not halt.is_halted()
    rep = check_drawdown(cap, CFG, halt, {MARK: D(49000)})  # -1000: 10%
    assert rep.breached == "max_drawdown" and rep.halted and rep.newly_halted
    st = halt.state()
    assert st is not None and st.who == "drawdown_breaker" and st.reason.startswith("max_drawdown")
    assert "drawdown 10.0000% >= 10.00%" in st.reason and "hwm 10000" in st.reason  # what the operator reads
    assert rep.max_drawdown == CFG.max_drawdown and rep.complete is True
    again = check_drawdown(cap, CFG, halt, {MARK: D(48000)})
    assert again.halted and not again.newly_halted  # first reason kept


def test_a_breach_alerts_its_kind_and_numbers_on_every_check_while_breached(
    cap: CapitalCommander, halt: HaltSwitch, sent: list[Alert]
) -> None:
    trade(cap, Side.BUY, "100", "50000")
    check_drawdown(cap, CFG, halt, {MARK: D(49100)})  # 9%: no breach, no alert
    assert delivered(sent) == []
    check_drawdown(cap, CFG, halt, {MARK: D(49000)})
    check_drawdown(cap, CFG, halt, {MARK: D(48000)})  # still breached: alerted again (the notifier limits)
    text1 = "drawdown 10.0000% >= 10.00% (equity 9000.00000000, hwm 10000)"
    text2 = "drawdown 20.0000% >= 10.00% (equity 8000.00000000, hwm 10000)"
    got = delivered(sent)
    assert sorted(got, key=lambda a: (a.event, a.text)) == [
        replace(alert_events.drawdown("max_drawdown", text1), ts_ms=0),
        replace(alert_events.drawdown("max_drawdown", text2), ts_ms=0),
        replace(alert_events.halt(f"max_drawdown: {text1}", "drawdown_breaker"), ts_ms=0),  # once
    ]


def test_drawdown_measured_from_high_water_mark(cap: CapitalCommander, halt: HaltSwitch) -> None:
    trade(cap, Side.BUY, "100", "50000")
    assert check_drawdown(cap, CFG, halt, {MARK: D(55000)}).hwm == D(15000)
    rep = check_drawdown(cap, CFG, halt, {MARK: D(53600)})  # 13600: 9.33% below 15000
    assert rep.breached is None and rep.equity == D(13600)
    rep = check_drawdown(cap, CFG, halt, {MARK: D(53500)})  # 13500: 10%
    assert rep.breached == "max_drawdown" and halt.is_halted()


def test_daily_loss_limit_halts_and_resets_next_utc_day(
    cap: CapitalCommander, halt: HaltSwitch, clock: Clock
) -> None:
    trade(cap, Side.BUY, "10", "50000")
    trade(cap, Side.SELL, "10", "47100", fee="-0.1")  # -290.1 realised
    rep = check_drawdown(cap, CFG, halt)
    assert rep.daily_realised == D("-290.1") and rep.breached is None
    trade(cap, Side.BUY, "1", "50000")
    trade(cap, Side.SELL, "1", "49000", fee="-0.1")  # -10.1 more: -300.2 >= 300
    rep = check_drawdown(cap, CFG, halt)
    assert rep.breached == "daily_loss" and halt.is_halted()
    st = halt.state()
    assert st is not None and st.reason.startswith("daily_loss")
    assert "daily realised loss 300.2 >= 3.00%" in st.reason  # the loss as a positive amount
    halt.resume()
    clock.t += 86400  # next UTC day: the limit is 3% of the day's opening equity (9699.8)
    rep = check_drawdown(cap, CFG, halt)
    assert rep.daily_realised == 0 and rep.breached is None and not halt.is_halted()
    assert rep.daily_limit == D("290.994")


def test_missing_mark_is_reported_and_does_not_raise_hwm(
    cap: CapitalCommander, halt: HaltSwitch, caplog: pytest.LogCaptureFixture
) -> None:
    trade(cap, Side.BUY, "100", "50000")
    with caplog.at_level(logging.WARNING, logger="athena.risk.drawdown"):
        rep = check_drawdown(cap, CFG, halt)  # no mark for the open position
    assert rep.complete is False and rep.hwm == D(10000)
    (warned,) = [r.getMessage() for r in caplog.records if r.name == "athena.risk.drawdown"]
    assert "without a mark for every open position" in warned and "equity 10000" in warned
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="athena.risk.drawdown"):
        assert check_drawdown(cap, CFG, halt, {MARK: D(50000)}).complete is True
    assert [r for r in caplog.records if r.name == "athena.risk.drawdown"] == []


def test_breaker_survives_restart(redis_client: Any, keys: Keys, clock: Clock, cap: CapitalCommander) -> None:
    trade(cap, Side.BUY, "100", "50000")
    check_drawdown(cap, CFG, HaltSwitch(redis_client, keys, clock), {MARK: D(60000)})  # hwm 20000
    fresh_cap = CapitalCommander(redis_client, keys, SETTINGS, clock)
    fresh_halt = HaltSwitch(redis_client, keys, clock)
    rep = check_drawdown(fresh_cap, CFG, fresh_halt, {MARK: D(58000)})  # 18000: 10% below 20000
    assert rep.hwm == D(20000) and rep.breached == "max_drawdown" and fresh_halt.is_halted()
