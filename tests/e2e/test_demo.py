"""`athena demo` end to end: the whole stack as real processes on a private Redis, a short run, then
the summary, the report files, and not one child process left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from athena import procs

pytestmark = pytest.mark.e2e


def _processes_of(account: str) -> list[int]:
    """Every live process whose environment names the demo's account (all the stack's children do)."""
    needle = f"ATHENA_ACCOUNT={account}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_demo_runs_the_mission_and_leaves_nothing(tmp_path: Path) -> None:
    args = [
        sys.executable,
        "-m",
        "athena.cli",
        "demo",
        "--duration",
        "20",
        "--var",
        str(tmp_path),
        "--redis",
        "private",
        "--plain",
    ]
    proc = procs.popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        out, _ = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the demo and, through their sessions, nothing else of ours
        out, _ = proc.communicate()
        pytest.fail(f"demo did not finish in time:\n{out.decode(errors='replace')[-4000:]}")
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-4000:]
    assert "Athena demo summary" in text, text[-4000:]
    assert re.search(
        r"metrics \(Prometheus\) stream worker http://127\.0\.0\.1:\d+/metrics, "
        r"orders worker http://127\.0\.0\.1:\d+/metrics",
        text,
    ), text[:3000]

    def figure(label: str) -> int:
        m = re.search(rf"{label}: (\d+)", text)
        assert m, f"{label!r} missing from the summary:\n{text[-3000:]}"
        return int(m.group(1))

    assert figure("orders") > 0
    assert figure("fills") > 0
    assert figure("stops placed") > 0
    assert re.search(r"reconcile [1-9]\d* runs", text), text[-3000:]  # beat ran reconcile
    assert "final: no drift" in text
    assert "capital: reservations consistent, 0 clamps" in text
    assert "children left running: 0" in text
    # the dashboard ran with the stack; its generated password went to a file only its owner reads
    seen = re.search(r"dashboard http://127\.0\.0\.1:\d+ \(password in (\S+)\)", text)
    assert seen, text[:3000]
    secret = Path(seen.group(1))
    assert secret.stat().st_mode & 0o077 == 0 and len(secret.read_text().strip()) >= 16
    assert secret.read_text().strip() not in text

    reports = list((tmp_path / "reports").iterdir())
    assert len(reports) == 1
    rep = reports[0]
    assert rep.name.endswith("-demo") and f"report: {rep}" in text
    for name in ("trades.csv", "fills.csv", "report.html", "summary.json"):
        assert (rep / name).stat().st_size > 0, name
    doc = json.loads((rep / "summary.json").read_text())
    assert doc["fills"] == figure("fills") and doc["fills"] >= 1
    assert doc["final_reconcile"]["drift"] == []
    assert doc["capital"]["clamps"] == 0 and doc["capital"]["reserved_mismatch"] == []
    assert doc["flatten"]["flat"] is True
    assert doc["beat"]["sync_positions"] >= 1 and doc["beat"]["reconcile"] >= 1
    assert doc["milestones"]["stop_placed"] is not None
    # the fee gate's figures reach the summary (counted by the stream worker's strategies)
    assert re.search(r"fee gate: \d+ entries skipped .*, [1-9]\d* sent", text), text[-3000:]
    assert doc["fee_gate"]["entries"] >= 1 and doc["fee_gate"]["per_strategy"]
    assert doc["survivors"] == []
    assert doc["kind"] == "demo" and doc["figures"]["fills"] == doc["fills"]
    assert len(doc["tables"]["exit_reason"]) >= 1 and doc["figures"]["trades"] == doc["round_trips"]
    page = (rep / "report.html").read_text()
    assert 'id="chart-equity"' in page and 'id="chart-price-0"' in page and "Task latencies" in page
    # fills.csv: a header plus one row per fill
    assert len((rep / "fills.csv").read_text().strip().splitlines()) == doc["fills"] + 1
    # the logs of every child are there, and none of them is still running
    logs = {p.name for p in (tmp_path / "runs").glob("*/logs/*.log")}
    assert {"redis.log", "sim.log", "stream.log", "orders.log", "beat.log"} <= logs
    assert _processes_of(doc["account"]) == []
