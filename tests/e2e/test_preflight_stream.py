"""The stream worker runs the pre-flight before it trades: a refusal holds new entries (and says so in
its log) while the worker still starts and manages what is open; `athena preflight` after the fix
lifts the hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from athena import procs
from athena.process.launch import Stack, StackConfig
from athena.procs import wait_until
from athena.risk.halt import HaltSwitch
from athena.state.keys import Keys

pytestmark = pytest.mark.e2e

BTC = "BTC-USDT-SWAP"
QUIET = {
    "name": "quiet",
    "cls": "ScalperV1",
    "instIds": [BTC],
    "allocation": "0.5",
    "params": {"min_trades": 100_000},
}


def test_stream_worker_refusal_holds_entries_and_preflight_lifts_it(tmp_path: Path) -> None:
    cfg = StackConfig(
        var_dir=tmp_path,
        symbols=[BTC],
        stream=False,
        beat=False,
        sim_tick_ms=200,
        config={"strategies": [QUIET]},
    )
    with Stack(cfg) as stack:
        stack.sim_admin("account", {"acctLv": "1"})
        stack.start_child("stream")  # ready: WebSockets live, despite the refusal
        halt = HaltSwitch(stack.redis(), Keys(stack.env_name, stack.account))
        assert wait_until(lambda: "preflight" in halt.holds(), 30, interval=0.2)
        assert "Spot mode" in halt.holds()["preflight"].reason and halt.is_halted()
        log = stack.child("stream").log_tail(200_000)
        assert "PRE-FLIGHT REFUSED" in log
        stack.check_alive()

        stack.sim_admin("account", {"acctLv": "2"})
        proc = procs.run(
            [sys.executable, "-m", "athena.cli", "preflight", "--json"],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["ok"] is True
        assert halt.holds() == {} and not halt.is_halted()
    assert stack.survivors() == []
