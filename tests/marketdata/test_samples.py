"""The shipped samples (item 5): small, labelled as the sim's synthetic market, made by the project's
own recorder and downloader, and each backtests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from athena.backtest.cli import main as backtest_main
from athena.marketdata.store import Store
from tests.reports import report_folder

SAMPLES = Path(__file__).resolve().parents[2] / "athena" / "data" / "samples"


def test_samples_are_small_and_labelled() -> None:
    readme = (SAMPLES / "README.md").read_text()
    assert "NOT real OKX data" in readme and "synthetic" in readme
    assert "athena record" in readme and "athena download" in readme and "make_samples" in readme
    for d in ("recorded", "download"):
        size = sum(f.stat().st_size for f in (SAMPLES / d).rglob("*") if f.is_file())
        assert 1_000 < size < 150_000, (d, size)  # tens of KB


def test_recorded_sample_was_made_by_the_recorder_and_backtests(tmp_path: Path, capsys: Any) -> None:
    (summary,) = (SAMPLES / "recorded").glob("*.summary.json")
    doc = json.loads(summary.read_text())
    assert doc["complete"] and doc["checksums_checked"] > 0 and doc["checksum_failures"] == 0
    assert {k.split()[0] for k in doc["streams"]} == {"books", "trades", "mark-price", "funding-rate"}
    assert backtest_main(["--data", str(SAMPLES / "recorded"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    src = json.loads((report_folder(tmp_path / "r") / "summary.json").read_text())["meta"]["source"]
    assert (
        src["format"] == "recorded"
        and f"{doc['checksums_checked']} checksums verified, 0 failed" in src["book"]
    )
    assert src["gap_count"] == 0


def test_downloaded_sample_was_made_by_the_downloader_and_backtests(tmp_path: Path) -> None:
    inv = Store(SAMPLES / "download").inventory()
    assert sorted(inv["BTC-USDT-SWAP"]) == ["candles-1m", "funding", "mark-candles-1m", "trades"]
    assert all(not m.gaps for kinds in inv.values() for ms in kinds.values() for m in ms)
    assert backtest_main(["--data", str(SAMPLES / "download"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    src = json.loads((report_folder(tmp_path / "r") / "summary.json").read_text())["meta"]["source"]
    assert src["format"] == "store" and "APPROXIMATED" in src["book"]
    assert src["period"]["start"].startswith("2026-12-01T07:55") and src["funding"].startswith(
        "1 funding-rate"
    )
