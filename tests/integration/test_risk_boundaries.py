"""Every risk threshold and limit at its exact boundary: at the limit, one tick under, one tick over.

Semantics pinned here (from the code, docs/INTERFACES.md and the settings' names):
- the breakers trip AT their limit: daily realised loss >= daily_loss_limit x the day's opening equity,
  drawdown >= max_drawdown (the trader-safe side: reaching the limit is a breach);
- the caps allow their own value: a "max_*" limit (per-order notional, position, total exposure, leverage,
  orders per minute, free allocation, the 1% risk budget, a mark's age) is reached, not exceeded, by an
  order exactly at it; one tick beyond is refused.

A tick is the smallest step of the quantity: 0.01 USDT of realised PnL or equity (one price tick on the
position used), one price tick (tickSz) on the order for a notional, a lot (lotSz) for a position, one
order for a rate, one ms for a window or an age, 1e-8 USDT (the ledger's scale) and 0.01 USDT for margin.
Real Redis throughout; clocks are injected, so no case depends on wall time.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any, cast

import pytest
from pydantic import ValidationError

from athena.config import RiskProfileSettings, RiskSettings, Settings, StrategySettings
from athena.domain import Fill, Instrument, PosSide, Side
from athena.oms.capital import CapitalCommander
from athena.risk import HaltSwitch, MarkBook, PreTradeCheck, Reason, RiskConfig, RiskProfile, check_drawdown
from athena.risk.rate import WindowCounter, order_rate_counters
from athena.state.counters import RateCounter
from athena.state.keys import Keys
from athena.strategies.context import StrategyContext
from tests.integration.risk_rig import BTC, EQUITY, ETH, Rig, book, rejected, req

UNDER, AT, OVER = "under", "at", "over"
OK = {UNDER: True, AT: True, OVER: False}  # a cap: its own value is allowed
TRIPS = {UNDER: False, AT: True, OVER: True}  # a breaker: reaching the limit halts


def verdict(result: Any, where: str, code: Reason) -> None:
    """Approved when a cap allows it (under, at); refused for that rule's reason one tick over."""
    assert result.ok is OK[where], (where, result)
    if not result.ok:
        assert rejected(result, code), (where, result)


def px_at(base: str, where: str, tick: D) -> str:
    """base, or one tick toward 'under' / 'over' the limit (a higher px is a larger notional)."""
    return str(D(base) + {UNDER: -tick, AT: D(0), OVER: tick}[where])


class Clock:
    """Epoch seconds, set by the test. Held as ms + 0.5 so int(t * 1000) is exactly the ms meant."""

    def __init__(self, ms: int = 1_780_000_000_000) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return (self.ms + 0.5) / 1000


# -- breakers: athena/risk/drawdown.py ------------------------------------------------------------------
DD_CFG = RiskConfig.from_settings(RiskSettings())  # max_drawdown 0.10, daily_loss_limit 0.03


def _breaker_rig(redis: Any) -> tuple[CapitalCommander, HaltSwitch]:
    settings = Settings(
        total_capital=D(10000),
        strategies=[StrategySettings(name="alpha", instIds=[BTC.instId, ETH.instId], allocation=D(1))],
    )
    keys, clock = Keys("test", "bd"), Clock()
    return CapitalCommander(redis, keys, settings, clock), HaltSwitch(redis, keys, clock)


def _fill(cap: CapitalCommander, inst: Instrument, side: Side, sz: str, px: str, n: int) -> None:
    f = Fill(f"b{n}", inst.instId, side, PosSide.NET, D(sz), D(px), D(sz), strategy="alpha")
    assert cap.on_fill(f, inst).applied


@pytest.mark.parametrize("where", [UNDER, AT, OVER])
def test_daily_loss_limit_trips_at_exactly_the_limit(redis_client: Any, where: str) -> None:
    cap, halt = _breaker_rig(redis_client)
    # 10 contracts x 0.01 BTC = 0.1 BTC: one BTC tick (0.1) of exit price is 0.01 USDT realised
    _fill(cap, BTC, Side.BUY, "10", "50000", 1)
    exit_px = {UNDER: "47000.1", AT: "47000", OVER: "46999.9"}[where]
    _fill(cap, BTC, Side.SELL, "10", exit_px, 2)
    rep = check_drawdown(cap, DD_CFG, halt)
    assert rep.daily_limit == D(300)
    assert -rep.daily_realised == {UNDER: D("299.99"), AT: D(300), OVER: D("300.01")}[where]
    assert rep.drawdown < DD_CFG.max_drawdown  # only the daily limit is in play
    assert (rep.breached == "daily_loss") is TRIPS[where] and halt.is_halted() is TRIPS[where]


@pytest.mark.parametrize("where", [UNDER, AT, OVER])
def test_max_drawdown_trips_at_exactly_the_limit(redis_client: Any, where: str) -> None:
    cap, halt = _breaker_rig(redis_client)
    # 10 contracts x 0.1 ETH = 1 ETH: one ETH tick (0.01) of mark is 0.01 USDT of equity
    _fill(cap, ETH, Side.BUY, "10", "3000", 1)
    mark = {UNDER: "2000.01", AT: "2000", OVER: "1999.99"}[where]
    rep = check_drawdown(cap, DD_CFG, halt, {ETH.instId: D(mark)})
    assert rep.hwm == D(10000) and rep.equity == {UNDER: D("9000.01"), AT: D(9000), OVER: D("8999.99")}[where]
    assert rep.daily_realised == 0
    assert (rep.breached == "max_drawdown") is TRIPS[where] and halt.is_halted() is TRIPS[where]


# -- caps: athena/risk/pretrade.py -----------------------------------------------------------------------
@pytest.mark.parametrize("where", [UNDER, AT, OVER])
@pytest.mark.parametrize("reduce", [False, True], ids=["entry", "reduce_only"])
def test_max_order_notional(redis_client: Any, where: str, reduce: bool) -> None:
    rig = Rig(redis_client)  # max_order_notional 5000
    px = px_at("50000", where, BTC.tickSz)  # 10 contracts: 5000 +- 0.01
    if reduce:
        order = req(Side.SELL, sz="10", px=px, stop=None, reduce=True)
    else:
        order = req(sz="10", px=px, stop="49990")
    r = rig.check.check(order, BTC, EQUITY)
    verdict(r, where, Reason.MAX_ORDER_NOTIONAL)
    if r.ok:
        assert r.notional == {UNDER: D("4999.99"), AT: D(5000)}[where]


@pytest.mark.parametrize("where", [UNDER, AT, OVER])
def test_leverage_cap_of_the_profile(redis_client: Any, where: str) -> None:
    rig = Rig(redis_client, RiskSettings(max_total_exposure=D(10)), leverage="2")
    # 1 contract at 50000 = 500 USDT on equity 250: exactly 2x; a tick of px is 0.001 USDT of notional
    r = rig.check.check(req(px=px_at("50000", where, BTC.tickSz), stop="49900"), BTC, D(250))
    verdict(r, where, Reason.LEVERAGE)


@pytest.mark.parametrize("where", [UNDER, AT, OVER])
def test_global_leverage_cap_binds_a_greedier_profile(redis_client: Any, where: str) -> None:
    rig = Rig(redis_client, RiskSettings(max_total_exposure=D(10)))
    greedy = RiskProfile("alpha", D(5), "exchange_conditional", D(5000), 5, D(50))  # 5x asked, 3x allowed
    check = PreTradeCheck(
        {"alpha": greedy}, RiskConfig.from_settings(rig.settings.risk), rig.capital, rig.halt, rig.marks,
        order_rate_counters(redis_client, rig.keys, clock=rig.clock),
    )  # fmt: skip
    # 1.2 contracts at 50000 = 600 USDT on equity 200: exactly 3x
    r = check.check(req(sz="1.2", px=px_at("50000", where, BTC.tickSz), stop="49990"), BTC, D(200))
    verdict(r, where, Reason.LEVERAGE)


@pytest.mark.parametrize("where", [UNDER, AT, OVER])
def test_total_exposure_cap(redis_client: Any, where: str) -> None:
    rig = Rig(redis_client, RiskSettings(max_total_exposure=D("0.5")))  # 0.5 x account equity 10000 = 5000
    book(rig, ETH, Side.BUY, "10", "3000", strategy="beta")  # 3000 held (at entry: no mark)
    r = rig.check.check(req(sz="4", px=px_at("50000", where, BTC.tickSz), stop="49990"), BTC, EQUITY)  # +2000
    verdict(r, where, Reason.TOTAL_EXPOSURE)


@pytest.mark.parametrize("where", [UNDER, AT, OVER])
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_max_position(redis_client: Any, where: str, side: Side) -> None:
    rig = Rig(redis_client)  # max_position 50 contracts
    sz = str(D(50) + {UNDER: -BTC.lotSz, AT: D(0), OVER: BTC.lotSz}[where])
    stop = "999" if side is Side.BUY else "1001"
    r = rig.check.check(req(side, sz=sz, px="1000", stop=stop), BTC, EQUITY)  # 500 USDT: only the position
    verdict(r, where, Reason.MAX_POSITION)


@pytest.mark.parametrize("where", [UNDER, AT, OVER])
def test_max_position_counts_the_position_held(redis_client: Any, where: str) -> None:
    rig = Rig(redis_client)
    book(rig, BTC, Side.BUY, {UNDER: "49.98", AT: "49.99", OVER: "50"}[where], "1000")
    r = rig.check.check(req(sz="0.01", px="1000", stop="999"), BTC, EQUITY)  # one lot more
    verdict(r, where, Reason.MAX_POSITION)


@pytest.mark.parametrize("where", [UNDER, AT, OVER])
def test_risk_per_trade_budget(redis_client: Any, where: str) -> None:
    rig = Rig(redis_client)  # 1% of 10000 = 100 USDT; 1 contract = 0.01 BTC: 10000 of stop distance
    stop = {UNDER: "40000.1", AT: "40000", OVER: "39999.9"}[where]
    r = rig.check.check(req(stop=stop), BTC, EQUITY)
    verdict(r, where, Reason.RISK_PER_TRADE)
    if r.ok:
        assert r.risk == {UNDER: D("99.999"), AT: D(100)}[where]  # type: ignore[union-attr]


@pytest.mark.parametrize("where", [UNDER, AT, OVER])
def test_buying_power_is_the_free_allocation(redis_client: Any, where: str) -> None:
    rig = Rig(redis_client, leverage="2")  # alpha: 5000 allocated
    assert rig.capital.reserve("alpha", "elsewhere", D(4750)).ok  # 250 free
    r = rig.check.check(req(px=px_at("50000", where, BTC.tickSz), stop="49990"), BTC, EQUITY)  # margin 500/2
    verdict(r, where, Reason.BUYING_POWER)


# -- allocation: athena/oms/capital.py -------------------------------------------------------------------
@pytest.mark.parametrize("where", [UNDER, AT, OVER])
@pytest.mark.parametrize("tick", [D("0.00000001"), D("0.01")], ids=["ledger_tick", "cent"])
@pytest.mark.parametrize("in_view", [False, True], ids=["watch", "consistent_view"])
def test_reserve_up_to_the_free_allocation(redis_client: Any, where: str, tick: D, in_view: bool) -> None:
    rig = Rig(redis_client)
    cap = rig.capital
    assert cap.allocation("alpha") == D(5000) and cap.reserve("alpha", "first", D(4000)).ok
    margin = D(1000) + {UNDER: -tick, AT: D(0), OVER: tick}[where]
    if in_view:  # the pre-trade path: reserve() inside one snapshot of the ledger (its compare-and-set)
        with cap.consistent_view():
            assert cap.free("alpha") == D(1000)
            res = cap.reserve("alpha", "second", margin)
    else:
        res = cap.reserve("alpha", "second", margin)
    assert res.ok is OK[where] and res.code == ("reserved" if OK[where] else "insufficient")
    assert cap.free("alpha") == (D(1000) - margin if OK[where] else D(1000))


# -- order rate: athena/risk/rate.py (injected clock) and athena/state/counters.py (Redis TIME) -----------
@pytest.mark.parametrize("live", [False, True], ids=["window_counter", "rate_counter_redis_time"])
def test_rate_limit_allows_exactly_the_limit(redis_client: Any, live: bool) -> None:
    """Within one window (60 s: the live counter's Redis TIME moves, but not by that much here)."""

    def counter(key: str) -> RateCounter | WindowCounter:
        return RateCounter(redis_client, key, 60) if live else WindowCounter(redis_client, key, 60, Clock())

    one = counter("test:rate:one")
    assert [one.allow(5) for _ in range(4)] == [True] * 4  # one under
    assert one.allow(5)  # the 5th: at the limit
    assert not one.allow(5) and one.count() == 5  # the 6th: one over, and it used no budget
    batch = counter("test:rate:batch")
    assert batch.allow(5, n=2) and batch.allow(5, n=3) and batch.count() == 5  # a batch landing on the limit
    assert not batch.allow(5, n=1)
    over = counter("test:rate:over")
    assert over.allow(5, n=4) and not over.allow(5, n=2) and over.count() == 4  # 4 + 2: refused whole


def test_rate_limit_through_the_pretrade_check(redis_client: Any) -> None:
    rig = Rig(redis_client)  # 5 orders per minute
    assert all(rig.check.check(req(), BTC, EQUITY).ok for _ in range(5))
    assert rejected(rig.check.check(req(), BTC, EQUITY), Reason.RATE_LIMIT)


@pytest.mark.parametrize(("after_ms", "counted"), [(59_999, True), (60_000, False), (60_001, False)])
def test_rate_window_edge(redis_client: Any, after_ms: int, counted: bool) -> None:
    """A hit stays in the window for exactly window_s: 1 ms before, it still counts."""
    clock = Clock()
    counter = WindowCounter(redis_client, "test:edge", 60, clock)
    assert counter.allow(1)
    clock.ms += after_ms
    assert counter.allow(1) is not counted


# -- a mark's age: athena/risk/marks.py -------------------------------------------------------------------
@pytest.mark.parametrize(("age_ms", "fresh"), [(4_999, True), (5_000, True), (5_001, False)])
def test_mark_max_age(redis_client: Any, age_ms: int, fresh: bool) -> None:
    now = [1_780_000_000.0]  # MarkBook compares float ms: whole seconds keep the at-limit age exact
    marks = MarkBook(redis_client, Keys("test", "bd"), max_age_ms=5000, clock=lambda: now[0])
    marks.set(BTC.instId, D(50000))
    now[0] += age_ms / 1000
    assert (marks.get(BTC.instId) == D(50000)) is fresh and (marks.get(BTC.instId) is None) is not fresh


# -- max_position and the per-order cap in sizing: athena/strategies/context.py max_contracts --------------
def _context(max_notional: D | None, max_position: D | None) -> StrategyContext:
    none = cast(Any, None)  # max_contracts reads only the instruments and the two limits
    return StrategyContext(
        "alpha", orders=none, risk=none, instruments={BTC.instId: BTC}, equity=lambda: EQUITY, sizer=none,
        clock=none, locks=none, bus=none, max_notional=(lambda: max_notional) if max_notional else None,
        max_position=max_position,
    )  # fmt: skip


@pytest.mark.parametrize(("cap", "contracts"), [("4999.99", "9.99"), ("5000", "10"), ("5000.01", "10")])
def test_max_contracts_by_notional_never_rounds_up(cap: str, contracts: str) -> None:
    assert _context(D(cap), None).max_contracts(BTC.instId, D(50000)) == D(contracts)


@pytest.mark.parametrize(("position", "contracts"), [("9.99", "9.99"), ("10", "10"), ("10.01", "10")])
def test_max_contracts_is_the_smaller_of_the_two_limits(position: str, contracts: str) -> None:
    assert _context(D(5000), D(position)).max_contracts(BTC.instId, D(50000)) == D(contracts)
    assert _context(None, D(position)).max_contracts(BTC.instId, D(50000)) == D(position)


@pytest.mark.parametrize("px", ["50000", "49999.9", "1000", "33333.3"])
def test_max_contracts_is_approved_and_one_lot_more_is_not(redis_client: Any, px: str) -> None:
    """The sizing cap and the pre-trade check agree at the boundary: the entry max_contracts allows passes,
    one lot more is refused (per-order notional, or max_position at a low px)."""
    rig = Rig(redis_client)  # max_order_notional 5000, max_position 50
    sz = _context(D(5000), D(50)).max_contracts(BTC.instId, D(px))
    assert sz is not None and sz > 0
    stop = str(D(px) - 1)
    assert rig.check.check(req(sz=str(sz), px=px, stop=stop), BTC, EQUITY).ok
    r = rig.check.check(req(sz=str(sz + BTC.lotSz), px=px, stop=stop), BTC, EQUITY)
    assert rejected(r, Reason.MAX_POSITION) or rejected(r, Reason.MAX_ORDER_NOTIONAL)


# -- the configured caps: athena/config.py ------------------------------------------------------------------
def _settings(
    risk: dict[str, str] | None = None, leverage: str = "3", allocations: tuple[str, ...] = ("1",)
) -> Settings:
    prof = RiskProfileSettings(leverage=D(leverage))
    return Settings(
        risk=RiskSettings(**{k: D(v) for k, v in (risk or {}).items()}),
        strategies=[StrategySettings(name=f"s{i}", instIds=[BTC.instId], allocation=D(a), risk=prof)
                    for i, a in enumerate(allocations)],
    )  # fmt: skip


@pytest.mark.parametrize(("value", "ok"), [("2.99", True), ("3", True), ("3.01", False)])
def test_config_max_leverage_is_at_most_three(value: str, ok: bool) -> None:
    if ok:
        assert _settings({"max_leverage": value}, leverage=value).risk.max_leverage == D(value)
    else:
        with pytest.raises(ValidationError, match="max_leverage"):
            _settings({"max_leverage": value}, leverage="1")


@pytest.mark.parametrize(("value", "ok"), [("1.99", True), ("2", True), ("2.01", False)])
def test_config_strategy_leverage_is_at_most_max_leverage(value: str, ok: bool) -> None:
    if ok:
        assert _settings({"max_leverage": "2"}, leverage=value).strategies[0].risk.leverage == D(value)
    else:
        with pytest.raises(ValidationError, match=r"exceeds risk\.max_leverage"):
            _settings({"max_leverage": "2"}, leverage=value)


@pytest.mark.parametrize(("value", "ok"), [("0.0499", True), ("0.05", True), ("0.0501", False)])
def test_config_risk_per_trade_is_at_most_five_percent(value: str, ok: bool) -> None:
    if ok:
        assert _settings({"risk_per_trade": value}).risk.risk_per_trade == D(value)
    else:
        with pytest.raises(ValidationError, match="risk_per_trade"):
            _settings({"risk_per_trade": value})


@pytest.mark.parametrize(("second", "ok"), [("0.39", True), ("0.4", True), ("0.41", False)])
def test_config_allocations_add_up_to_at_most_one(second: str, ok: bool) -> None:
    if ok:
        assert len(_settings(allocations=("0.6", second)).strategies) == 2
    else:
        with pytest.raises(ValidationError, match=r"allocations add up to 1\.01 > 1"):
            _settings(allocations=("0.6", second))
