"""The controls when something is down (issue #15 item 1): `athena halt|resume|flatten|reconcile|status`
as an operator runs them, as subprocesses, with Redis down, with no orders worker, with the result
backend down, and with Redis dying while the command waits. Each says in one sentence what is missing
and what to do, exits 3 (never a traceback), and a halt still halts without any worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from athena import procs
from athena.domain import OrderRequest, OrdType, Side
from athena.process.control import ControlExit, preflight
from athena.process.launch import Stack, StackConfig
from athena.procs import wait_until
from athena.risk.halt import HaltSwitch
from athena.sim.client import SimClient
from athena.state.keys import Keys
from athena.strategies.pause import StrategyPause
from athena.testing.redis_server import free_port
from tests.e2e.fake_worker import FakeWorker

pytestmark = pytest.mark.e2e

BTC = "BTC-USDT-SWAP"
TICK = Decimal("0.1")
MANUAL = {
    "name": "manual",
    "cls": "ScalperV1",
    "instIds": ["ETH-USDT-SWAP"],
    "allocation": "0.5",
    "params": {"min_trades": 100_000},
}
PASSWORD = "redis-pw-not-to-print-42"


def athena(
    env: dict[str, str], *args: str, timeout: float = 90
) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    proc = procs.run(
        [sys.executable, "-m", "athena.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return proc, time.monotonic() - t0


def one_sentence(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    err = proc.stderr
    assert "Traceback" not in err + proc.stdout, err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


# -- Redis down ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["halt"],
        ["halt", "--strategy", "scalpbtc"],
        ["resume"],
        ["reconcile"],
        ["flatten", "--yes"],
        ["status"],
        ["status", "--json"],
        ["reconcile", "--local"],
    ],
)
def test_redis_down_every_control_says_so_at_once(args: list[str], tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHENA_", "OKX_", "REDIS_"))}
    env.update(
        {
            "ATHENA_ENV": "test",
            "REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:{port}/2",
            "ATHENA_DB_URL": f"sqlite:///{tmp_path}/a.db",
        }
    )
    proc, took = athena(env, *args)
    assert proc.returncode == 3, (proc.returncode, proc.stdout, proc.stderr)
    err = one_sentence(proc, f"Redis at 127.0.0.1:{port}/2 does not answer", "REDIS_URL", "Nothing was done")
    assert PASSWORD not in err + proc.stdout
    assert proc.stdout == ""
    assert took < 15, took  # Python's start-up plus the preflight; before: ~20 s of Celery retries, or 60 s


def test_preflight_takes_under_two_seconds_with_redis_down(tmp_path: Path) -> None:
    from athena.config import load_settings

    settings = load_settings(
        env="test", environ={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}, dotenv=False
    )
    t0 = time.monotonic()
    with pytest.raises(ControlExit) as info:
        preflight(settings)
    assert time.monotonic() - t0 < 2.0
    assert info.value.code == 3


# -- Redis up: no orders worker, the result backend down, Redis dying mid-wait -------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    cfg = StackConfig(
        var_dir=tmp_path_factory.mktemp("down"),
        symbols=[BTC],
        stream=False,
        orders=False,
        beat=False,
        sim_tick_ms=200,
        config={"strategies": [MANUAL]},
    )
    with Stack(cfg) as s:
        yield s
    assert s.survivors() == []


def _queued(stack: Stack) -> int:
    return sum(int(stack.redis().llen(q)) for q in stack.queues.all)


def _positions(stack: Stack) -> dict[str, str]:
    return {
        p["instId"]: p["pos"] for p in stack.sim_admin("state")["positions"] if Decimal(p["pos"] or "0") != 0
    }


def _rest_entry(stack: Stack, cl: str) -> None:
    """A buy resting far below the market, placed through the same placement code the orders worker
    runs, booked to the configured `manual` strategy: a working entry a halt must cancel."""
    from athena.engine import Engine
    from athena.ops import placement
    from athena.ops.local_sender import InProcessSender
    from athena.wiring import account, orders_engine

    settings = stack.settings()
    engine: Engine | None = None
    engine = orders_engine(account(settings), InProcessSender(lambda: engine))  # type: ignore[arg-type,return-value]
    try:
        bid = Decimal(stack.sim_admin("state")["markets"][BTC]["bid"])
        engine.marks.set(BTC, bid)
        px = (bid * Decimal("0.9")).quantize(TICK)
        req = OrderRequest(
            clOrdId=cl,
            instId=BTC,
            side=Side.BUY,
            ordType=OrdType.LIMIT,
            sz=Decimal(1),
            px=px,
            strategy="manual",
            stop_loss_px=(px * Decimal("0.99")).quantize(TICK),
        )
        out = placement.place(engine, req)
        assert out.status == "acked", out
    finally:
        engine.close()


def test_no_orders_worker(stack: Stack) -> None:
    env = stack.env
    keys = Keys(stack.env_name, stack.account)
    halt = HaltSwitch(stack.redis(), keys)

    # reconcile / flatten: refused at once, nothing sent, and the operator told what to start
    for args in (["reconcile"], ["flatten", "--yes"]):
        proc, took = athena(env, *args)
        assert proc.returncode == 3, (proc.stdout, proc.stderr)
        one_sentence(
            proc,
            f"no orders worker of account {stack.account} is running",
            "Nothing was sent",
            f"-Q orders.{stack.account},default.{stack.account}",
            "--local",
        )
        assert took < 15 and _queued(stack) == 0

    # halt: the switch is set in Redis directly; nothing working to cancel
    proc, _ = athena(env, "halt", "--reason", "no worker", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["halted"] is True and doc["ran_on"] == "nothing to cancel"
    assert halt.state() is not None and halt.state().reason == "no worker"  # type: ignore[union-attr]
    proc, _ = athena(env, "resume", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["resumed"] is True and halt.state() is None

    # per strategy, no worker either
    proc, _ = athena(env, "halt", "--strategy", "manual", "--reason", "news", "--json")
    assert proc.returncode == 0, proc.stderr
    assert StrategyPause(stack.redis(), keys).is_paused("manual")
    proc, _ = athena(env, "resume", "--strategy", "manual")
    assert proc.returncode == 0 and not StrategyPause(stack.redis(), keys).is_paused("manual")
    assert "Strategy manual resumed." in proc.stdout

    # an entry working on the exchange: halt sets the switch, says the entry is still working and exits 3...
    _rest_entry(stack, "downe1")
    proc, _ = athena(env, "halt", "--reason", "working entry", "--json")
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    one_sentence(
        proc,
        "trading halted (the switch is set), but 1 working entry was not cancelled",
        "athena halt --local",
    )
    assert json.loads(proc.stdout)["entries_not_cancelled"] == ["downe1"]
    assert halt.state() is not None
    # ...and with --local cancels it from here
    proc, _ = athena(env, "halt", "--reason", "working entry", "--local", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["entries_cancelled"] == ["downe1"] and doc["ran_on"].startswith("this process")
    assert "running it in this process (--local)" in proc.stderr
    assert wait_until(lambda: not stack.sim_admin("state")["pending"], 20)
    athena(env, "resume")

    # flatten --local: the same ops code, in this process, said so
    opened = SimClient(stack.sim_url).post(
        "/api/v5/trade/order",
        {
            "instId": BTC,
            "tdMode": "cross",
            "side": "buy",
            "ordType": "market",
            "sz": "2",
            "clOrdId": "downp1",
        },
    )
    assert opened["code"] == "0", opened
    assert _positions(stack) == {BTC: "2"}
    proc, _ = athena(env, "flatten", "--yes", "--local", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ran_on"] == "this process (no orders worker is running)" and doc["ok"] is True
    assert [p["instId"] for p in doc["positions_closed"]] == [BTC]
    assert _positions(stack) == {}
    assert "no orders worker is running; running it in this process (--local)" in proc.stderr
    assert "Traceback" not in proc.stderr
    athena(env, "resume")

    proc, _ = athena(env, "reconcile", "--local", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ran_on"].startswith("this process")
    assert _queued(stack) == 0

    # status: a table, saying there is no worker
    proc, _ = athena(env, "status")
    assert proc.returncode == 0, proc.stderr
    assert "no worker has a heartbeat" in proc.stdout and "last reconcile" in proc.stdout
    assert "positions and their exchange stops" in proc.stdout


def test_result_backend_down(stack: Stack) -> None:
    env = {**stack.env, "ATHENA_RESULT_BACKEND": f"redis://127.0.0.1:{free_port()}/0"}
    port = env["ATHENA_RESULT_BACKEND"].rsplit(":", 1)[1].split("/")[0]
    with FakeWorker(stack):
        proc, took = athena(env, "reconcile")
        assert proc.returncode == 3, (proc.stdout, proc.stderr)
        one_sentence(
            proc,
            f"the result backend at 127.0.0.1:{port}/0 does not answer",
            "ATHENA_RESULT_BACKEND",
            "Nothing was sent",
        )
        assert took < 15 and _queued(stack) == 0
        proc, _ = athena(env, "reconcile", "--local", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["ran_on"] == "this process (the result backend is down)"


def test_a_worker_that_never_answers_and_redis_dying_mid_wait(stack: Stack) -> None:
    env = stack.env
    with FakeWorker(stack):
        # the worker's heartbeat is there but nothing consumes: the CLI withdraws its task after the timeout
        proc, _ = athena(env, "reconcile", "--timeout", "2")
        assert proc.returncode == 3
        one_sentence(proc, "no orders worker took the reconcile within 2 s; it was withdrawn and nothing ran")
        assert _queued(stack) == 0
        # with --local it then runs here
        proc, _ = athena(env, "reconcile", "--timeout", "2", "--local", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["ran_on"] == "this process (the orders worker did not take it)"

        # Redis dies while the CLI waits for its worker: one sentence, at once, not after Celery's retries
        waiting = procs.popen(
            [sys.executable, "-m", "athena.cli", "reconcile", "--timeout", "120"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert wait_until(lambda: _queued(stack) > 0, 30), "the CLI sent nothing"
            stack.kill9("redis")
            t0 = time.monotonic()
            out, err = waiting.communicate(timeout=60)
            took = time.monotonic() - t0
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.wait()
    stack.start_child("redis")
    assert waiting.returncode == 3, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "Redis stopped answering while the reconcile was waiting for its worker" in err, err
    assert took < 10, took


def _run_watch(env: dict[str, str]) -> str:
    """`athena status --watch` on a terminal (a pty) for a few refreshes, then Ctrl-C."""
    import pty
    import signal

    master, slave = pty.openpty()
    proc = procs.popen(
        [sys.executable, "-m", "athena.cli", "status", "--watch", "--interval", "0.3"],
        env={**env, "COLUMNS": "160", "LINES": "60", "TERM": "xterm"},
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks: list[bytes] = []

    def reader() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        assert wait_until(lambda: b"".join(chunks).count(b"workers (heartbeats)") >= 3, 60), b"".join(chunks)[
            -2000:
        ]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        t.join(5)
        os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_status_watch_refreshes_in_place(stack: Stack) -> None:
    out = _run_watch(stack.env)
    assert "\x1b[" in out  # cursor movement: redrawn where it was, not appended
    assert "Traceback" not in out
