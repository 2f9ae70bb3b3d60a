"""`athena record` against the sim's public WebSocket (and a hand-driven OKX-like server for the
checksum failure): every line is OKX's push plus the receive time, files rotate with a summary each,
a seqId gap or a checksum mismatch resyncs and is noted, a dropped connection reconnects into the
same file, the command runs as its own process and stops cleanly on SIGTERM."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from athena.backtest.cli import main as backtest_main
from athena.marketdata.book import ChecksumBook
from athena.marketdata.record import MAX_NOTES, STATUS_FILE, FileSummary
from athena.sim.book import checksum
from athena.sim.server import SimServer
from tests.marketdata.helpers import BTC, ETH, Running
from tests.okx.fake_ws import FakeOkxWs
from tests.reports import report_folder

ROOT = Path(__file__).resolve().parents[2]


def lines(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rb") as fh:
        return [json.loads(x) for x in fh]


def summary(path: Path) -> dict[str, Any]:
    return json.loads(path.with_name(path.name.removesuffix(".jsonl.gz") + ".summary.json").read_text())  # type: ignore[no-any-return]


def streams_seen(r: Running) -> set[str]:
    with r.writer.lock:
        s = r.writer.summary
        return set(s.streams) if s is not None else set()


def test_every_channel_every_line_with_its_receive_time_in_rotating_files(
    live_sim: SimServer, tmp_path: Path, running: list[Running]
) -> None:
    channels = ["books", "books5", "bbo-tbt", "trades", "funding-rate", "mark-price"]
    r = Running(live_sim.ws_url("public"), tmp_path, [BTC, ETH], channels, rotate_s=1.0)
    running.append(r)
    want = {f"{ch} {i}" for ch in channels for i in (BTC, ETH)}
    seen: set[str] = set()

    def enough() -> bool:
        seen.update(streams_seen(r))
        return seen >= want and len(r.writer.files) >= 3

    r.until(enough)
    r.stop()
    files = sorted(tmp_path.glob("*.jsonl.gz"))
    assert files == sorted(r.writer.files) and len(files) >= 3
    total: dict[str, int] = {}
    last_recv = 0
    for f in files:
        doc = summary(f)
        rows = lines(f)
        assert doc["complete"] is True and doc["lines"] == len(rows)
        for k, v in doc["streams"].items():
            total[k] = total.get(k, 0) + v["lines"]
        for row in rows:
            recv = int(row["recvTs"])
            assert recv >= last_recv  # receive order, across rotations too
            last_recv = recv
            if "data" in row:
                assert set(row) >= {"recvTs", "arg", "data"}
                ts = int(row["data"][-1]["ts"])
                assert ts <= recv + 5  # OKX's ts beside ours (same machine clock here)
    assert set(total) == want
    assert sum(summary(f)["checksums_checked"] for f in files) > 0
    assert all(summary(f)["checksum_failures"] == 0 and not summary(f)["resyncs"] for f in files)
    for f in files[1:]:  # every later file starts with the recorder's books: it replays on its own
        head = lines(f)[:2]
        assert [(x["athena"], x["arg"]["instId"], x["action"]) for x in head] == [
            ("book at file start", BTC, "snapshot"),
            ("book at file start", ETH, "snapshot"),
        ]
    last = files[-1]
    out = tmp_path / "report"
    assert backtest_main(["--data", str(last), "--out", str(out), "--quiet"]) == 0
    src = json.loads((report_folder(out) / "summary.json").read_text())["meta"]["source"]
    assert src["gap_count"] == 0 and src["book"].startswith("rebuilt from books snapshots + updates")
    assert ", 0 failed, 0 seqId gaps" in src["book"] and not src["book"].startswith(
        "rebuilt from books snapshots + updates: 0 checksums"
    )


def test_a_seqid_gap_resyncs_the_book_and_is_noted(
    live_sim: SimServer, tmp_path: Path, running: list[Running]
) -> None:
    r = Running(live_sim.ws_url("public"), tmp_path, [BTC], ["books", "trades"])
    running.append(r)
    r.until(lambda: r.rec.books[BTC].valid and r.rec.books[BTC].checked > 3)
    live_sim.call(lambda: setattr(live_sim.faults, "books_gap", 1))
    r.until(lambda: r.rec.resyncs == 1 and r.rec.books[BTC].valid and not r.rec.resyncing)
    r.stop()
    (f,) = r.writer.files
    doc = summary(f)
    assert doc["seq_gaps"] == 1 and doc["checksum_failures"] == 0
    (note,) = doc["resyncs"]
    assert note["instId"] == BTC and note["reason"] == "gap" and note["prevSeqId"] != note["seqId"]
    (gap,) = [g for g in doc["gaps"] if g["kind"] == "resync"]
    assert gap["from_recv"] <= gap["to_recv"]
    rows = lines(f)
    i = next(n for n, x in enumerate(rows) if x.get("event") == "athena-resync")
    after = [x for x in rows[i:] if x.get("arg", {}).get("channel") == "books" and "data" in x]
    assert after[0].get("action") == "snapshot"  # the resubscription brought a fresh book
    events = [x.get("event") for x in rows[i:]]
    assert "unsubscribe" in events and "subscribe" in events


def test_a_checksum_mismatch_resyncs_the_book(tmp_path: Path, running: list[Running]) -> None:
    server = FakeOkxWs().start()
    try:
        r = Running(server.url(), tmp_path, [BTC], ["books"])
        running.append(r)
        r.until(lambda: len(server.open_conns) == 1 and len(server.open_conns[0].sub_args()) == 1)
        bids, asks = (
            [["3366.1", "7", "0", "1"], ["3366", "6", "0", "1"]],
            [["3366.8", "9", "0", "1"], ["3368", "8", "0", "1"]],
        )
        cs = checksum(bids, asks)
        assert cs == -1881014294  # OKX's own example (OKX_FACTS §8)
        arg = {"channel": "books", "instId": BTC}
        server.push(
            {
                "arg": arg,
                "action": "snapshot",
                "data": [
                    {"bids": bids, "asks": asks, "ts": "1000", "seqId": 5, "prevSeqId": -1, "checksum": cs}
                ],
            }
        )
        r.until(lambda: r.rec.books[BTC].checked == 1)
        server.push(
            {
                "arg": arg,
                "action": "update",  # the level changes but the checksum is the old one
                "data": [
                    {
                        "bids": [["3366", "0", "0", "0"]],
                        "asks": [["3372", "8", "0", "1"]],
                        "ts": "1100",
                        "seqId": 6,
                        "prevSeqId": 5,
                        "checksum": cs,
                    }
                ],
            }
        )
        conn = server.open_conns[0]
        r.until(lambda: len(conn.sub_args("unsubscribe")) == 1 and len(conn.sub_args()) == 2)
        good = checksum([["3366.1", "7"]], [["3366.8", "9"], ["3368", "8"], ["3372", "8"]])
        assert good == 831078360  # OKX's second example
        server.push(
            {
                "arg": arg,
                "action": "snapshot",
                "data": [
                    {
                        "bids": [bids[0]],
                        "asks": [*asks, ["3372", "8", "0", "1"]],
                        "ts": "1200",
                        "seqId": 7,
                        "prevSeqId": -1,
                        "checksum": good,
                    }
                ],
            }
        )
        r.until(lambda: r.rec.books[BTC].valid and r.rec.books[BTC].checked == 2)
        r.stop()
    finally:
        server.stop()
    doc = summary(r.writer.files[0])
    assert doc["checksum_failures"] == 1 and doc["checksums_checked"] == 2
    assert [n["reason"] for n in doc["resyncs"]] == ["checksum"]


def test_a_dropped_connection_reconnects_into_the_same_file(
    live_sim: SimServer, tmp_path: Path, running: list[Running]
) -> None:
    r = Running(live_sim.ws_url("public"), tmp_path, [BTC], ["books", "trades"])
    running.append(r)
    r.until(lambda: r.rec.lines > 20)
    requests.post(f"{live_sim.url}/sim/ws/drop", json={}, timeout=5)
    r.until(lambda: r.rec.stats.reconnects >= 1)
    n = r.rec.lines
    r.until(lambda: r.rec.lines > n + 20 and r.rec.books[BTC].valid)
    r.stop()
    assert len(r.writer.files) == 1
    f = r.writer.files[0]
    doc = summary(f)
    assert doc["reconnects"] == 1 and doc["lines"] == len(lines(f))
    kinds = [g["kind"] for g in doc["gaps"]]
    assert "reconnect" in kinds
    rows = lines(f)
    i = next(n for n, x in enumerate(rows) if x.get("event") == "athena-reconnect")
    assert any("data" in x for x in rows[:i]) and any("data" in x for x in rows[i:])


def test_file_summary_is_bounded() -> None:
    s = FileSummary("f", 0)
    for i in range(MAX_NOTES + 100):
        s.note("gap", {"i": i})
    assert len(s.gaps) == MAX_NOTES and s.notes_dropped == 100


def run_cli_process(out: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    athena = str(Path(sys.executable).parent / "athena")
    return subprocess.Popen(
        [
            athena,
            "record",
            "--url",
            url,
            "--instIds",
            BTC,
            "--channels",
            "books,trades,mark-price",
            "--out",
            str(out),
            "--flush-s",
            "0.5",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def wait_status(
    out: Path, pred: Callable[[dict[str, Any]], bool], proc: subprocess.Popen[str]
) -> dict[str, Any]:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            doc = json.loads((out / STATUS_FILE).read_text())
            if pred(doc):
                return doc  # type: ignore[no-any-return]
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError("recorder status never got there")


def test_the_command_runs_as_its_own_process_and_stops_cleanly(live_sim: SimServer, tmp_path: Path) -> None:
    proc = run_cli_process(tmp_path, live_sim.ws_url("public"))
    try:
        doc = wait_status(tmp_path, lambda d: d["lines"] > 50 and d["connected"], proc)
        assert doc["running"] is True and doc["pid"] == proc.pid
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    assert "athena record: books, trades, mark-price for BTC-USDT-SWAP" in out and "closed okx-public-" in out
    (f,) = tmp_path.glob("*.jsonl.gz")
    assert summary(f)["complete"] is True and summary(f)["lines"] == len(lines(f))
    assert json.loads((tmp_path / STATUS_FILE).read_text())["running"] is False


def test_a_killed_recorder_leaves_a_readable_file(live_sim: SimServer, tmp_path: Path, capsys: Any) -> None:
    from athena.backtest.cli import main as backtest_main

    proc = run_cli_process(tmp_path, live_sim.ws_url("public"))
    try:
        f0 = wait_status(tmp_path, lambda d: d["lines"] > 100, proc)["file"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    f = tmp_path / f0
    doc = summary(f)
    assert doc["complete"] is False and doc["lines"] > 0
    with pytest.raises((EOFError, zlib.error)), gzip.open(f, "rb") as fh:
        fh.read()  # cut short: no gzip trailer
    assert backtest_main(["--data", str(tmp_path), "--out", str(tmp_path / "report"), "--quiet"]) == 0
    src = json.loads((report_folder(tmp_path / "report") / "summary.json").read_text())["meta"]["source"]
    assert src["format"] == "recorded"
    assert any("not closed by the recorder" in n for n in src["notes"])
    assert any("ends early" in n for n in src["notes"])


def test_checksum_book_follows_okx_examples() -> None:
    book = ChecksumBook(BTC)
    bids, asks = (
        [["3366.1", "7", "0", "1"], ["3366", "6", "0", "1"]],
        [["3366.8", "9", "0", "1"], ["3368", "8", "0", "1"]],
    )
    assert (
        book.apply(
            {"bids": bids, "asks": asks, "ts": "1", "seqId": 1, "prevSeqId": -1, "checksum": -1881014294},
            True,
        )
        == "ok"
    )
    assert (
        book.apply(
            {
                "bids": [["3366", "0", "0", "0"]],
                "asks": [["3372", "8", "0", "1"]],
                "ts": "2",
                "seqId": 2,
                "prevSeqId": 1,
                "checksum": 831078360,
            },
            False,
        )
        == "ok"
    )
    assert book.checked == 2 and str(book.top().asks[2].px) == "3372"
    assert (
        book.apply(
            {"bids": [], "asks": [], "ts": "3", "seqId": 2, "prevSeqId": 2, "checksum": 831078360}, False
        )
        == "ok"
    )  # keep-alive (its checksum checked too)
    assert book.checked == 3
    assert book.apply({"bids": [], "asks": [], "ts": "4", "seqId": 9, "prevSeqId": 7}, False) == "gap"
    assert not book.valid
    assert (
        book.apply({"bids": [], "asks": [], "ts": "5", "seqId": 10, "prevSeqId": 9}, False) == "gap"
    )  # waits
    assert (
        book.apply({"bids": [["1", "x"]], "asks": [], "ts": "6", "seqId": 1, "prevSeqId": -1}, True) == "bad"
    )
    book.apply({"bids": bids, "asks": asks, "ts": "7", "seqId": 3, "prevSeqId": -1, "checksum": 0}, True)
    assert book.valid and book.checked == 3  # checksum 0: OKX stopped sending it; not checked
