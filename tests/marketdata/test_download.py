"""`athena download` against the sim over real HTTP: the store holds exactly the sim's history, the
sim's own rate limiter never refuses it, a finished day is not fetched again, a stopped download
resumes from its pages, gaps are found and reported, errors are one plain sentence."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from athena.marketdata import download
from athena.marketdata.download import Downloader, OkxHistoryClient, Pacer, make_kind
from athena.marketdata.store import Store, iso
from athena.sim.server import SimServer
from athena.testing.redis_server import free_port
from tests.marketdata.helpers import BACKFILL_S, BTC, T0, Rejections

TRADES = "GET/api/v5/market/history-trades"
HOUR = 3_600_000


def sim_trades(srv: SimServer, instId: str = BTC) -> list[tuple[str, str, str, str, str]]:
    h = srv.exchange.history
    assert h is not None
    return [(str(tid), str(ts), px, sz, side) for tid, ts, px, sz, side in h.insts[instId].trades]


def stored_trades(root: Path, instId: str = BTC) -> list[tuple[str, str, str, str, str]]:
    return [
        (r["tradeId"], r["ts"], r["px"], r["sz"], r["side"])
        for _, r, _, _ in Store(root).rows(instId, "trades")
    ]


def run(srv: SimServer, out: Path, *args: str) -> int:
    return download.main(["--url", srv.url, "--instIds", BTC, "--out", str(out), "--quiet", *args])


def test_the_store_holds_the_sims_history_and_the_sim_never_refused(
    history_sim: SimServer, rejections: Rejections, tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "store"
    assert run(history_sim, out, "--start", "2026-12-01T05:00") == 0
    report = capsys.readouterr().out
    assert stored_trades(out) == sim_trades(history_sim)  # every trade, once, in time order
    assert rejections.total == 0 and "(0 rate-limited, 0 retried)" in report
    assert rejections.allowed[TRADES] > 20  # more requests than one window allows: the pacing mattered
    store = Store(out)
    inv = store.inventory()[BTC]
    assert sorted(inv) == ["candles-1m", "funding", "mark-candles-1m", "trades"]
    for kind in ("candles-1m", "mark-candles-1m"):
        (meta,) = inv[kind]
        assert (meta.day, meta.from_ts, meta.to_ts, meta.complete) == ("2026-12-01", T0 - HOUR, T0, False)
        assert meta.rows == BACKFILL_S // 60
        assert meta.gaps == [[T0 - HOUR, T0 - BACKFILL_S * 1000]]  # the sim's history starts at 05:30
        rows = [r for _, r, _, _ in store.rows(BTC, kind)]
        assert [int(r[0]) for r in rows] == list(range(T0 - BACKFILL_S * 1000, T0, 60_000))
    assert (
        inv["funding"][0].rows == 0 and inv["funding"][0].gaps == []
    )  # no settlement between 05:00 and 06:00
    assert "BTC-USDT-SWAP trades: 1 days (1 partial)" in report
    assert f"gap {iso(T0 - HOUR)} .. {iso(T0 - BACKFILL_S * 1000)} (1800 s)" in report


def test_finished_days_are_not_fetched_again(
    history_sim: SimServer, rejections: Rejections, tmp_path: Path, capsys: Any
) -> None:
    out = tmp_path / "store"
    assert run(history_sim, out, "--kinds", "funding", "--start", "2026-11-28") == 0
    metas = Store(out).inventory()[BTC]["funding"]
    assert [(m.day, m.complete, m.rows) for m in metas] == [
        ("2026-11-28", True, 3),
        ("2026-11-29", True, 3),
        ("2026-11-30", True, 3),
        ("2026-12-01", False, 1),
    ]
    assert all(not m.gaps for m in metas)
    rows = [r for _, r, _, _ in Store(out).rows(BTC, "funding")]
    assert [int(r["fundingTime"]) for r in rows] == [T0 - 6 * HOUR - 8 * HOUR * i for i in range(9, -1, -1)]
    first = rejections.allowed["GET/api/v5/public/funding-rate-history"]
    capsys.readouterr()
    assert run(history_sim, out, "--kinds", "funding", "--start", "2026-11-28") == 0
    assert rejections.allowed["GET/api/v5/public/funding-rate-history"] == first  # the clock stood still
    assert "0 days fetched, 4 already there" in capsys.readouterr().out
    history_sim.exchange.clock = lambda: T0 + 3 * HOUR  # 09:00: today has a new settlement (08:00)
    assert run(history_sim, out, "--kinds", "funding", "--start", "2026-11-28") == 0
    assert rejections.allowed["GET/api/v5/public/funding-rate-history"] - first == 1  # only today's, again
    assert "1 days fetched, 3 already there" in capsys.readouterr().out
    today = Store(out).inventory()[BTC]["funding"][-1]
    assert (today.rows, today.to_ts, today.complete) == (2, T0 + 3 * HOUR, False)


def test_a_stopped_download_resumes_from_its_pages(
    history_sim: SimServer,
    rejections: Rejections,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    out = tmp_path / "store"
    monkeypatch.setattr(download, "PAGES_PER_CHUNK", 3)
    pages = {"n": 0}

    def stop_after_seven(self: Any, instId: str, kind: str, day: str, rows: int) -> None:
        pages["n"] += 1
        if pages["n"] == 7:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(download._Progress, "page", stop_after_seven)
        assert run(history_sim, out, "--kinds", "trades", "--start", "2026-12-01T05:00") == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    part = Store(out).part_dir(BTC, "trades", "2026-12-01")
    assert sorted(p.name for p in part.iterdir()) == ["000000.jsonl.gz", "000001.jsonl.gz", "cursor.json"]
    before = rejections.allowed[TRADES]
    assert run(history_sim, out, "--kinds", "trades", "--start", "2026-12-01T05:00") == 0
    resumed = rejections.allowed[TRADES] - before
    assert stored_trades(out) == sim_trades(history_sim)  # nothing lost, nothing twice
    total = len(sim_trades(history_sim)) // 100 + 2  # a full download: every page, plus the empty last one
    assert resumed == total - 6  # the six pages kept on disk were not fetched again
    assert not part.exists()
    (meta,) = Store(out).inventory()[BTC]["trades"]
    assert meta.requests == total


def test_gaps_in_the_history_are_found_and_reported(
    history_sim: SimServer, tmp_path: Path, capsys: Any
) -> None:
    h = history_sim.exchange.history
    assert h is not None
    lo, hi = T0 - 20 * 60_000, T0 - 13 * 60_000  # 05:40 .. 05:47: nothing traded

    def cut() -> None:
        inst = h.insts[BTC]
        inst.trades[:] = [t for t in inst.trades if not lo <= t[1] < hi]
        inst.candles[:] = [c for c in inst.candles if not lo <= c[0] < hi]

    history_sim.call(cut)
    before = max(t[1] for t in h.insts[BTC].trades if t[1] < lo)
    after = min(t[1] for t in h.insts[BTC].trades if t[1] >= hi)
    out = tmp_path / "store"
    assert (
        run(history_sim, out, "--kinds", "candles,trades", "--start", "2026-12-01T05:30", "--max-quiet", "60")
        == 0
    )
    report = capsys.readouterr().out
    inv = Store(out).inventory()[BTC]
    assert inv["candles-1m"][0].gaps == [[lo, hi]]
    assert inv["trades"][0].gaps == [[before, after]]
    assert f"candles-1m: 1 days (1 partial), {BACKFILL_S // 60 - 7} rows" in report
    assert f"gap {iso(lo)} .. {iso(hi)} (420 s)" in report
    assert f"gap {iso(before)} .. {iso(after)}" in report


def test_without_pacing_the_sim_refuses_and_the_downloader_retries(
    history_sim: SimServer, rejections: Rejections, tmp_path: Path
) -> None:
    client = OkxHistoryClient(history_sim.url)
    client.pacers = {}  # no pacing at all: a burst
    store = Store(tmp_path / "store")
    Downloader(store, client).download([BTC], [make_kind("trades", "1m")], T0 - BACKFILL_S * 1000, T0)
    client.close()
    assert rejections.by_endpoint.get(TRADES, 0) > 0  # the sim's limit is real ...
    assert client.stats.rate_limited == rejections.by_endpoint[TRADES] and client.stats.retries > 0
    assert stored_trades(tmp_path / "store") == sim_trades(history_sim)  # ... and the download still whole


def test_pacer_never_lets_more_than_the_limit_through_in_a_window() -> None:
    now = {"t": 0.0}
    sent: list[float] = []

    def sleep(s: float) -> None:
        now["t"] += s

    p = Pacer(20, 2.0, clock=lambda: now["t"], sleep=sleep)
    for i in range(200):
        p.wait()
        sent.append(now["t"])
        now["t"] += 0.01 + (i % 7) * 0.003  # the round trip
        p.done()
    for i in range(len(sent) - 20):
        assert sent[i + 20] - sent[i] >= 2.0  # any 21 requests span more than the window
    assert p.waited_s > 0


def test_errors_are_one_plain_sentence(history_sim: SimServer, tmp_path: Path, capsys: Any) -> None:
    out = str(tmp_path / "s")
    port = free_port()
    assert download.main(["--url", f"http://127.0.0.1:{port}", "--out", out, "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err == f"athena download: cannot reach http://127.0.0.1:{port}; gave up after 3 tries (run again: it "
        "resumes)"
    )
    assert "Traceback" not in err and "\n" not in err
    assert download.main(["--url", history_sim.url, "--bar", "7x", "--out", out]) == 2
    assert "unknown bar '7x'" in capsys.readouterr().err
    assert (
        download.main(["--url", history_sim.url, "--instIds", "NOPE-USDT-SWAP", "--out", out, "--quiet"]) == 1
    )
    err = capsys.readouterr().err
    assert "code 51001" in err and "NOPE-USDT-SWAP" in err and "\n" not in err.strip()
    assert download.main(["--url", history_sim.url, "--start", "last week", "--out", out]) == 2
    assert "--start 'last week': expected a UTC date like 2026-12-01" in capsys.readouterr().err


def test_store_rows_are_okx_rows_and_decimal_exact(history_sim: SimServer, tmp_path: Path) -> None:
    out = tmp_path / "store"
    assert run(history_sim, out, "--kinds", "candles", "--bar", "5m", "--start", "2026-12-01T05:30") == 0
    rows = [r for _, r, _, _ in Store(out).rows(BTC, "candles-5m")]
    assert len(rows) == 6 and all(len(r) == 9 and r[8] == "1" for r in rows)
    assert all(isinstance(x, str) for r in rows for x in r)  # OKX's strings, never floats
    assert sum(Decimal(r[5]) for r in rows) == sum(Decimal(t[3]) for t in sim_trades(history_sim))


def test_progress_bar_on_a_terminal(
    history_sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    bars: list[Any] = []
    real = download._Progress.begin

    def begin(self: Any, *a: Any) -> None:
        real(self, *a)
        bars.append(self.bar)

    monkeypatch.setattr(download._Progress, "begin", begin)
    out = tmp_path / "store"
    assert (
        download.main(
            [
                "--url",
                history_sim.url,
                "--instIds",
                BTC,
                "--kinds",
                "candles,funding",
                "--start",
                "2026-11-30",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    (bar,) = bars
    tasks = {t.description.split()[1]: t for t in bar.tasks}
    assert set(tasks) == {"candles-1m", "funding"}
    assert all(t.total == 2 and t.completed == 2 for t in tasks.values())  # two UTC days each
    assert tasks["candles-1m"].fields["rows"] == BACKFILL_S // 60 and tasks["funding"].fields["rows"] == 4


def test_a_second_range_of_the_same_day_keeps_the_first(history_sim: SimServer, tmp_path: Path) -> None:
    out = tmp_path / "store"
    assert run(history_sim, out, "--kinds", "trades", "--start", "2026-12-01T05:50") == 0
    assert (
        run(history_sim, out, "--kinds", "trades", "--start", "2026-12-01T05:30", "--end", "2026-12-01T05:40")
        == 0
    )
    (meta,) = Store(out).inventory()[BTC]["trades"]
    assert (meta.from_ts, meta.to_ts) == (T0 - 30 * 60_000, T0)  # the union, not the last range
    assert stored_trades(out) == sim_trades(history_sim)
