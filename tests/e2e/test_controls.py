"""What an operator does by hand against a running stack: `athena status / reconcile / halt / resume /
flatten` as subprocesses, and Flower (behind basic auth) showing every worker."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from athena.domain import OrderRequest, OrdType, Side
from athena.domain.codec import to_json
from athena.launch import Stack, StackConfig
from athena.procs import wait_until

pytestmark = pytest.mark.e2e

BTC = "BTC-USDT-SWAP"
TICK = Decimal("0.1")
AUTH = ("ops", "s3cret-flower-pw")
# The strategy a hand-sent entry is booked to (the orders worker checks it against this strategy's
# allocation and risk limits). It trades ETH, and needing more trades than its flow window holds
# before a signal, never enters: the BTC position stays the operator's.
BOOKED_TO = {"name": "manual", "cls": "ScalperV1", "instIds": ["ETH-USDT-SWAP"], "allocation": "0.5",
             "params": {"min_trades": 100_000}}


def athena(stack: Stack, *args: str, timeout: float = 90) -> tuple[int, Any]:
    proc = subprocess.run([sys.executable, "-m", "athena.cli", *args], env=stack.env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"athena {' '.join(args)} printed no JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from exc


def test_manual_controls_and_flower(tmp_path: Path) -> None:
    cfg = StackConfig(var_dir=tmp_path, symbols=[BTC], beat=False, flower=True, sim_tick_ms=200,
                      config={"strategies": [BOOKED_TO]}, env={"FLOWER_BASIC_AUTH": ":".join(AUTH)})
    with Stack(cfg) as stack:
        # Flower: behind basic auth, and it sees both workers
        url = f"http://127.0.0.1:{stack.flower_port}"
        assert requests.get(f"{url}/api/workers", timeout=10).status_code == 401

        def flower_workers() -> set[str]:
            r = requests.get(f"{url}/api/workers", params={"refresh": "1"}, auth=AUTH, timeout=20)
            return set(r.json()) if r.status_code == 200 else set()

        assert wait_until(lambda: {stack.worker_name("orders"), stack.worker_name("stream")} <= flower_workers(), 60, interval=1.0)

        # a position to act on, opened through the orders worker (a limit order crossing the book)
        market = stack.sim_admin("state")["markets"][BTC]
        px, stop = (Decimal(market["ask"]) * Decimal("1.002")).quantize(TICK), (Decimal(market["bid"]) * Decimal("0.99")).quantize(TICK)
        req = OrderRequest(clOrdId="ctl1", instId=BTC, side=Side.BUY, ordType=OrdType.LIMIT, sz=Decimal(2), px=px,
                           strategy=BOOKED_TO["name"], stop_loss_px=stop)
        out = stack.celery().send_task("athena.place_order", args=[to_json(req)], queue="orders").get(timeout=60)
        assert out["status"] in ("acked", "found")

        rc, status = athena(stack, "status", "--json")
        assert rc == 0 and status["account"] == stack.account and status["mode"] == "sim"
        assert stack.worker_name("orders") in status["workers"] and status["halted"] is False

        rc, rec = athena(stack, "reconcile", "--json")
        assert rc == 0 and rec["ok"] is True and rec["drift"] == []
        assert [p["pos"] for p in rec["positions"]["positions"]] == ["2"]

        rc, halted = athena(stack, "halt", "--reason", "operator test", "--json")
        assert rc == 0 and halted["halted"] is True
        rc, status = athena(stack, "status", "--json")
        assert status["halted"] is True and status["halt"]["reason"] == "operator test"
        rc, resumed = athena(stack, "resume", "--json")
        assert rc == 0 and resumed["halted"] is False

        rc, flat = athena(stack, "flatten", "--yes", "--reason", "operator flatten", "--json")
        assert rc == 0 and flat["ok"] is True
        assert [p["instId"] for p in flat["positions_closed"]] == [BTC]
        state = stack.sim_admin("state")
        assert [p for p in state["positions"] if Decimal(p["pos"] or "0") != 0] == []
        assert state["algos"] == [] and state["pending"] == []
    assert stack.survivors() == []
