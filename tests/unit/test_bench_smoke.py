"""Smoke test of the benchmarks (issue 9): they assert nothing about time, but they must keep
running. The cheapest ones run for real with tiny sizes (subprocesses, results in a temp dir so
var/bench keeps the real figures); the rest are imported and parse their arguments."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import pytest

from athena import procs

ROOT = Path(__file__).resolve().parents[2]
MINE = (
    "order_path",
    "stop_path",
    "reconcile",
    "memory",
    "peers",
    "tick_path",
    "recorder",
    "optimize",
    "vs_nautilus",
)


def run_bench(name: str, tmp_path: Path, *args: str) -> dict[str, object]:
    env = {**os.environ, "ATHENA_BENCH_OUT": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = procs.run(
        [sys.executable, "-m", f"bench.bench_{name}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads((tmp_path / f"{name}.json").read_text())  # type: ignore[no-any-return]


def test_helpers() -> None:
    from bench.common import pct, stats_ns
    from bench.run_all import figures

    assert pct([], 0.5) == 0.0
    assert pct([3, 1, 2], 0.5) == 2 and pct(list(range(1, 101)), 0.99) == 99
    st = stats_ns([1_000, 2_000, 3_000], "us")
    assert st["count"] == 3 and st["p50_us"] == 2.0 and st["max_us"] == 3.0
    assert ("a.p50_us", 2.0) in figures({"a": {"p50_us": 2.0, "name": "x"}, "header": {"p50_us": 1}})


@pytest.mark.parametrize("name", MINE)
def test_every_bench_imports_and_parses_its_arguments(name: str) -> None:
    mod = importlib.import_module(f"bench.bench_{name}")
    with pytest.raises(SystemExit) as exc:
        mod.main(["--help"])
    assert exc.value.code == 0


def test_reconcile_runs(tmp_path: Path) -> None:
    doc = run_bench("reconcile", tmp_path, "--quick")
    assert doc["protect_positions_first"]["result"]["placed"] == doc["instruments"]  # type: ignore[index]
    assert doc["protect_positions_steady"]["result"]["placed"] == 0  # type: ignore[index]


def test_order_path_runs(tmp_path: Path) -> None:
    doc = run_bench("order_path", tmp_path, "--quick")
    rates = doc["rates"]
    assert rates and all(r["on_wire"] == r["sent"] for r in rates)  # type: ignore[union-attr,index]


def test_peers_run(tmp_path: Path) -> None:
    doc = run_bench("peers", tmp_path, "--quick")
    assert set(doc["rest_round_trip"]) == {"athena", "python-okx", "ccxt"}  # type: ignore[arg-type]
    assert doc["ws_ticker_ingest"]["athena"]["messages"] > 0  # type: ignore[index]


def test_recorder_bench_runs(tmp_path: Path) -> None:
    doc = run_bench("recorder", tmp_path, "--quick")
    assert doc["exit_code"] == 0 and doc["lines"] > 0 and doc["files"] >= 2  # rotated
    assert doc["reconnects"] >= 1 and doc["resyncs"] >= 1  # the drops and the lost books update were survived
    assert not doc["files_with_line_count_mismatch"] and not doc["files_not_cleanly_closed"]
    assert doc["peak_mib"]["rss"] > 0  # type: ignore[index]
