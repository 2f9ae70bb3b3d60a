"""`athena backtest --data` on what the project's own recorder and downloader made from the sim:
the recorded books rebuilt with their checksums checked (a gap reported where the sim lost an
update), the downloaded trades with their book approximated (and the report saying so), marks and
funding read; the format detected from the content."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from athena.backtest.cli import main as backtest_main
from athena.backtest.feed import Feed
from athena.marketdata import download
from athena.marketdata.sources import SourceError, detect, open_source
from athena.sim.server import SimServer
from tests.marketdata.helpers import BTC, ETH, Running
from tests.reports import report_folder

T_0810 = 1_796_112_600_000  # 2026-12-01T08:10:00Z: half an hour of history with the 08:00 settlement in it


def report(out: Path) -> dict[str, Any]:
    return json.loads((report_folder(out) / "summary.json").read_text())  # type: ignore[no-any-return]


def test_backtest_of_a_recording_rebuilds_and_checks_the_books(
    live_sim: SimServer, tmp_path: Path, capsys: Any
) -> None:
    rec_dir = tmp_path / "rec"
    r = Running(
        live_sim.ws_url("public"), rec_dir, [BTC, ETH], ["books", "trades", "mark-price", "funding-rate"]
    )
    try:
        r.until(lambda: r.rec.books[BTC].checked > 20)
        live_sim.call(lambda: setattr(live_sim.faults, "books_gap", 1))
        r.until(lambda: r.rec.resyncs == 1 and r.rec.books[BTC].valid and not r.rec.resyncing)
        n = r.rec.books[BTC].checked
        r.until(lambda: r.rec.books[BTC].checked > n + 10 and r.rec.books[ETH].checked > 20)
    finally:
        r.stop()
    assert detect(rec_dir) == "recorded"
    out = tmp_path / "report"
    assert backtest_main(["--data", str(rec_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    src = report(out)["meta"]["source"]
    assert src["format"] == "recorded" and src["instIds"] == [BTC, ETH]
    recorded = json.loads(next(rec_dir.glob("*.summary.json")).read_text())
    assert f"{recorded['checksums_checked']} checksums verified, 0 failed, 1 seqId gaps" in src["book"]
    assert any("seqId gap" in g and g.startswith(BTC + " books") for g in src["gaps"])
    assert src["mark"].endswith("prints (the exchange's mark follows them)")
    assert re.fullmatch(
        r"[1-9]\d* funding-rate prints read; open positions are charged at each 8-hour "
        r"settlement at the last rate printed",
        src["funding"],
    )
    assert "data: recorded: files made by athena record" in printed and "seqId gap" in printed
    # the same recording twice: the same report, byte for byte
    again = tmp_path / "again"
    assert backtest_main(["--data", str(rec_dir), "--out", str(again), "--quiet"]) == 0
    assert (report_folder(out) / "summary.json").read_bytes() == (
        report_folder(again) / "summary.json"
    ).read_bytes()


@pytest.fixture()
def settling_sim() -> Any:
    srv = SimServer(tick_interval_ms=0, clock=lambda: T_0810, history_backfill_s=1800).start()
    yield srv
    srv.stop()


def test_backtest_of_a_download_approximates_the_book_and_says_so(
    settling_sim: SimServer, tmp_path: Path, capsys: Any
) -> None:
    store = tmp_path / "store"
    assert (
        download.main(
            [
                "--url",
                settling_sim.url,
                "--instIds",
                BTC,
                "--start",
                "2026-12-01T07:40",
                "--out",
                str(store),
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    out = tmp_path / "report"
    assert backtest_main(["--data", str(store), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    doc = report(out)
    src = doc["meta"]["source"]
    h = settling_sim.exchange.history
    assert h is not None
    n_trades = len(h.insts[BTC].trades)
    assert src["format"] == "store" and "APPROXIMATED from trades" in src["book"]
    assert src["funding"].startswith("1 funding-rate prints read; open positions are charged")
    assert src["mark"] == "30 mark-price prints (the exchange's mark follows them)"
    assert (
        doc["figures"]["events"] == 2 * n_trades + 30 + 1
    )  # a book and a trade per print, the marks, the funding
    assert 0 <= src["period"]["start_ts"] - (T_0810 - 1_800_000) < 5_000  # the first trade of the history
    assert src["period"]["end"] == "2026-12-01T08:10:00.000Z"  # the last mark candle closes at "now"
    assert src["gap_count"] == 0
    assert "book: APPROXIMATED from trades" in printed and "data: store" in printed


def test_candles_only_become_four_prints_each(settling_sim: SimServer, tmp_path: Path, capsys: Any) -> None:
    store = tmp_path / "store"
    assert (
        download.main(
            [
                "--url",
                settling_sim.url,
                "--instIds",
                BTC,
                "--kinds",
                "candles",
                "--bar",
                "5m",
                "--start",
                "2026-12-01T07:40",
                "--out",
                str(store),
                "--quiet",
            ]
        )
        == 0
    )
    src = open_source([store])
    assert src.format == "store" and any("four prints per candle" in n for n in src.notes)
    pushes = list(src.pushes())
    assert len(pushes) == 4 * 6
    out = tmp_path / "report"
    assert backtest_main(["--data", str(store), "--out", str(out), "--quiet"]) == 0
    assert report(out)["figures"]["events"] == 2 * 4 * 6


def test_formats_are_detected_and_mixtures_refused(tmp_path: Path, capsys: Any) -> None:
    push = tmp_path / "p.jsonl"
    push.write_text('{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[]}\n')
    csv = tmp_path / "t.csv"
    csv.write_text("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n")
    assert (detect(push), detect(csv)) == ("okx-push", "tardis")
    with pytest.raises(SourceError, match="one format at a time"):
        open_source([push, csv])
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    assert backtest_main(["--data", str(empty), "--out", str(tmp_path / "r")]) == 2
    assert "empty (expected OKX push JSON lines" in capsys.readouterr().err
    nothing = tmp_path / "dir"
    nothing.mkdir()
    assert backtest_main(["--data", str(nothing), "--out", str(tmp_path / "r")]) == 2
    assert "no market data here" in capsys.readouterr().err
    assert backtest_main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    unknown = tmp_path / "u.jsonl"
    unknown.write_text(
        '{"arg":{"channel":"trades","instId":"PEPE-USDT-SWAP"},"data":[{"instId":"PEPE-USDT-SWAP",'
        '"tradeId":"1","px":"0.00001","sz":"1","side":"buy","ts":"1"}]}\n'
    )
    assert backtest_main(["--data", str(unknown), "--out", str(tmp_path / "r")]) == 2
    assert "has no PEPE-USDT-SWAP" in capsys.readouterr().err


def test_a_reconnect_in_a_recording_is_a_gap_in_the_report(tmp_path: Path) -> None:
    def trade(ts: int, recv: int) -> str:
        return json.dumps(
            {
                "recvTs": str(recv),
                "arg": {"channel": "trades", "instId": BTC},
                "data": [
                    {
                        "instId": BTC,
                        "tradeId": str(ts),
                        "px": "100000.1",
                        "sz": "1",
                        "side": "buy",
                        "ts": str(ts),
                    }
                ],
            }
        )

    path = tmp_path / "okx-public-20261201T000000Z.jsonl"
    path.write_text(
        "\n".join(
            [
                trade(1_000, 1_003),
                trade(2_000, 2_004),
                json.dumps({"recvTs": "2100", "event": "athena-reconnect"}),
                trade(9_000, 9_002),
                trade(9_500, 9_501),
            ]
        )
        + "\n"
    )
    src = open_source([path])
    assert src.format == "recorded"
    feed = Feed()
    assert len(list(feed.events(src.pushes()))) == 8  # trades only: each with a book approximated from it
    assert feed.stats.gaps == [
        {
            "instId": "",
            "channel": "all channels",
            "from_ts": 2_000,
            "to_ts": 9_000,
            "reason": "recorder reconnected",
        }
    ]
    out = tmp_path / "r"
    assert backtest_main(["--data", str(path), "--out", str(out), "--quiet"]) == 0
    meta = report(out)["meta"]["source"]
    assert meta["book"].startswith("APPROXIMATED from trades (no book in the data)")
    assert meta["gaps"] == [
        "all channels 1970-01-01T00:00:02.000Z .. 1970-01-01T00:00:09.000Z (recorder reconnected)"
    ]
