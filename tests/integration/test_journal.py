"""Journal on a real SQLite file: upserts, duplicate fills, exact Decimals, WAL, several processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from athena.domain import D, Fill, Order, OrderRequest, OrderState, OrdType, Position, PosSide, Side, TdMode
from athena.procs import popen
from athena.state.journal import Journal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(f"sqlite:///{tmp_path}/nested/dir/athena.db")
    yield j
    j.close()


def _order(cl: str = "s1o1") -> Order:
    req = OrderRequest(
        clOrdId=cl,
        instId="BTC-USDT-SWAP",
        side=Side.SELL,
        ordType=OrdType.LIMIT,
        sz=D("2.00"),
        px=D("65000.1"),
        tdMode=TdMode.CROSS,
        posSide=PosSide.SHORT,
        strategy="scalpbtc",
        stop_loss_px=D("66000.0"),
        tag="x",
    )
    return Order(req=req, cTime=1, uTime=2)


def _fill(acc: str = "1.00", trade: str = "t1") -> Fill:
    return Fill(
        clOrdId="s1o1",
        instId="BTC-USDT-SWAP",
        side=Side.SELL,
        posSide=PosSide.SHORT,
        fillSz=D("1.00"),
        fillPx=D("65000.123456789012345678901"),
        accFillSz=D(acc),
        fee=D("-0.0325000"),
        tradeId=trade,
        ordId="9",
        strategy="scalpbtc",
        execType="M",
        ts=1700000000123,
    )


def test_wal_mode_and_parent_dir(journal: Journal, tmp_path: Path) -> None:
    assert (tmp_path / "nested" / "dir" / "athena.db").exists()
    assert journal.journal_mode() == "wal"


def test_upsert_order_round_trip_and_never_backwards(journal: Journal) -> None:
    order = _order()
    journal.upsert_order(order)
    assert journal.order("s1o1") == order
    filled = replace(
        order,
        state=OrderState.PARTIALLY_FILLED,
        ordId="9",
        accFillSz=D("1.00"),
        avgPx=D("65000.1"),
        fee=D("-0.03"),
    )
    journal.upsert_order(filled)
    assert journal.order("s1o1") == filled
    journal.upsert_order(replace(order, state=OrderState.LIVE, ordId="9"))  # a late, older snapshot
    assert journal.order("s1o1") == filled
    done = replace(filled, state=OrderState.FILLED, accFillSz=D("2.00"), avgPx=D("65000.05"))
    journal.upsert_order(done)
    journal.upsert_order(_order("s1o2"))
    assert journal.orders(state=OrderState.FILLED) == [done]
    assert [o.clOrdId for o in journal.orders(instId="BTC-USDT-SWAP")] == ["s1o1", "s1o2"]
    assert journal.order("missing") is None


def test_duplicate_fill_ignored_and_decimals_exact(journal: Journal, tmp_path: Path) -> None:
    assert journal.record_fill(_fill()) is True
    assert journal.record_fill(_fill(trade="other-source")) is False  # same clOrdId:accFillSz
    assert journal.record_fill(_fill(acc="2.00", trade="t2")) is True
    fills = journal.fills(clOrdId="s1o1")
    assert fills == [_fill(), _fill(acc="2.00", trade="t2")]
    assert str(fills[0].fillPx) == "65000.123456789012345678901" and str(fills[0].fee) == "-0.0325000"
    # money is TEXT on disk, never REAL
    with sqlite3.connect(tmp_path / "nested" / "dir" / "athena.db") as raw:
        types = {row[0] for row in raw.execute("SELECT typeof(fillPx) FROM fills")}
    assert types == {"text"}


def test_snapshots_and_events(journal: Journal) -> None:
    pos = Position(
        instId="BTC-USDT-SWAP",
        posSide=PosSide.NET,
        pos=D("-3"),
        avgPx=D("64000.5"),
        markPx=None,
        upl=D("1.25"),
        uTime=5,
    )
    journal.record_position(pos, ts=10)
    journal.record_position(replace(pos, instId="ETH-USDT-SWAP"), ts=11)
    assert [(p.ts, p.position) for p in journal.positions(instId="BTC-USDT-SWAP")] == [(10, pos)]
    journal.record_equity(
        D("10000.01"), upl=D("-5.5"), drawdown=D("0.001"), data={"by": {"s1": D("1.10")}}, ts=20
    )
    (eq,) = journal.equity()
    assert (eq.ts, eq.equity, eq.available, eq.upl, eq.drawdown) == (
        20,
        D("10000.01"),
        None,
        D("-5.5"),
        D("0.001"),
    )
    assert eq.data == {"by": {"s1": "1.10"}}
    journal.record_event("error", "position corrected", {"instId": "BTC-USDT-SWAP", "diff": D("0.5")}, ts=30)
    journal.record_event("halt", "drawdown", ts=31)
    journal.record_event(
        "diag", "mixed", {"latency_ms": 1.5, "fill": _fill(), "side": Side.BUY, 3: {D("1"), object}}, ts=32
    )
    (diag,) = journal.events(kind="diag")
    assert diag.data["latency_ms"] == 1.5 and diag.data["side"] == "buy" and diag.data["3"]
    assert diag.data["fill"]["fillPx"] == "65000.123456789012345678901"
    (ev,) = journal.events(kind="error")
    assert (ev.ts, ev.kind, ev.message, ev.data) == (
        30,
        "error",
        "position corrected",
        {"instId": "BTC-USDT-SWAP", "diff": "0.5"},
    )
    assert [e.kind for e in journal.events(since_ts=31)] == ["halt", "diag"]


WRITER = """
import sys
from athena.domain import D, Fill, PosSide, Side
from athena.state.journal import Journal
j = Journal(sys.argv[1])
for i in range(1, 41):
    acc = D(i)
    j.record_fill(Fill(clOrdId="c" + sys.argv[2], instId="X", side=Side.BUY, posSide=PosSide.NET,
                       fillSz=D(1), fillPx=D("1.5"), accFillSz=acc))
    j.record_fill(Fill(clOrdId="shared", instId="X", side=Side.BUY, posSide=PosSide.NET,
                       fillSz=D(1), fillPx=D("1.5"), accFillSz=acc))
    j.record_event("w", sys.argv[2])
"""


def test_several_processes_write_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/multi.db"
    procs = [
        popen([sys.executable, "-c", WRITER, url, str(n)], cwd=ROOT, stderr=subprocess.PIPE) for n in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()[-2000:]
    j = Journal(url)
    try:
        assert len(j.fills(clOrdId="shared")) == 40  # each shared fill once, whoever won
        for n in range(3):
            assert len(j.fills(clOrdId=f"c{n}")) == 40
        assert len(j.events(kind="w")) == 120
    finally:
        j.close()


OPENER = """
import sys, time
from athena.state.journal import Journal
start = float(sys.argv[2])
while time.time() < start:
    pass
Journal(sys.argv[1]).close()
"""


def test_many_processes_create_the_schema_at_once(tmp_path: Path) -> None:
    import time

    url = f"sqlite:///{tmp_path}/fresh.db"
    start = str(time.time() + 3.0)  # all spin to one instant after their imports
    procs = [
        popen([sys.executable, "-c", OPENER, url, start], cwd=ROOT, stderr=subprocess.PIPE) for _ in range(8)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()[-2000:]
    j = Journal(url)
    try:
        assert j.fills() == []
    finally:
        j.close()
