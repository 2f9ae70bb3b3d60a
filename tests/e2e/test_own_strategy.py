"""A strategy written in a folder outside the repo runs through the one loader: its own unit tests on the
StrategyHarness, a backtest, `athena config`, the sim stack's stream worker loading it by the
strategies_dir config, and a paper stack trading it on a paper venue fed by an upstream feed; a wrong
parameter stops `athena config` (exit 2) and a worker (exit 78) with one sentence naming the strategy
and the key, no traceback."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from athena import procs
from athena.backtest.cli import main as backtest_main
from athena.process.launch import ROOT, Stack, StackConfig
from athena.procs import wait_until
from athena.sim.client import SimClient
from athena.state.journal import Journal
from athena.strategies.template import main as new_strategy
from tests.e2e.stacks import BTC, describe, paper_upstream
from tests.reports import report_folder
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture()
def folder(tmp_path: Path) -> Iterator[Path]:
    """A strategy written by `athena new-strategy` into a folder outside the repo."""
    out = tmp_path / "mystrats"
    assert not out.resolve().is_relative_to(ROOT)
    assert new_strategy(["UpTicks", "--dir", str(out)]) == 0
    path, modules = list(sys.path), set(sys.modules)
    yield out
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name in ("up_ticks", "test_up_ticks"):
            del sys.modules[name]


def _config(tmp_path: Path, folder: Path, params: dict[str, Any]) -> Path:
    cfg = tmp_path / "cfg"
    cfg.mkdir(exist_ok=True)
    (cfg / "local.json").write_text(
        json.dumps(
            {
                "strategies_dir": str(folder),
                "strategies": [
                    {
                        "name": "upticks",
                        "cls": "UpTicks",
                        "instIds": ["BTC-USDT-SWAP"],
                        "allocation": "0.3",
                        "params": params,
                    }
                ],
            }
        )
    )
    return cfg


def _env(cfg: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHENA_", "OKX_", "REDIS_"))}
    return {
        **env,
        "ATHENA_ENV": "test",
        "ATHENA_CONFIG_DIR": str(cfg),
        "PYTHONPATH": str(ROOT),
        "ATHENA_DB_URL": f"sqlite:///{tmp_path}/a.db",
        **extra,
    }


def test_its_own_tests_a_backtest_and_athena_config(folder: Path, tmp_path: Path) -> None:
    # the generated unit tests pass (run here, on the harness, no Redis)
    sys.path.insert(0, str(folder))
    tests = importlib.import_module("test_up_ticks")
    ran = [name for name in dir(tests) if name.startswith("test_")]
    for name in ran:
        getattr(tests, name)()
    assert len(ran) == 3

    # a backtest loads it from the folder, by name, with --params
    out = tmp_path / "bt"
    assert (
        backtest_main(
            [
                "--synthetic",
                "--duration",
                "120",
                "--strategies-dir",
                str(folder),
                "--strategy",
                "UpTicks",
                "--params",
                '{"ups": 2}',
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    doc = json.loads((report_folder(out) / "summary.json").read_text())
    assert doc["strategy_stats"]["UpTicks0"]["entries"] >= 1 and doc["figures"]["fills"] >= 1, doc[
        "strategy_stats"
    ]
    assert doc["meta"]["strategies"][0]["cls"] == "UpTicks"

    # athena config: accepted, then refused on a misspelt parameter (exit 2, one sentence, no traceback)
    cfg = _config(tmp_path, folder, {"ups": 2})
    ok = subprocess.run(
        [sys.executable, "-m", "athena.cli", "config"],
        env=_env(cfg, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["strategies"][0]["cls"] == "UpTicks"
    _config(tmp_path, folder, {"upps": 2})
    bad = subprocess.run(
        [sys.executable, "-m", "athena.cli", "config"],
        env=_env(cfg, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert (
        "strategies.upticks.params.upps" in bad.stderr
        and "strategy 'upticks' (UpTicks) has no parameter 'upps'" in bad.stderr
        and "Traceback" not in bad.stderr
    ), bad.stderr


def test_a_worker_refuses_to_start_on_a_mistyped_parameter(folder: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, folder, {"ups": "three"})
    log = tmp_path / "w.log"
    proc = procs.popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "worker",
            "-Q",
            "orders.kbad",
            "-P",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"kbad-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=_env(cfg, tmp_path, ATHENA_ACCOUNT="kbad"),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.wait(60) == os.EX_CONFIG, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "athena worker: invalid configuration" in text and "strategies.upticks.params.ups" in text, text[
        -3000:
    ]
    assert "strategy 'upticks' (UpTicks): Input should be a valid integer" in text and "Traceback" not in text


def test_the_sim_stacks_stream_worker_trades_it_from_the_folder(folder: Path, tmp_path: Path) -> None:
    # no beat and no orders worker: an entry counts once risk passed it and its task is sent
    cfg = StackConfig(
        var_dir=tmp_path / "var",
        beat=False,
        orders=False,
        symbols=["BTC-USDT-SWAP"],
        sim_tick_ms=100,
        config={
            "strategies_dir": str(folder),
            "strategies": [
                {
                    "name": "upticks",
                    "cls": "UpTicks",
                    "instIds": ["BTC-USDT-SWAP"],
                    "allocation": "0.3",
                    "params": {"ups": 2},
                }
            ],
        },
    )
    stack = Stack(cfg)
    try:
        with stack:

            def entries() -> int:
                st = stack.stream_status() or {}
                return sum(
                    int((s.get("stats") or {}).get("entries", 0))
                    for s in st.get("strategies", [])
                    if s.get("name") == "upticks"
                )

            assert wait_until(lambda: entries() >= 1, 60, interval=0.5), stack.stream_status()
            st = stack.stream_status() or {}
            assert [s["name"] for s in st["strategies"]] == ["upticks"]
    finally:
        stack.stop()
    assert stack.survivors() == []


def test_a_paper_stack_trades_it_from_the_folder(folder: Path, tmp_path: Path) -> None:
    # ups=1: the first rising print of the upstream's tape sends a limit buy at that print's price, which
    # the upstream's next moves cross within seconds; no beat (nothing here needs its jobs)
    up = paper_upstream()
    try:
        cfg = StackConfig(
            var_dir=tmp_path / "var",
            mode="paper",
            beat=False,
            symbols=[BTC],
            upstream_rest=up.url,
            upstream_ws=up.ws_url("public"),
            config={
                "strategies_dir": str(folder),
                "strategies": [
                    {
                        "name": "upticks",
                        "cls": "UpTicks",
                        "instIds": [BTC],
                        "allocation": "0.3",
                        "params": {"ups": 1},
                    }
                ],
            },
        )
        with Stack(cfg) as stack:
            assert stack.env["ATHENA_MODE"] == "paper"
            venue = SimClient(stack.sim_url)
            journal = Journal(stack.settings().db_url)
            try:

                def filled_entries() -> list[str]:  # the strategy's buys the journal has as filled
                    return [
                        o.clOrdId
                        for o in journal.orders(strategy="upticks")
                        if str(o.state) == "filled" and not o.req.reduceOnly and str(o.req.side) == "buy"
                    ]

                try:
                    wait_for(filled_entries, 60, "a filled UpTicks entry on the paper venue", interval=0.25)
                except AssertionError as e:
                    raise AssertionError(f"{e}\n{describe(stack)}") from None
                entry = filled_entries()[0]
                venue_fills = venue.get(f"/api/v5/trade/fills?instType=SWAP&instId={BTC}&limit=100")["data"]
                assert any(f["clOrdId"] == entry and f["side"] == "buy" for f in venue_fills), venue_fills
                assert [f.clOrdId for f in journal.fills(strategy="upticks")].count(entry) >= 1
                st = stack.stream_status() or {}
                assert [s["name"] for s in st["strategies"]] == ["upticks"], st
                paper = stack.sim_admin("state")["paper"]
                assert paper["upstream"]["connects"] == 1 and paper["stale"] == [], paper
            finally:
                journal.close()
    finally:
        up.stop()
    assert stack.survivors() == []
