"""What an operator does by hand against a running stack: `athena status / reconcile / halt / resume /
flatten` as subprocesses, and Flower (behind basic auth) showing every worker."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from athena import procs
from athena.domain import OrderRequest, OrdType, Side
from athena.domain.codec import to_json
from athena.process.launch import Stack, StackConfig
from athena.procs import wait_until
from athena.risk.halt import HaltSwitch
from athena.sim.client import SimClient
from athena.state.keys import Keys
from tests.e2e.fake_worker import FakeWorker

pytestmark = pytest.mark.e2e

BTC = "BTC-USDT-SWAP"
TICK = Decimal("0.1")
AUTH = ("ops", "s3cret-flower-pw")
# The strategy a hand-sent entry is booked to (the orders worker checks it against this strategy's
# allocation and risk limits). It trades ETH, and needing more trades than its flow window holds
# before a signal, never enters: the BTC position stays the operator's.
BOOKED_TO = {
    "name": "manual",
    "cls": "ScalperV1",
    "instIds": ["ETH-USDT-SWAP"],
    "allocation": "0.5",
    "params": {"min_trades": 100_000},
}


def athena(stack: Stack, *args: str, timeout: float = 90) -> tuple[int, Any]:
    proc = procs.run(
        [sys.executable, "-m", "athena.cli", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"athena {' '.join(args)} printed no JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        ) from exc


def test_manual_controls_and_flower(tmp_path: Path) -> None:
    cfg = StackConfig(
        var_dir=tmp_path,
        symbols=[BTC],
        beat=False,
        flower=True,
        sim_tick_ms=200,
        config={"strategies": [BOOKED_TO]},
        env={"FLOWER_BASIC_AUTH": ":".join(AUTH)},
    )
    with Stack(cfg) as stack:
        # Flower: behind basic auth, and it sees both workers
        url = f"http://127.0.0.1:{stack.flower_port}"
        assert requests.get(f"{url}/api/workers", timeout=10).status_code == 401

        def flower_workers() -> set[str]:
            r = requests.get(f"{url}/api/workers", params={"refresh": "1"}, auth=AUTH, timeout=20)
            return set(r.json()) if r.status_code == 200 else set()

        assert wait_until(
            lambda: {stack.worker_name("orders"), stack.worker_name("stream")} <= flower_workers(),
            60,
            interval=1.0,
        )

        # a position to act on, opened through the orders worker (a limit order crossing the book)
        market = stack.sim_admin("state")["markets"][BTC]
        px, stop = (
            (Decimal(market["ask"]) * Decimal("1.002")).quantize(TICK),
            (Decimal(market["bid"]) * Decimal("0.99")).quantize(TICK),
        )
        req = OrderRequest(
            clOrdId="ctl1",
            instId=BTC,
            side=Side.BUY,
            ordType=OrdType.LIMIT,
            sz=Decimal(2),
            px=px,
            strategy=BOOKED_TO["name"],
            stop_loss_px=stop,
        )
        out = (
            stack.celery().send_task("athena.place_order", args=[to_json(req)]).get(timeout=60)
        )  # routed: orders.<account>
        assert out["status"] in ("acked", "found")

        seen: dict[str, Any] = {}

        def covered() -> bool:  # the fill's position synced, with the stop the stream worker placed
            rc, seen["status"] = athena(stack, "status", "--json")
            assert rc == 0
            return any(p["stop_px"] for p in seen["status"]["positions"])

        assert wait_until(covered, 60, interval=0.5), seen
        status = seen["status"]
        assert status["account"] == stack.account and status["mode"] == "sim"
        assert status["halted"] is False
        alive = {w["node"] for w in status["workers"] if w["alive"] and w["ours"]}
        assert {stack.worker_name("orders"), stack.worker_name("stream")} <= alive
        [pos] = status["positions"]
        assert (pos["instId"], pos["pos"], pos["stop_px"]) == (
            BTC,
            "2",
            str(stop),
        )  # the stop the fill placed
        assert 0 < float(pos["stop_distance_pct"]) < 5
        ws = status["stream"]["ws"]
        assert ws["okx-public"]["state"] == "ready" and status["stream"]["public"] == "ready"
        assert status["at_ms"] - ws["okx-public"]["last_message_ms"] < 10_000
        assert status["stream_fresh"] is True and status["pnl"]["max_drawdown"] == "0.10"
        table = procs.run(
            [sys.executable, "-m", "athena.cli", "status"],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
        )
        assert table.returncode == 0, table.stderr
        for heading in (
            "positions and their exchange stops",
            "working orders",
            "WebSockets",
            "workers (heartbeats)",
        ):
            assert heading in table.stdout, table.stdout
        assert "{" not in table.stdout  # a table, not a dict's repr

        rc, rec = athena(stack, "reconcile", "--json")
        assert rc == 0 and rec["ok"] is True and rec["drift"] == []
        assert [p["pos"] for p in rec["positions"]["positions"]] == ["2"]
        assert rec["ran_on"] == f"orders worker {stack.worker_name('orders')}"
        rc, status = athena(stack, "status", "--json")
        assert status["last_reconcile"]["drift"] == [] and status["last_reconcile"]["by"] == "orders"
        assert status["at_ms"] - status["last_reconcile"]["at_ms"] < 60_000

        rc, halted = athena(stack, "halt", "--reason", "operator test", "--json")
        assert rc == 0 and halted["halted"] is True
        rc, status = athena(stack, "status", "--json")
        assert status["halted"] is True and status["halt"]["reason"] == "operator test"
        rc, resumed = athena(stack, "resume", "--json")
        assert rc == 0 and resumed["halted"] is False

        rc, flat = athena(stack, "flatten", "--yes", "--reason", "operator flatten", "--json")
        assert rc == 0 and flat["ok"] is True, flat
        assert [p["instId"] for p in flat["positions_closed"]] == [BTC]
        state = stack.sim_admin("state")
        assert [p for p in state["positions"] if Decimal(p["pos"] or "0") != 0] == []
        assert state["algos"] == [] and state["pending"] == []
    assert stack.survivors() == []


def _open_positions(stack: Stack) -> dict[str, str]:
    return {
        p["instId"]: p["pos"] for p in stack.sim_admin("state")["positions"] if Decimal(p["pos"] or "0") != 0
    }


def _queued(stack: Stack, queue: str) -> list[dict[str, Any]]:
    return [json.loads(m) for m in stack.redis().lrange(stack.queue(queue), 0, -1)]


def _idle(stack: Stack, role: str) -> bool:
    """The worker answered and runs no task."""
    active = stack.celery().control.inspect(destination=[stack.worker_name(role)], timeout=2).active()
    return bool(active) and not any(active.values())


def test_a_flatten_no_worker_took_never_runs_later(tmp_path: Path) -> None:
    """Issue #14.4: no orders worker takes it, `athena flatten` gives up; a worker started later must
    not halt or flatten the account. Once with the CLI giving up by itself (it withdraws the task and
    says nothing ran), once with the CLI killed while it waits (the task's expiry protects). The
    orders worker's heartbeat is there (FakeWorker: a worker that hangs), so the CLI does send."""
    cfg = StackConfig(
        var_dir=tmp_path,
        symbols=[BTC],
        stream=False,
        orders=False,
        beat=False,
        sim_tick_ms=200,
        config={"strategies": []},
    )
    with Stack(cfg) as stack:
        opened = SimClient(stack.sim_url).post(
            "/api/v5/trade/order",
            {
                "instId": BTC,
                "tdMode": "cross",
                "side": "buy",
                "ordType": "market",
                "sz": "2",
                "clOrdId": "late1",
            },
        )
        assert opened["code"] == "0", opened
        assert _open_positions(stack) == {BTC: "2"}
        cli = [sys.executable, "-m", "athena.cli", "flatten", "--yes", "--json"]
        fake = FakeWorker(stack).__enter__()

        # the CLI gives up after its timeout
        t0 = time.monotonic()
        gave_up = procs.run(
            [*cli, "--timeout", "2"],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        took = time.monotonic() - t0
        left_after_give_up = len(_queued(stack, "orders"))

        # the CLI is killed while it waits: nothing can withdraw its task
        killed = procs.popen(
            [*cli, "--timeout", "6"],
            env=stack.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        try:
            assert wait_until(lambda: len(_queued(stack, "orders")) > left_after_give_up, 60), (
                "the CLI sent nothing"
            )
        finally:
            killed.kill()
            killed.wait()
        orphan = _queued(stack, "orders")[0]  # LPUSH: the newest is first
        expires = orphan["headers"].get("expires")
        if expires is not None:  # wait until it has expired before any worker exists
            at = dt.datetime.fromisoformat(expires)
            assert wait_until(lambda: dt.datetime.now(dt.UTC) > at, 30)

        # now an orders worker comes up, and takes whatever is queued
        fake.__exit__()
        stack.start_child("orders")
        assert (
            stack.send_task("athena.ping", queue="orders", timeout=60) == "pong"
        )  # FIFO: all before it taken
        assert wait_until(lambda: _idle(stack, "orders"), 120, interval=0.5)

        keys = Keys(stack.env_name, stack.account)
        assert _open_positions(stack) == {BTC: "2"}, "a flatten nobody was waiting for ran"
        assert HaltSwitch(stack.redis(), keys).state() is None, "a withdrawn flatten halted the account"
        assert stack.redis().llen(keys.halt_history) == 0
        log = (tmp_path / "logs" / "orders.log").read_text()
        assert "FLATTEN" not in log, log[-3000:]

        # what the operator saw when the CLI gave up: one plain sentence, exit 3, and nothing left queued
        assert gave_up.returncode == 3, (gave_up.returncode, gave_up.stdout, gave_up.stderr)
        assert "nothing ran" in gave_up.stderr and "orders worker" in gave_up.stderr, gave_up.stderr
        assert "Traceback" not in gave_up.stderr + gave_up.stdout and gave_up.stdout == ""
        assert len(gave_up.stderr.strip().splitlines()) == 1, gave_up.stderr
        assert took < 30, took  # 2 s of waiting plus the CLI's start-up, on a loaded machine
        assert left_after_give_up == 0, "the timed-out flatten stayed queued"

        # the killed CLI's task carried its timeout as expiry, and the worker discarded it unrun
        assert expires is not None, orphan["headers"]
        task_id = orphan["headers"]["id"]
        assert f"Discarding revoked task: athena.flatten[{task_id}]" in log, log[-3000:]
        assert stack.celery().AsyncResult(task_id).state == "REVOKED"
        assert _queued(stack, "orders") == []
    assert stack.survivors() == []
