"""Issue 18's refusals, as regression tests: real market data files the backtest used to refuse or
misread ("Expecting value", "no market data events", a `books` update taken for the whole book)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from athena.backtest.cli import main as backtest_main
from athena.backtest.feed import read_jsonl
from tests.reports import report_folder

BTC = "BTC-USDT-SWAP"


def test_a_tardis_trades_csv_is_backtested_not_refused(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "okex-swap_trades_2025-12-01_BTC-USDT-SWAP.csv"
    rows = ["exchange,symbol,timestamp,local_timestamp,id,side,price,amount"]
    for i in range(40):
        side = "buy" if i % 3 else "sell"
        rows.append(
            f"okex-swap,{BTC},{1764547200000000 + i * 250_000},{1764547200000000 + i * 250_000 + 900},"
            f"{1000 + i},{side},{100000 + (i % 5) / 10:.1f},{1 + i % 4}"
        )
    data.write_text("\n".join(rows) + "\n")
    rc = backtest_main(["--data", str(data), "--out", str(tmp_path / "r"), "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "Expecting value" not in err
    src = json.loads((report_folder(tmp_path / "r") / "summary.json").read_text())["meta"]["source"]
    assert src["format"] == "tardis" and "APPROXIMATED" in src["book"]
    assert src["period"]["start"] == "2025-12-01T00:00:00.000Z" and src["period"]["seconds"] == 9
    assert "data: tardis" in out and "book: APPROXIMATED" in out


def test_an_okx_rest_answer_is_refused_with_what_to_do(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "candles.json"
    data.write_text(
        json.dumps(
            {
                "code": "0",
                "msg": "",
                "data": [
                    ["1764547200000", "100000", "100010", "99990", "100005", "12", "0.12", "12000.6", "1"]
                ],
            }
        )
        + "\n"
    )
    assert backtest_main(["--data", str(data), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"{data}:1: this is an OKX REST answer" in err and "athena download" in err
    assert "no market data events" not in err


def test_recorded_books_updates_rebuild_the_whole_book(tmp_path: Path) -> None:
    def lv(px: str, sz: str) -> list[str]:
        return [px, sz, "0", "1"]

    bids = [lv(f"{100000 - i / 10:.1f}", "5") for i in range(5)]
    asks = [lv(f"{100000.1 + i / 10:.1f}", "5") for i in range(5)]
    snap = {
        "arg": {"channel": "books", "instId": BTC},
        "action": "snapshot",
        "data": [{"bids": bids, "asks": asks, "ts": "1000", "seqId": 10, "prevSeqId": -1, "checksum": 0}],
    }
    upd = {
        "arg": {"channel": "books", "instId": BTC},
        "action": "update",
        "data": [
            {
                "bids": [lv("100000.0", "7")],
                "asks": [],
                "ts": "1100",
                "seqId": 11,
                "prevSeqId": 10,
                "checksum": 0,
            }
        ],
    }
    path = tmp_path / "books.jsonl"
    path.write_text(json.dumps(snap) + "\n" + json.dumps(upd) + "\n")
    events = read_jsonl(path)
    assert len(events) == 2
    after = events[1].book
    assert after is not None
    assert len(after.bids) == 5 and len(after.asks) == 5  # the update changed one level, not the whole book
    assert str(after.bids[0].sz) == "7" and str(after.bids[1].px) == "99999.9"
