"""The Stack launcher: the whole system as real processes comes up, answers, and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from athena.launch import Stack, StackConfig, StackError
from athena.procs import wait_until

pytestmark = pytest.mark.e2e


def test_stack_starts_pings_and_stops_without_survivors(tmp_path: Path) -> None:
    stack = Stack(StackConfig(var_dir=tmp_path, sim_tick_ms=100))
    try:
        with stack:
            names = stack.ping(timeout=2.0)
            assert stack.worker_name("orders") in names
            assert stack.worker_name("stream") in names
            assert stack.send_task("athena.ping", timeout=30) == "pong"
            st = stack.stream_status()
            assert st is not None and st["private"] == "ready" and st["ticks"] > 0
            assert {c.name for c in stack.sup.children} == {"redis", "sim", "stream", "orders", "beat"}
            pids = [c.pid for c in stack.sup.children]
            assert all(c.alive() for c in stack.sup.children)
            # the sim is the stack's own: its admin API answers on the port every child was given
            assert stack.sim_admin("market")["running"] is True
            assert stack.env["OKX_REST_URL"] == stack.sim_url
            # a crashed worker comes back under the same name
            stack.restart("orders", kill=True, timeout=60)
            assert wait_until(lambda: stack.worker_name("orders") in stack.ping(timeout=0.5), 30, interval=0.5)
        assert stack.survivors() == []
        assert all(not c.alive() for c in stack.sup.children)
        assert len(set(pids)) == len(pids)
        for name in ("redis", "sim", "stream", "orders", "beat"):
            assert (tmp_path / "logs" / f"{name}.log").exists()
    finally:
        stack.stop()
        assert stack.survivors() == []


def test_stack_fails_fast_when_a_child_dies(tmp_path: Path) -> None:
    # An invalid strategy config makes both workers exit at start: start-up must say so, not hang.
    cfg = StackConfig(var_dir=tmp_path, beat=False,
                      config={"strategies": [{"name": "bad", "instIds": ["BTC-USDT-SWAP"], "allocation": "2"}]})
    stack = Stack(cfg)
    try:
        with pytest.raises(StackError, match=r"exited with code"), stack:
            pass
    finally:
        stack.stop()
    assert stack.survivors() == []
