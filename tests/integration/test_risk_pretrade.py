"""PreTradeCheck against a real Redis: one test (or more) per rule, the bypass, and the no-mark rule."""

from __future__ import annotations

import logging
from decimal import Decimal as D
from typing import Any

import pytest

from athena.config import RiskSettings
from athena.domain import Fill, Position, PosSide, Side
from athena.domain.market import BookTop, Level, Ticker, Trade
from athena.oms.capital import CapitalCommander
from athena.procs import wait_until
from athena.risk import (
    Approved,
    MarkBook,
    PreTradeCheck,
    Reason,
    Rejected,
    RiskConfig,
    RiskProfile,
    profiles_from,
)
from athena.risk.gate import check_and_reserve
from athena.risk.rate import WindowCounter, order_rate_counters
from athena.state.keys import Keys
from tests.integration.risk_rig import BTC, DOGE, EQUITY, ETH, Clock, Rig, book, rejected, req


@pytest.fixture()
def rig(redis_client: Any) -> Rig:
    return Rig(redis_client)


def test_plain_entry_is_approved_with_margin_and_risk(rig: Rig) -> None:
    r = rig.check.check(req(), BTC, EQUITY)
    assert isinstance(r, Approved) and r.ok and not r.bypassed
    assert r.ref_px == D(50000) and r.notional == D(500) and r.risk == D(10)
    assert r.margin == D(500) / D(3)


def test_halt_blocks_entries_but_not_reduce_only(rig: Rig) -> None:
    rig.halt.halt("test", who="pytest")
    r = rig.check.check(req(), BTC, EQUITY)
    assert rejected(r, Reason.HALTED) and "test" in r.text  # type: ignore[union-attr]
    assert rig.check.check(req(Side.SELL, stop=None, reduce=True), BTC, EQUITY).ok
    rig.halt.resume()
    assert rig.check.check(req(), BTC, EQUITY).ok


def test_max_order_notional(rig: Rig) -> None:
    assert rejected(rig.check.check(req(sz="10.01", stop="49990"), BTC, EQUITY), Reason.MAX_ORDER_NOTIONAL)
    assert rig.check.check(req(sz="10", stop="49990"), BTC, EQUITY).ok  # exactly 5000
    # reduce-only orders are size-capped too
    assert rejected(
        rig.check.check(req(Side.SELL, sz="11", reduce=True), BTC, EQUITY), Reason.MAX_ORDER_NOTIONAL
    )


def test_buying_power_against_free_allocation(rig: Rig) -> None:
    assert rig.capital.reserve("alpha", "big", D(4900)).ok  # 100 left of 5000
    assert rejected(rig.check.check(req(), BTC, EQUITY), Reason.BUYING_POWER)  # needs 166.67
    assert rejected(
        rig.check.check(req(sz="0.6", px="50000.1", stop="49500"), BTC, EQUITY), Reason.BUYING_POWER
    )
    assert rig.check.check(req(sz="0.6", stop="49500"), BTC, EQUITY).ok  # needs 100 exactly
    rig.capital.release("big")
    assert rig.check.check(req(), BTC, EQUITY).ok


def test_rate_limit_per_strategy_per_minute(rig: Rig) -> None:
    for _ in range(5):
        assert rig.check.check(req(), BTC, EQUITY).ok
    assert rejected(rig.check.check(req(), BTC, EQUITY), Reason.RATE_LIMIT)
    assert rig.check.check(
        req(strategy="beta", inst=ETH, px="3000", stop="2990"), ETH, EQUITY
    ).ok  # own counter
    rig.clock.t += 61
    assert rig.check.check(req(), BTC, EQUITY).ok


def test_rejected_orders_do_not_use_the_rate_budget(rig: Rig) -> None:
    for _ in range(8):
        assert rejected(rig.check.check(req(stop=None), BTC, EQUITY), Reason.NO_STOP)
    for _ in range(5):
        assert rig.check.check(req(), BTC, EQUITY).ok


def test_max_position_after_fill(rig: Rig) -> None:
    book(rig, DOGE, Side.BUY, "49", "0.1")
    ok = req(inst=DOGE, px="0.1", stop="0.09")
    assert rig.check.check(ok, DOGE, EQUITY).ok  # 50
    r = rig.check.check(req(sz="2", inst=DOGE, px="0.1", stop="0.09"), DOGE, EQUITY)
    assert rejected(r, Reason.MAX_POSITION)
    # selling (without reduce-only) toward flat stays within the limit
    assert rig.check.check(req(Side.SELL, sz="2", inst=DOGE, px="0.1", stop="0.11"), DOGE, EQUITY).ok
    # a short beyond the limit the other way is caught too
    r = rig.check.check(req(Side.SELL, sz="100", inst=DOGE, px="0.1", stop="0.1001"), DOGE, EQUITY)
    assert rejected(r, Reason.MAX_POSITION)


def test_total_exposure_across_strategies(redis_client: Any) -> None:
    rig = Rig(redis_client, RiskSettings(max_total_exposure=D("0.5")))  # cap 5000 at equity 10000
    book(rig, ETH, Side.BUY, "10", "3000", strategy="beta")  # 3000 notional at entry
    assert rig.check.check(req(sz="4", stop="49900"), BTC, EQUITY).ok  # 3000 + 2000
    assert rejected(rig.check.check(req(sz="5", stop="49900"), BTC, EQUITY), Reason.TOTAL_EXPOSURE)
    rig.marks.set("ETH-USDT-SWAP", D(2000))  # exposure is measured at mark: 2000 + 2500 now fits
    assert rig.check.check(req(sz="5", stop="49900"), BTC, EQUITY).ok


def test_total_exposure_cap_is_on_account_equity_not_the_strategys(redis_client: Any) -> None:
    """Regression (found by the demo): the cap for all strategies together was computed from the
    checking strategy's allocation (5,000 here) instead of the account's equity (10,000)."""
    rig = Rig(redis_client, RiskSettings(max_total_exposure=D(1)))  # cap 10,000 on the account
    alloc = D(5000)  # alpha's allocated equity, what the strategy passes for sizing
    book(rig, ETH, Side.BUY, "10", "3000", strategy="beta")  # 3,000
    book(rig, BTC, Side.BUY, "8", "50000")  # 4,000
    assert rig.check.check(req(sz="4", stop="49900"), BTC, alloc).ok  # 9,000 <= 10,000
    r = rig.check.check(req(sz="8", stop="49900"), BTC, alloc)  # 11,000
    assert rejected(r, Reason.TOTAL_EXPOSURE) and "account equity = 10000" in r.text  # type: ignore[union-attr]


def test_leverage_cap(redis_client: Any) -> None:
    rig = Rig(redis_client, RiskSettings(max_total_exposure=D(10)), leverage="2")
    # position notional 500 on equity 200 is 2.5x > 2x
    assert rejected(rig.check.check(req(stop="49900"), BTC, D(200)), Reason.LEVERAGE)
    assert rig.check.check(req(stop="49900"), BTC, D(250)).ok  # exactly 2x


def test_global_three_x_cap_beats_a_greedier_profile(redis_client: Any) -> None:
    """A profile asking 5x (config refuses that; a hand-built profile cannot get past it either):
    margin and the leverage rule both use min(profile, risk.max_leverage = 3)."""
    rig = Rig(redis_client, RiskSettings(max_total_exposure=D(10)))
    assert RiskConfig.from_settings(rig.settings.risk).max_leverage == 3
    greedy = RiskProfile("alpha", D(5), "market", D(5000), 5, D(50))
    check = PreTradeCheck(
        {"alpha": greedy}, RiskConfig.from_settings(rig.settings.risk), rig.capital, rig.halt, rig.marks,
        order_rate_counters(redis_client, rig.keys, clock=rig.clock),
    )  # fmt: skip
    tight = req(stop="49999.9")  # notional 500, risk 0.001: only leverage can refuse it
    assert rejected(check.check(tight, BTC, D(166)), Reason.LEVERAGE)  # 3.01x
    ok = check.check(req(stop="49999.9"), BTC, D("166.67"))  # 2.99994x
    assert isinstance(ok, Approved) and ok.margin == D(500) / D(3)


def test_stop_presence_and_side(rig: Rig) -> None:
    assert rejected(rig.check.check(req(stop=None), BTC, EQUITY), Reason.NO_STOP)
    assert rejected(rig.check.check(req(stop="50100"), BTC, EQUITY), Reason.STOP_WRONG_SIDE)
    assert rejected(rig.check.check(req(stop="50000"), BTC, EQUITY), Reason.STOP_WRONG_SIDE)
    assert rejected(rig.check.check(req(Side.SELL, stop="49000"), BTC, EQUITY), Reason.STOP_WRONG_SIDE)
    assert rejected(rig.check.check(req(Side.SELL, stop="50000"), BTC, EQUITY), Reason.STOP_WRONG_SIDE)
    assert rig.check.check(req(Side.SELL, stop="51000"), BTC, EQUITY).ok


def test_one_percent_rule(rig: Rig) -> None:
    # 1 contract = 0.01 BTC: 100 USDT budget allows 10000 USDT of stop distance
    assert rig.check.check(req(stop="40000"), BTC, EQUITY).ok
    r = rig.check.check(req(stop="39999.9"), BTC, EQUITY)
    assert rejected(r, Reason.RISK_PER_TRADE)
    # the budget follows equity
    assert rejected(rig.check.check(req(stop="45000"), BTC, D(4000)), Reason.RISK_PER_TRADE)
    sz = rig.check.size_for_risk(EQUITY, D(50000), D(49000), BTC)
    assert sz == D(10) and rig.check.check(req(sz=str(sz), stop="49000"), BTC, EQUITY).ok


def test_a_strategys_own_risk_fraction_applies_capped_at_the_configured_one(rig: Rig) -> None:
    assert rig.check.size_for_risk(EQUITY, D(50000), D(49000), BTC, risk_fraction=D("0.005")) == D(5)
    assert rig.check.size_for_risk(EQUITY, D(50000), D(49000), BTC, risk_fraction=D("0.02")) == D(
        10
    )  # 1% cap


def test_no_equity_refuses_entries(rig: Rig) -> None:
    assert rejected(rig.check.check(req(), BTC, D(0)), Reason.NO_EQUITY)


def test_market_order_without_mark_is_rejected_never_priced_at_zero(rig: Rig) -> None:
    r = rig.check.check(req(px=None), BTC, EQUITY)
    assert rejected(r, Reason.NO_MARK)
    assert rejected(
        rig.check.check(req(Side.SELL, px=None, stop=None, reduce=True), BTC, EQUITY), Reason.NO_MARK
    )
    rig.marks.set("BTC-USDT-SWAP", D("50000.5"))
    r = rig.check.check(req(px=None), BTC, EQUITY)
    assert isinstance(r, Approved) and r.ref_px == D("50000.5") and r.notional == D("500.005")


def test_marks_from_pushes_keep_their_exchange_time_and_refuse_no_price(redis_client: Any) -> None:
    """MarkBook.update: each push kind records its price at the exchange's timestamp (not the local
    clock), any positive price counts (a 0.15 USDT coin too), a zero price records nothing."""
    rig = Rig(redis_client)
    rig.clock.t = 2_000_000.0  # local clock: 2_000_000_000 ms, far from the pushes' times below
    inst = "DOGE-USDT-SWAP"
    pushes: list[object] = [
        Position(inst, PosSide.NET, D(1), D("0.1"), markPx=D("0.15"), uTime=1_000),
        Ticker(inst, D("0.16"), None, None, None, None, ts=2_000),
        Trade(inst, "t1", D("0.17"), D(1), "buy", ts=3_000),
        BookTop(inst, (Level(D("0.17"), D(1)),), (Level(D("0.19"), D(1)),), ts=4_000),
    ]
    for push, (px, ts) in zip(
        pushes, [("0.15", 1_000), ("0.16", 2_000), ("0.17", 3_000), ("0.18", 4_000)], strict=True
    ):
        assert rig.marks.update(push) == D(px)
        stored = {k.decode(): v.decode() for k, v in redis_client.hgetall(rig.keys.mark(inst)).items()}
        assert (D(stored["px"]), int(stored["ts"])) == (D(px), ts), push
    assert rig.marks.update(Ticker(inst, D(0), None, None, None, None, ts=5_000)) is None
    assert D(redis_client.hget(rig.keys.mark(inst), "px").decode()) == D("0.18")  # unchanged


def test_stale_mark_counts_as_no_mark(redis_client: Any) -> None:
    rig = Rig(redis_client)
    marks = MarkBook(redis_client, rig.keys, max_age_ms=5000, clock=rig.clock)
    marks.set("BTC-USDT-SWAP", D(50000))
    assert marks.get("BTC-USDT-SWAP") == D(50000)
    rig.clock.t += 6
    assert marks.get("BTC-USDT-SWAP") is None
    redis_client.set(rig.keys.mark("ETH-USDT-SWAP"), "3000.5")  # a plain string mark is read as well
    assert rig.marks.get("ETH-USDT-SWAP") == D("3000.5")
    redis_client.set(rig.keys.mark("XRP-USDT-SWAP"), "")
    assert rig.marks.get("XRP-USDT-SWAP") is None


def test_bypass_reduce_only_is_approved_and_logged(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.halt.halt("flatten", who="pytest")
    for _ in range(5):
        rig.check.check(req(Side.SELL, stop=None, reduce=True), BTC, EQUITY)  # uses up the rate budget
    emergency = req(Side.SELL, sz="20", px=None, stop=None, reduce=True, strategy="")  # no mark, no profile
    with caplog.at_level(logging.WARNING, logger="athena.risk.pretrade"):
        r = rig.check.check(emergency, BTC, EQUITY, bypass=True, reason="flatten")
    assert isinstance(r, Approved) and r.bypassed and r.ref_px is None and r.margin == 0
    (line,) = [
        rec.getMessage()
        for rec in caplog.records
        if "BYPASS" in rec.getMessage() and rec.levelno == logging.WARNING
    ]
    for part in ("strategy=-", f"instId={BTC.instId}", f"clOrdId={emergency.clOrdId}", "reason=flatten"):
        assert part in line, (part, line)
    # each bypassed close is its own line; without an explicit reason it still says why
    caplog.clear()
    named = req(Side.SELL, sz="1", px=None, stop=None, reduce=True)
    with caplog.at_level(logging.WARNING, logger="athena.risk.pretrade"):
        assert rig.check.check(named, BTC, EQUITY, bypass=True).ok
    (line,) = [rec.getMessage() for rec in caplog.records if "BYPASS" in rec.getMessage()]
    for part in (
        f"strategy={named.strategy}",
        f"instId={named.instId}",
        f"clOrdId={named.clOrdId}",
        "reason=reduce-only close",
    ):
        assert part in line, (part, line)


def test_bypass_refused_for_non_reduce_only(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="athena.risk.pretrade"):
        entry = req()
        r = rig.check.check(entry, BTC, EQUITY, bypass=True)
    assert rejected(r, Reason.BYPASS_NOT_REDUCE_ONLY)
    refused = [
        rec.getMessage()
        for rec in caplog.records
        if rec.levelno == logging.WARNING and "REFUSED" in rec.getMessage()
    ]
    assert len(refused) == 1 and f"clOrdId={entry.clOrdId}" in refused[0] and "strategy=" in refused[0]


def test_unknown_strategy_and_instrument_mismatch(rig: Rig) -> None:
    assert rejected(rig.check.check(req(strategy="ghost"), BTC, EQUITY), Reason.UNKNOWN_STRATEGY)
    assert rejected(rig.check.check(req(), ETH, EQUITY), Reason.INSTRUMENT_MISMATCH)


def test_single_profile_form(rig: Rig) -> None:
    profile = profiles_from(rig.settings)["alpha"]
    check = PreTradeCheck(
        profile, RiskConfig.from_settings(rig.settings.risk), rig.capital, rig.halt, rig.marks,
        order_rate_counters(rig.redis, rig.keys, clock=rig.clock),
    )  # fmt: skip
    assert check.check(req(), BTC, EQUITY).ok
    assert rejected(
        check.check(req(strategy="beta", inst=ETH, px="3000", stop="2990"), ETH, EQUITY),
        Reason.UNKNOWN_STRATEGY,
    )


def _redis_ms(redis: Any) -> int:
    sec, usec = redis.time()
    return int(sec) * 1000 + int(usec) // 1000


def test_rate_limit_on_redis_clock(rig: Rig) -> None:
    """The live counter (athena.state RateCounter, Redis server time): full within its window, and the
    window empties on Redis's clock, never before window_s has passed there."""

    def live_check(window_s: float) -> PreTradeCheck:
        return PreTradeCheck(
            profiles_from(rig.settings), RiskConfig.from_settings(rig.settings.risk), rig.capital, rig.halt,
            rig.marks, order_rate_counters(rig.redis, Keys("test", f"rate{window_s}"), window_s=window_s),
        )  # fmt: skip

    full = live_check(60)  # a minute: the six checks always fall in one window
    for _ in range(5):
        assert full.check(req(), BTC, EQUITY).ok
    r = full.check(req(), BTC, EQUITY)
    assert rejected(r, Reason.RATE_LIMIT) and "5 orders" in r.text  # type: ignore[union-attr]

    short = live_check(0.3)
    first_hit_ms = _redis_ms(rig.redis)  # Redis TIME before the first hit: no hit is older
    for _ in range(5):
        short.check(req(), BTC, EQUITY)  # (on a slow machine the earliest may already have left)
    assert wait_until(lambda: short.check(req(), BTC, EQUITY).ok, timeout=10)  # refusals use no budget
    # the order let through came after the window had passed on Redis's clock (or a hit had left it)
    assert _redis_ms(rig.redis) - first_hit_ms >= 300


def test_markbook_update_from_market_objects(rig: Rig) -> None:
    from athena.domain import BookTop, Level, Position, Ticker, Trade

    m = rig.marks
    assert m.update(Ticker("BTC-USDT-SWAP", None, None, None, None, None, 1)) is None  # no last: nothing
    assert m.get("BTC-USDT-SWAP") is None
    assert m.update(Ticker("BTC-USDT-SWAP", D("50001.5"), None, None, None, None, 1)) == D("50001.5")
    assert m.get("BTC-USDT-SWAP") == D("50001.5")
    assert m.update(Trade("BTC-USDT-SWAP", "t1", D(50002), D(1), "buy", 2)) == D(50002)
    book = BookTop("BTC-USDT-SWAP", (Level(D(50000), D(1)),), (Level(D(50001), D(1)),), 3)
    assert m.update(book) == D("50000.5")
    assert m.update(BookTop("BTC-USDT-SWAP", (), (Level(D(50001), D(1)),), 4)) is None  # one-sided: no mid
    pos = Position("ETH-USDT-SWAP", PosSide.NET, D(1), D(3000), markPx=D("3001.25"), uTime=5)
    assert m.update(pos) == D("3001.25") and m.get("ETH-USDT-SWAP") == D("3001.25")
    assert m.get_many(["BTC-USDT-SWAP", "ETH-USDT-SWAP", "XRP-USDT-SWAP"]) == {
        "BTC-USDT-SWAP": D("50000.5"),
        "ETH-USDT-SWAP": D("3001.25"),
    }
    with pytest.raises(ValueError):
        m.set("BTC-USDT-SWAP", D(0))


def test_window_counter_hit_counts_without_a_limit(redis_client: Any) -> None:
    """hit() records orders already sent (no limit applies); allow() checks and records; count() reads."""
    clock = Clock()
    counter = WindowCounter(redis_client, "athena:test:rate:hit", 60.0, clock)
    assert counter.hit() == 1 and counter.hit(3) == 4 and counter.count() == 4
    assert not counter.allow(4) and counter.allow(5) and counter.count() == 5
    clock.t += 61
    assert counter.count() == 0
    per_strategy = order_rate_counters(redis_client, Keys("test", "ratewin"), clock=clock)("alpha")
    assert per_strategy.allow(5)
    clock.t += 60.5
    assert per_strategy.count() == 0  # the window is a minute by default


def test_a_refusal_names_its_order_and_the_side_the_stop_belongs_on(rig: Rig) -> None:
    buy = req(stop="50100")
    r = rig.check.check(buy, BTC, EQUITY)
    assert isinstance(r, Rejected) and r.clOrdId == buy.clOrdId and "must be below the entry" in r.text
    r = rig.check.check(req(Side.SELL, stop="49000"), BTC, EQUITY)
    assert isinstance(r, Rejected) and "must be above the entry" in r.text
    r = rig.check.check(req(stop=None), BTC, EQUITY)
    assert isinstance(r, Rejected) and "no stop_loss_px" in r.text


def test_one_usdt_of_equity_is_small_not_absent(rig: Rig) -> None:
    r = rig.check.check(req(sz="0.01", stop="49990"), BTC, D(1))
    assert isinstance(r, Rejected) and r.code is Reason.LEVERAGE  # judged on its size, not as no equity


def test_each_strategy_counts_its_own_orders(rig: Rig) -> None:
    assert rig.check.check(req(sz="0.1"), BTC, EQUITY).ok
    assert rig.redis.zcard(rig.keys.order_rate("alpha")) == 1


def test_max_position_is_the_strategys_own_not_the_accounts(rig: Rig) -> None:
    book(rig, BTC, Side.BUY, "45", "50000", strategy="beta")  # another strategy's position on the same instId
    assert rig.check.check(req(sz="10"), BTC, EQUITY).ok  # alpha's own 0 + 10 <= 50 (not 45 + 10)


def test_the_gate_reserves_an_approved_entrys_margin_under_its_clordid(rig: Rig) -> None:
    entry = req(sz="1")
    assert (
        check_and_reserve(entry, BTC, EQUITY, strategy="alpha", risk=rig.check, capital=rig.capital) is None
    )
    res = rig.capital.reservation(entry.clOrdId)
    assert (res["strategy"], D(res["margin"]), D(res["sz"])) == ("alpha", D("166.66666667"), D(1))  # 500 / 3x
    wrong = req(stop="50100")
    why = check_and_reserve(wrong, BTC, EQUITY, strategy="alpha", risk=rig.check, capital=rig.capital)
    assert (
        why is not None
        and why.startswith("stop_wrong_side: ")
        and rig.capital.reservation(wrong.clOrdId) == {}
    )
    # the bypass is passed on to the check (which allows it for reduce-only orders only)
    why = check_and_reserve(
        wrong, BTC, EQUITY, strategy="alpha", risk=rig.check, capital=rig.capital, bypass=True
    )
    assert why is not None and why.startswith("bypass_not_reduce_only: ")
    # the reservation itself can refuse (another process took the allocation since the check)
    small = CapitalCommander(
        rig.redis, rig.keys, rig.settings.model_copy(update={"total_capital": D(100)}), rig.clock
    )
    assert (
        check_and_reserve(req(sz="1"), BTC, EQUITY, strategy="alpha", risk=rig.check, capital=small)
        == "reserve: insufficient"
    )


def test_verdicts_carry_their_order_price_and_notional(rig: Rig) -> None:
    entry = req()
    r = rig.check.check(entry, BTC, EQUITY)
    assert isinstance(r, Approved) and r.clOrdId == entry.clOrdId
    rig.marks.set(BTC.instId, D("50000.5"))
    close = req(Side.SELL, sz="2", px=None, stop=None, reduce=True)
    r = rig.check.check(close, BTC, EQUITY, bypass=True)
    assert isinstance(r, Approved) and r.bypassed
    assert (r.clOrdId, r.ref_px, r.notional) == (close.clOrdId, D("50000.5"), D("1000.01"))  # 2 x 0.01 BTC
    rig.halt.halt("drawdown", who="drawdown_breaker")
    r = rig.check.check(req(), BTC, EQUITY)
    assert isinstance(r, Rejected) and r.text == "trading halted: drawdown (by drawdown_breaker)"


def test_a_mark_is_a_positive_price_with_a_known_age(redis_client: Any) -> None:
    keys = Keys("test", "markage")
    plain = MarkBook(redis_client, keys)
    redis_client.hset(keys.mark("ZERO-USDT-SWAP"), mapping={"px": "0", "ts": 1})
    redis_client.hset(keys.mark("HALF-USDT-SWAP"), mapping={"px": "0.5", "ts": 1})
    assert plain.get("ZERO-USDT-SWAP") is None and plain.get("HALF-USDT-SWAP") == D("0.5")
    with pytest.raises(ValueError, match="ZERO-USDT-SWAP: mark price must be positive"):
        plain.set("ZERO-USDT-SWAP", D(0))
    assert plain.update("not a push") is None
    aged = MarkBook(redis_client, keys, max_age_ms=5000, clock=lambda: 0.002)  # now: 2 ms after the epoch
    assert aged.get("HALF-USDT-SWAP") == D("0.5")  # written at 1 ms: 1 ms old
    redis_client.hset(keys.mark("NOTS-USDT-SWAP"), mapping={"px": "7"})
    redis_client.set(keys.mark("STR-USDT-SWAP"), "7")
    assert aged.get("NOTS-USDT-SWAP") is None and aged.get("STR-USDT-SWAP") is None  # age unknown: stale
    assert plain.get("NOTS-USDT-SWAP") == D(7) and plain.get("STR-USDT-SWAP") == D(7)  # no age limit


def test_the_gate_reserves_nothing_for_an_exit_a_tiny_entry_is_still_reserved(rig: Rig) -> None:
    exit_ = req(Side.SELL, stop=None, reduce=True)
    assert (
        check_and_reserve(exit_, BTC, EQUITY, strategy="alpha", risk=rig.check, capital=rig.capital) is None
    )
    assert rig.capital.reservation(exit_.clOrdId) == {}  # no margin: nothing to reserve
    tiny = req(sz="0.01", px="25000", stop="24900")  # margin 2.5 / 3 < 1 USDT
    assert check_and_reserve(tiny, BTC, EQUITY, strategy="alpha", risk=rig.check, capital=rig.capital) is None
    assert D(rig.capital.reservation(tiny.clOrdId)["margin"]) == D("0.83333334")  # rounded up
    assert check_and_reserve(req(), BTC, EQUITY, strategy="alpha", risk=rig.check, capital=None) is None


def test_a_halt_switch_set_without_a_reason_still_refuses_and_says_so(rig: Rig) -> None:
    rig.redis.hset(rig.keys.halt, "note", "set by hand in redis-cli")  # the switch is on; no reason, no hold
    entry = req()
    r = rig.check.check(entry, BTC, EQUITY)
    assert isinstance(r, Rejected) and r.clOrdId == entry.clOrdId
    assert (r.code, r.text) == (Reason.HALTED, "trading halted: unknown (by ?)")


def test_a_given_position_source_is_the_one_max_position_reads(rig: Rig) -> None:
    elsewhere = CapitalCommander(rig.redis, Keys("test", "risk-positions"), rig.settings, rig.clock)
    f = Fill("p1", BTC.instId, Side.BUY, PosSide.NET, D(45), D(50000), D(45), strategy="alpha")
    assert elsewhere.on_fill(f, BTC).applied  # alpha holds 45 there, nothing in rig.capital
    check = PreTradeCheck(
        profiles_from(rig.settings),
        RiskConfig.from_settings(rig.settings.risk),
        rig.capital,
        rig.halt,
        rig.marks,
        order_rate_counters(rig.redis, rig.keys, clock=rig.clock),
        positions=elsewhere,
    )
    assert rejected(check.check(req(sz="10"), BTC, EQUITY), Reason.MAX_POSITION)  # 45 + 10 > 50


def test_total_exposure_values_a_one_contract_position_at_its_mark(redis_client: Any) -> None:
    """A held position is valued at its mark (not its entry), one contract included: 1 contract bought at
    50000, marked at 100000, is 1000 of exposure and 500 of equity more."""
    rig = Rig(redis_client, risk=RiskSettings(max_total_exposure=D("0.5")))
    book(rig, BTC, Side.BUY, "1", "50000")
    rig.marks.set(BTC.instId, D(100000))
    r = rig.check.check(req(sz="4.4", px="100000", stop="99000"), BTC, EQUITY)
    assert rejected(r, Reason.TOTAL_EXPOSURE)  # 1000 + 4400 > 0.5 x 10500 (at entry: 500 + 4400 <= 5000)
    assert rig.check.check(req(sz="4.2", px="100000", stop="99000"), BTC, EQUITY).ok  # 5200 <= 5250
