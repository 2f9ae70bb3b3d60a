"""The Stack launcher: the whole system as real processes comes up, answers, and leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from athena import procs
from athena.process.launch import ROOT, Stack, StackConfig, StackError
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
            assert wait_until(
                lambda: stack.worker_name("orders") in stack.ping(timeout=0.5), 30, interval=0.5
            )
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
    cfg = StackConfig(
        var_dir=tmp_path,
        beat=False,
        config={"strategies": [{"name": "bad", "instIds": ["BTC-USDT-SWAP"], "allocation": "2"}]},
    )
    stack = Stack(cfg)
    try:
        with pytest.raises(StackError, match=r"exited with code"), stack:
            pass
    finally:
        stack.stop()
    assert stack.survivors() == []


LAUNCHER = """
import json, sys, time
from pathlib import Path
from athena.process.launch import Stack, StackConfig
var = Path(sys.argv[1])
cfg = StackConfig(**json.loads(sys.argv[2]), var_dir=var)
stack = Stack(cfg).start().wait_ready()
(var / "children.tmp").write_text(json.dumps({c.name: c.pid for c in stack.sup.children}))
(var / "children.tmp").rename(var / "children.json")
time.sleep(600)
"""


@pytest.mark.parametrize(
    ("sig", "config", "names"),
    [
        (signal.SIGKILL, {}, {"redis", "sim", "stream", "orders", "beat"}),
        (
            signal.SIGTERM,
            {
                "stream": False,
                "beat": False,
                "flower": True,
                "orders_pool": "prefork",
                "orders_concurrency": 2,
            },
            {"redis", "sim", "orders", "flower"},
        ),
    ],
    ids=["SIGKILL-full-stack", "SIGTERM-prefork-and-flower"],
)
def test_children_die_with_a_killed_launcher(
    tmp_path: Path, sig: signal.Signals, config: dict[str, Any], names: set[str]
) -> None:
    """Issue #14.11: a launcher killed (no shutdown code runs) leaves no child nor grandchild behind."""
    with (tmp_path / "launcher.log").open("wb") as log:
        launcher = procs.popen(
            [sys.executable, "-c", LAUNCHER, str(tmp_path), json.dumps(config)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    family: list[tuple[int, int]] = []
    try:
        assert wait_until(
            lambda: (tmp_path / "children.json").exists() or launcher.poll() is not None, 150, 0.2
        )
        assert launcher.poll() is None, (tmp_path / "launcher.log").read_text()[-3000:]
        children = json.loads((tmp_path / "children.json").read_text())
        assert set(children) == names
        family = procs.family(children.values())  # the children and theirs (prefork pool processes)
        grandchildren = [pid for pid, _ in family if pid not in children.values()]
        if config.get("orders_pool") == "prefork":
            assert len(grandchildren) >= 2, family
        for (
            pid
        ) in grandchildren:  # frozen: they cannot notice their master's end, only the kernel can end them
            os.kill(pid, signal.SIGSTOP)
        launcher.send_signal(sig)
        launcher.wait(30)
        assert wait_until(lambda: not [p for p in family if procs.alive(*p)], 30, 0.1), [
            p for p in family if procs.alive(*p)
        ]
    finally:
        launcher.kill()
        launcher.wait()
        for pid, started in family:  # what the test must not leave behind, even when it failed
            if procs.alive(pid, started):
                os.kill(pid, signal.SIGKILL)


def test_children_inherit_none_of_the_callers_athena_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller's ATHENA_* and (sim mode) OKX_* variables never reach the stack's children: a shell with
    ATHENA_TOTAL_CAPITAL or a metrics port exported would otherwise run workers unlike the stack's config."""
    monkeypatch.setenv("ATHENA_TOTAL_CAPITAL", "1234.5")
    monkeypatch.setenv("ATHENA_METRICS_ORDERS_PORT", "9102")
    monkeypatch.setenv("OKX_API_KEY", "the-callers-key")
    stack = Stack(StackConfig(var_dir=tmp_path))
    probe = (
        "import os, json; print(json.dumps(sorted(k for k in os.environ if k.startswith(('ATHENA_', "
        "'OKX_')))))"
    )
    child = stack.sup.spawn("probe", [sys.executable, "-c", probe], stack._child_env())
    assert child.proc is not None and child.proc.wait(30) == 0
    seen = json.loads(child.log_path.read_text().strip().splitlines()[-1])
    assert (
        "ATHENA_TOTAL_CAPITAL" not in seen
        and "ATHENA_METRICS_ORDERS_PORT" not in seen
        and "OKX_API_KEY" not in seen
    )
    assert "ATHENA_ACCOUNT" in seen  # the stack's own
