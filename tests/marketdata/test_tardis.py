"""Tardis.dev CSV layouts of okex-swap, in small files written here in tardis's documented columns:
trades, book_snapshot_5/25, incremental_book_L2, derivative_ticker; merged by timestamp, amounts in
contracts (or coin / ctVal), every bad row named by file and line."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from athena.backtest.cli import main as backtest_main
from athena.backtest.feed import Feed, MarketEvent
from athena.marketdata.sources import SourceError, open_source
from athena.marketdata.tardis import DERIVATIVE, INCREMENTAL, TRADES, TardisError, snapshot_columns
from athena.sim.instruments import default_instruments
from tests.reports import report_folder

BTC = "BTC-USDT-SWAP"
US = 1_764_547_200_000_000  # 2025-12-01T00:00:00Z in microseconds
D = Decimal
TABLE = {si.instId: (si.inst.tickSz, si.inst.lotSz, si.inst.ctVal) for si in default_instruments()}


def write(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    text = ",".join(header) + "\n" + "".join(",".join(str(x) for x in r) + "\n" for r in rows)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def events(*paths: Path, amount: str = "contracts") -> tuple[list[MarketEvent], Feed, Any]:
    src = open_source(list(paths), "auto", None, TABLE, amount)
    feed = Feed(approx_book=src.approx_book, instruments={k: (v[0], v[1]) for k, v in TABLE.items()})
    return list(feed.events(src.pushes())), feed, src


def snap5_row(t: int, bid: str, ask: str, levels: int = 5, width: int = 5) -> list[Any]:
    row: list[Any] = ["okex-swap", BTC, t, t + 1500]
    for i in range(width):
        if i < levels:
            row += [f"{D(ask) + D('0.1') * i}", 2 + i, f"{D(bid) - D('0.1') * i}", 3 + i]
        else:
            row += ["", "", "", ""]
    return row


def test_trades_snapshots_and_ticker_merge_in_time_order(tmp_path: Path) -> None:
    write(
        tmp_path / "okex-swap_trades_2025-12-01_BTC-USDT-SWAP.csv.gz",
        TRADES,
        [
            ["okex-swap", BTC, US + 150_000, US + 151_000, "t1", "buy", "100000.1", "3"],
            ["okex-swap", BTC, US + 350_000, US + 352_000, "t2", "sell", "100000.0", "1.5"],
        ],
    )
    write(
        tmp_path / "okex-swap_book_snapshot_5_2025-12-01_BTC-USDT-SWAP.csv",
        snapshot_columns(5),
        [
            snap5_row(US + 100_000, "100000.0", "100000.1"),
            snap5_row(US + 300_000, "100000.0", "100000.1", levels=3),
        ],
    )
    write(
        tmp_path / "okex-swap_derivative_ticker_2025-12-01_BTC-USDT-SWAP.csv",
        DERIVATIVE,
        [
            [
                "okex-swap",
                BTC,
                US + 50_000,
                US + 51_000,
                US + 28_800_000_000,
                "0.0001",
                "0.00012",
                "1000",
                "100000.1",
                "100001",
                "100000.5",
            ],
            [
                "okex-swap",
                BTC,
                US + 250_000,
                US + 251_000,
                US + 28_800_000_000,
                "0.0001",
                "0.00012",
                "1000",
                "100000.1",
                "100001",
                "100000.5",
            ],  # nothing changed: no print
            [
                "okex-swap",
                BTC,
                US + 300_000,
                US + 301_000,
                US + 28_800_000_000,
                "-0.0002",
                "",
                "1000",
                "",
                "",
                "100000.4",
            ],
        ],
    )
    evs, feed, src = events(tmp_path)
    assert src.format == "tardis" and not src.approx_book
    kinds = [
        (
            "mark"
            if e.mark is not None
            else "funding"
            if e.funding is not None
            else "book"
            if e.book
            else "trade",
            e.ts,
        )
        for e in evs
    ]
    base = US // 1000
    assert kinds == [
        ("mark", base + 50),
        ("funding", base + 50),
        ("book", base + 100),
        ("trade", base + 150),
        ("mark", base + 300),
        ("funding", base + 300),
        ("book", base + 300),
        ("trade", base + 350),
    ]
    book = evs[2].book
    assert book is not None and len(book.bids) == 5 and len(book.asks) == 5
    assert (book.bids[0].px, book.bids[0].sz, book.asks[0].px, book.asks[0].sz) == (
        D("100000.0"),
        3,
        D("100000.1"),
        2,
    )
    assert book.bids[4].px == D("99999.6") and book.asks[4].px == D("100000.5")
    short = evs[6].book
    assert short is not None and len(short.bids) == 3  # empty cells: the book had three levels
    t1 = evs[3].trade
    assert t1 is not None and (t1.tradeId, t1.side, t1.px, t1.sz) == ("t1", "buy", D("100000.1"), D("3"))
    assert evs[0].mark == D("100000.5") and evs[1].funding == D("0.0001") and evs[5].funding == D("-0.0002")
    assert feed.stats.funding_prints == 2 and feed.stats.mark_prints == 2


def test_book_snapshot_25_is_a_25_level_book(tmp_path: Path) -> None:
    write(
        tmp_path / "b25.csv",
        snapshot_columns(25),
        [snap5_row(US, "100000.0", "100000.2", levels=25, width=25)],
    )
    evs, _, _ = events(tmp_path / "b25.csv")
    (ev,) = evs
    assert ev.book is not None and len(ev.book.bids) == 25 and ev.book.asks[24].px == D("100002.6")


def test_incremental_book_l2_is_rebuilt(tmp_path: Path) -> None:
    def row(t: int, snap: bool, side: str, px: str, amt: str) -> list[Any]:
        return ["okex-swap", BTC, US + t, US + t + 900, "true" if snap else "false", side, px, amt]

    write(
        tmp_path / "l2.csv",
        INCREMENTAL,
        [
            row(0, True, "bid", "100000.0", "5"),
            row(0, True, "bid", "99999.9", "4"),
            row(0, True, "ask", "100000.1", "2"),
            row(0, True, "ask", "100000.2", "6"),
            row(100_000, False, "bid", "100000.0", "0"),  # deleted
            row(100_000, False, "ask", "100000.1", "2.5"),
            row(200_000, False, "bid", "99999.8", "1"),
            row(300_000, True, "bid", "99990.0", "9"),
            row(300_000, True, "ask", "99990.1", "8"),  # a new book
        ],
    )
    evs, feed, _ = events(tmp_path / "l2.csv")
    tops = [
        ([(str(lv.px), str(lv.sz)) for lv in e.book.bids], [(str(lv.px), str(lv.sz)) for lv in e.book.asks])
        for e in evs
        if e.book is not None
    ]
    assert tops == [
        ([("100000.0", "5"), ("99999.9", "4")], [("100000.1", "2"), ("100000.2", "6")]),
        ([("99999.9", "4")], [("100000.1", "2.5"), ("100000.2", "6")]),
        ([("99999.9", "4"), ("99999.8", "1")], [("100000.1", "2.5"), ("100000.2", "6")]),
        ([("99990.0", "9")], [("99990.1", "8")]),
    ]
    assert feed.stats.books_rebuilt == 4 and feed.stats.checksums_checked == 0


def test_amounts_in_coin_become_contracts(tmp_path: Path) -> None:
    write(tmp_path / "t.csv", TRADES, [["okex-swap", BTC, US, US, "1", "buy", "100000.1", "0.05"]])
    (ev,) = [e for e in events(tmp_path / "t.csv", amount="coin")[0] if e.trade]
    assert ev.trade is not None and ev.trade.sz == D("5")  # 0.05 BTC / ctVal 0.01
    (ev,) = [e for e in events(tmp_path / "t.csv")[0] if e.trade]
    assert ev.trade is not None and ev.trade.sz == D("0.05")  # as contracts (the default)


@pytest.mark.parametrize(
    ("rows", "line", "expected"),
    [
        (
            [["binance-futures", "BTCUSDT", US, US, "1", "buy", "1", "1"]],
            2,
            "expected exchange okex-swap (OKX perpetual swaps), got 'binance-futures'",
        ),
        ([["okex-swap", BTC, US, US, "1", "buy", "1"]], 2, "expected 8 columns (trades), got 7"),
        (
            [
                ["okex-swap", BTC, US, US, "1", "buy", "1", "1"],
                ["okex-swap", BTC, US, US, "2", "hold", "1", "1"],
            ],
            3,
            "expected side buy or sell, got 'hold'",
        ),
        (
            [["okex-swap", BTC, "2025-12-01", US, "1", "buy", "1", "1"]],
            2,
            "expected timestamp in microseconds since the epoch, got '2025-12-01'",
        ),
        ([["okex-swap", BTC, US, US, "1", "buy", "abc", "1"]], 2, "expected a number in price, got 'abc'"),
        (
            [["okex-swap", "BTC-USDT", US, US, "1", "buy", "1", "1"]],
            2,
            "expected an OKX swap symbol like BTC-USDT-SWAP",
        ),
    ],
)
def test_bad_rows_are_named_by_file_and_line(
    tmp_path: Path, rows: list[list[Any]], line: int, expected: str
) -> None:
    path = write(tmp_path / "bad.csv", TRADES, rows)
    with pytest.raises(TardisError) as exc:
        events(path)
    assert f"{path}:{line}: {expected}" in str(exc.value)


def test_an_unknown_csv_header_is_refused_naming_the_layouts(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "okx_trades.csv"
    path.write_text("instrument_name,trade_id,side,price,size,created_time\nBTC-USDT-SWAP,1,buy,1,1,1\n")
    with pytest.raises(SourceError) as exc:
        events(path)
    assert (
        f"{path}:1: expected a Tardis CSV header: trades "
        "(exchange,symbol,timestamp,local_timestamp,id,side,price,"
        "amount)" in str(exc.value)
    )
    assert backtest_main(["--data", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"athena backtest: {path}:1: expected a Tardis CSV header")
        and "Expecting value" not in err
    )


def test_backtest_on_tardis_books_and_trades(tmp_path: Path, capsys: Any) -> None:
    rows_b, rows_t = [], []
    for i in range(200):
        t = US + i * 100_000
        bid = D("100000.0") + D("0.1") * (i // 20)
        rows_b.append(snap5_row(t, str(bid), str(bid + D("0.1"))))
        rows_t.append(
            [
                "okex-swap",
                BTC,
                t + 50_000,
                t + 51_000,
                str(i),
                "buy" if i % 3 else "sell",
                str(bid + D("0.1") if i % 3 else bid),
                "2",
            ]
        )
    write(tmp_path / "okex-swap_book_snapshot_5_2025-12-01_BTC-USDT-SWAP.csv.gz", snapshot_columns(5), rows_b)
    write(tmp_path / "okex-swap_trades_2025-12-01_BTC-USDT-SWAP.csv.gz", TRADES, rows_t)
    assert backtest_main(["--data", str(tmp_path), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    doc = json.loads((report_folder(tmp_path / "r") / "summary.json").read_text())
    src = doc["meta"]["source"]
    assert src["format"] == "tardis" and src["book"] == "as sent (books5 / bbo-tbt snapshots)"
    assert src["period"] == {
        "start": "2025-12-01T00:00:00.000Z",
        "end": "2025-12-01T00:00:19.950Z",
        "start_ts": US // 1000,
        "end_ts": US // 1000 + 19_950,
        "seconds": 19,
    }
    assert doc["figures"]["events"] == 400 and src["gap_count"] == 0
    assert "tardis amounts read as contracts (OKX's own sz for swaps)" in src["notes"]
    assert "data: tardis: Tardis.dev CSV (book_snapshot5, trades), okex-swap, amounts in contracts" in out
