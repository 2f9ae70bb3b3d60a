"""Automatic holds (maintenance, liquidation distance, a pre-flight refusal) live beside the human halt
in the HaltSwitch: each stops entries, each lifts only itself, and a decision reads them with its
capital numbers like the halt."""

from __future__ import annotations

import logging
from decimal import Decimal as D
from typing import Any

import pytest

from athena.backtest.engine import Backtest
from athena.config import StrategySettings
from athena.risk import HaltState, HaltSwitch
from athena.state.keys import Keys

BTC = "BTC-USDT-SWAP"


@pytest.fixture()
def halt(redis_client: Any) -> HaltSwitch:
    return HaltSwitch(redis_client, Keys("test", "holds"), clock=lambda: 1_780_000_000.0)


def test_a_hold_stops_entries_and_lifts_only_itself(halt: HaltSwitch) -> None:
    assert halt.hold("maintenance", "OKX maintenance at 10:00", "maintenance_watch")
    assert not halt.hold("maintenance", "OKX maintenance at 10:05", "maintenance_watch")  # already held
    assert halt.is_halted() and halt.halted_by_hand() is None
    st = halt.state()
    assert st is not None and (st.reason, st.who) == ("OKX maintenance at 10:05", "maintenance_watch")
    assert halt.halt("manual halt", "alice")  # a human may still halt while held
    assert halt.resume("bob") and halt.is_halted()  # resume clears the halt, the hold stays
    assert halt.halted_by_hand() is None and set(halt.holds()) == {"maintenance"}
    assert halt.halt("drawdown", "drawdown_breaker")
    assert halt.release("maintenance", "maintenance_watch")
    assert not halt.release("maintenance", "maintenance_watch")
    st = halt.state()
    assert (
        halt.is_halted() and st is not None and st.reason == "drawdown"
    )  # the condition lifted; the halt stays
    assert halt.resume("alice") and not halt.is_halted() and halt.state() is None
    actions = [(e["action"], e.get("hold")) for e in reversed(halt.history(10))]
    assert actions == [
        ("hold", "maintenance"),
        ("halt", None),
        ("resume", None),
        ("halt", None),
        ("release", "maintenance"),
        ("resume", None),
    ]


def test_holds_are_independent(halt: HaltSwitch) -> None:
    halt.hold("liq_distance", "too close", "liquidation_guard")
    halt.hold("preflight", "acctLv 1", "preflight")
    assert halt.release("liq_distance", "liquidation_guard")
    assert halt.is_halted() and set(halt.holds()) == {"preflight"}
    assert halt.release("preflight", "preflight") and not halt.is_halted()


def test_a_decision_refuses_an_entry_while_held(redis_client: Any) -> None:
    bt = Backtest(
        [StrategySettings(name="alpha", instIds=[BTC], allocation=D("0.5"))],
        redis_client,
        total_capital=D(10_000),
    )
    ctx = bt.stack.strategies[0].ctx

    def buy(n: int) -> Any:
        return ctx.buy(BTC, D("0.01"), D("100000.0") - n, post_only=True, stop_loss_px=D("99000.0"))

    assert buy(1).ok
    bt.stack.halt.hold("maintenance", "OKX trading service maintenance from 10:00 UTC", "maintenance_watch")
    refused = buy(2)
    assert not refused.ok and "maintenance" in refused.reason
    bt.stack.halt.release("maintenance", "maintenance_watch")
    assert buy(3).ok


def test_the_halt_by_hand_reads_back_whole_and_its_history_is_exact(halt: HaltSwitch) -> None:
    """halted_by_hand: the halt's reason, who and ts, beside a hold; resume's history entry names who and
    when (default: the operator); history(n) returns exactly the n newest entries (20 by default)."""
    halt.hold("maintenance", "OKX maintenance", "maintenance_watch")
    assert halt.halt("drawdown 10%", "drawdown_breaker")
    assert halt.halted_by_hand() == HaltState("drawdown 10%", "drawdown_breaker", 1_780_000_000_000)
    assert halt.history(1) == [
        {"action": "halt", "reason": "drawdown 10%", "who": "drawdown_breaker", "ts": 1_780_000_000_000}
    ]
    assert halt.resume()
    assert halt.history(1) == [{"action": "resume", "who": "operator", "ts": 1_780_000_000_000}]
    for i in range(30):
        halt.hold(f"h{i}", "r", "w")
    assert len(halt.history(3)) == 3 and len(halt.history()) == 20
    assert halt.history(2)[1]["hold"] == "h28"
    assert halt.halt("by hand") and halt.history(1)[0]["who"] == "operator"  # the default author


def test_halting_and_resuming_are_logged_with_who_and_why(
    halt: HaltSwitch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="athena.risk.halt"):
        halt.halt("fat finger", "alice")
        halt.resume("bob")
    assert [r.getMessage() for r in caplog.records if r.name == "athena.risk.halt"] == [
        "HALT set by alice: fat finger",
        "HALT cleared by bob",
    ]


def test_a_hold_keeps_its_first_time_and_its_history_says_what_when(redis_client: Any) -> None:
    now = [1_780_000_000.0]
    halt = HaltSwitch(redis_client, Keys("test", "holdts"), clock=lambda: now[0])
    assert halt.hold("maintenance", "at 10:00", "watch")
    now[0] += 60
    assert not halt.hold("maintenance", "at 10:05", "watch")  # refreshed text, first time kept
    assert halt.holds() == {"maintenance": HaltState("at 10:05", "watch", 1_780_000_000_000)}
    assert halt.state() == HaltState("at 10:05", "watch", 1_780_000_000_000)
    now[0] += 60
    assert halt.hold("preflight", "acctLv 1", "preflight")
    assert halt.state() == HaltState("at 10:05", "watch", 1_780_000_000_000)  # the oldest hold speaks
    assert halt.release("maintenance", "watch")
    assert halt.history(3) == [
        {"action": "release", "hold": "maintenance", "who": "watch", "ts": 1_780_000_120_000},
        {
            "action": "hold",
            "hold": "preflight",
            "reason": "acctLv 1",
            "who": "preflight",
            "ts": 1_780_000_120_000,
        },
        {
            "action": "hold",
            "hold": "maintenance",
            "reason": "at 10:00",
            "who": "watch",
            "ts": 1_780_000_000_000,
        },
    ]
    # a hold written later but older (left by a process whose clock was behind): the oldest still speaks
    redis_client.hset(Keys("test", "holdts").halt, "hold:stale", '{"reason": "old", "who": "w", "ts": 5}')
    assert halt.state() == HaltState("old", "w", 5)
