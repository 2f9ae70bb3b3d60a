"""The system as users run it: sim + stream worker + orders worker + beat as real processes.

1. A tick leads to a ScalperV1 entry order, the order fills on the exchange, the fill gets an
   exchange-side stop covering the position, and reconcile (run by beat, and by hand) sees no drift.
2. The orders worker is killed -9 while its placement request is in flight; after a restart the
   redelivered task finds the order by clOrdId and never sends a second one.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from athena.domain import OrderRequest, OrdType, Side
from athena.domain.codec import to_json
from athena.process.launch import Stack, StackConfig
from athena.procs import wait_until
from athena.state.journal import Journal
from tests.e2e.stacks import BTC, EAGER_SCALPER, FAST_BEAT

pytestmark = pytest.mark.e2e


def _positions(stack: Stack) -> list[dict[str, Any]]:
    return [p for p in stack.sim_admin("state")["positions"] if Decimal(p["pos"] or "0") != 0]


def _covered(stack: Stack, instId: str) -> Decimal:
    algos = stack.sim_admin("state")["algos"]
    return sum(
        (Decimal(a["sz"]) for a in algos if a["instId"] == instId and a.get("slTriggerPx")), Decimal(0)
    )


def test_tick_to_order_fill_stop_and_reconcile_without_drift(tmp_path: Path) -> None:
    cfg = StackConfig(
        var_dir=tmp_path,
        symbols=[BTC],
        sim_tick_ms=50,
        config={"strategies": [EAGER_SCALPER], "schedule": FAST_BEAT},
    )
    with Stack(cfg) as stack:
        # a position on the exchange, opened by the strategy from ticks alone ...
        assert wait_until(lambda: _positions(stack), 90, interval=0.25), "no position opened within 90 s"

        def covered_now() -> bool:  # the position may change meanwhile (exits, new entries)
            pos = _positions(stack)
            return bool(pos) and _covered(stack, BTC) >= abs(Decimal(pos[0]["pos"]))

        # ... covered by an exchange-side stop (within seconds of the fill)
        assert wait_until(covered_now, 15, interval=0.2), "open position without a covering exchange stop"
        # beat ran reconcile on its own
        journal = Journal(f"sqlite:///{tmp_path / 'athena.db'}")
        try:
            assert wait_until(lambda: journal.events(kind="reconcile"), 30, interval=0.5)
            fills = journal.fills()
            assert any(f.clOrdId.startswith("scalpbtc") for f in fills), [f.clOrdId for f in fills]
            entry_orders = [o for o in journal.orders(strategy="scalpbtc")]
            assert entry_orders, "the strategy's orders are journaled"
        finally:
            journal.close()
        # and by hand: the shadow ledger equals the exchange (entries halted so the position holds still)
        assert stack.send_task("athena.halt", kwargs={"reason": "e2e check"}, timeout=30)["halted"] is True
        report = stack.send_task("athena.reconcile", timeout=60)
        assert report["ok"] is True and report["drift"] == [], report
        status = stack.stream_status()
        assert status is not None and status["private"] == "ready" and status["ticks"] > 0

        # A dropped WebSocket: reconnect, re-login, and a REST reconcile for the pushes lost meanwhile
        resyncs = status["resyncs"]
        journal = Journal(f"sqlite:///{tmp_path / 'athena.db'}")
        try:
            seen = len(journal.events(kind="reconcile"))
            assert stack.sim_admin("ws/drop", {})["dropped"] >= 2
            assert wait_until(
                lambda: (stack.stream_status() or {}).get("resyncs", 0) > resyncs, 30, interval=0.2
            )
            assert wait_until(lambda: len(journal.events(kind="reconcile")) > seen, 30, interval=0.2)
        finally:
            journal.close()
        assert wait_until(lambda: (stack.stream_status() or {}).get("private") == "ready", 30, interval=0.2)
    assert stack.survivors() == []


def test_orders_worker_killed_mid_placement_places_once(tmp_path: Path) -> None:
    # The sim executes the placement and never answers it; the worker is killed while it waits. The task
    # was not acked (acks_late), so it comes back after the visibility timeout to a new worker.
    cfg = StackConfig(
        var_dir=tmp_path,
        symbols=[BTC],
        stream=False,
        beat=False,
        sim_tick_ms=1000,
        config={"strategies": [{"name": "manual", "instIds": [BTC], "allocation": "0.5"}]},
        env={"ATHENA__okx__timeout_s": "8", "ATHENA__schedule__visibility_timeout": "4"},
    )
    with Stack(cfg) as stack:
        bid = Decimal(stack.sim_admin("state")["markets"][BTC]["bid"])
        px = (bid * Decimal("0.97")).quantize(Decimal("0.1"))
        # sent by hand: checked by the orders worker against the strategy it names (no stream worker here)
        req = OrderRequest(
            clOrdId="killme1",
            instId=BTC,
            side=Side.BUY,
            ordType=OrdType.POST_ONLY,
            sz=Decimal(1),
            px=px,
            strategy="manual",
            stop_loss_px=(px * Decimal("0.99")).quantize(Decimal("0.1")),
        )
        # the orders worker's trade socket (its only private connection here: no stream worker) is logged in
        assert wait_until(
            lambda: any(c["kind"] == "private" and c["logins"] for c in stack.sim_admin("stats")["conns"]),
            30,
            interval=0.1,
        )
        # the sim places the order and never answers: the worker waits for the reply (8 s) and is killed
        stack.sim_admin("faults", {"ws_op_timeout": {"count": 1, "path": "/api/v5/trade/order"}})
        result = stack.celery().send_task(
            "athena.place_order", args=[to_json(req)]
        )  # routed: orders.<account>
        assert wait_until(lambda: stack.sim_admin("faults")["ws_op_timeout"]["count"] == 0, 30, interval=0.1)
        stack.kill9("orders")
        # the order exists on the exchange (once)
        assert wait_until(lambda: stack.sim_admin("state")["pending"], 60, interval=0.2)
        orders = stack.sim_admin("state")["pending"]
        assert [o["clOrdId"] for o in orders] == ["killme1"]
        stack.restart("orders", timeout=60)
        # back within the visibility timeout (4 s) + one 10 s sweep for unacked tasks (+ start-up, load)
        out = result.get(timeout=45)
        assert out["status"] == "found", out
        pending = stack.sim_admin("state")["pending"]
        assert [o["clOrdId"] for o in pending] == ["killme1"]  # one order, never two
    assert stack.survivors() == []
