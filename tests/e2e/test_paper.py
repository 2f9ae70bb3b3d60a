"""Paper trading end to end (ATHENA_MODE=paper): a SimServer in this process plays OKX's public feed (the
upstream); the stack's `athena sim` is a paper venue fed by it over a real WebSocket; the stream worker,
orders worker and beat trade ScalperV1 against it, unchanged. Every fill's price was in the upstream's
book at that moment: each upstream book push is recorded as it is sent (with the time), and a fill at
time T must fit the book in force at T (or the one just before it: the push's travel time to the venue):
a taker fill at a level of the side it took, a maker fill at a level of either side or inside the spread."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from athena.process.launch import Stack, StackConfig
from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.e2e.stacks import BTC, describe, paper_upstream
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

# Eager thresholds and a 2 s time stop, so entries (maker), market closes (taker) come within seconds.
SCALPER = {
    "name": "paperbtc",
    "cls": "ScalperV1",
    "instIds": [BTC],
    "allocation": "0.5",
    "params": {
        "imbalance_window": 1,
        "imbalance_threshold": "0.05",
        "flow_threshold": "0",
        "min_trades": 0,
        "max_spread_ticks": 50,
        "take_profit_bps": "30",
        "stop_loss_bps": "40",
        "time_stop_s": "2",
        "entry_timeout_s": "3",
        "cooldown_s": "1",
    },
    "risk": {
        "leverage": "3",
        "max_order_notional": "20000",
        "max_orders_per_minute": 60,
        "max_position": "50",
    },
}
BEAT = {
    "sync_positions": 2,
    "reconcile": 4,
    "protect_positions": 2,
    "cancel_ghost_orders": 10,
    "snapshot_equity": 5,
    "check_drawdown": 5,
    "heartbeat": 10,
}


@dataclass(frozen=True, slots=True)
class Seen:
    """The upstream's BTC book as one `books` push carried it, and when it was sent (epoch ms)."""

    at_ms: float
    bids: frozenset[Decimal]
    asks: frozenset[Decimal]
    best_bid: Decimal
    best_ask: Decimal

    def fits(self, fill: dict[str, Any]) -> bool:
        px = Decimal(fill["fillPx"])
        if fill["execType"] == "T":
            return px in (self.asks if fill["side"] == "buy" else self.bids)
        return px in self.bids or px in self.asks or self.best_bid <= px <= self.best_ask


@pytest.fixture()
def upstream() -> Iterator[tuple[SimServer, list[Seen]]]:
    # BTC moves a few ticks a step: the check below holds a maker fill to the displayed book (paper_upstream)
    srv = paper_upstream()
    seen: list[Seen] = []
    m = srv.exchange.markets[BTC]

    def record(channel: str, arg: dict[str, Any], data: list[dict[str, Any]]) -> None:
        if channel == "books" and arg.get("instId") == BTC and m.bids and m.asks:  # runs as the push is sent
            seen.append(
                Seen(
                    time.time() * 1000,
                    frozenset(p for p, _, _ in m.bids),
                    frozenset(p for p, _, _ in m.asks),
                    m.bids[0][0],
                    m.asks[0][0],
                )
            )

    srv.call(srv.exchange.add_listener, record)
    yield srv, seen
    srv.stop()


def _book_at(seen: list[Seen], t_ms: int) -> list[Seen]:
    """The book in force at t_ms (fill times are whole ms: anything sent within that ms counts) and its
    predecessor."""
    i = max((k for k, s in enumerate(seen) if s.at_ms < t_ms + 1), default=-1)
    return seen[max(0, i - 1) : i + 1]


def test_the_stack_paper_trades_on_the_upstream_book(
    tmp_path: Path, upstream: tuple[SimServer, list[Seen]]
) -> None:
    up, seen = upstream
    cfg = StackConfig(
        var_dir=tmp_path,
        mode="paper",
        symbols=[BTC],
        upstream_rest=up.url,
        upstream_ws=up.ws_url("public"),
        config={"strategies": [SCALPER], "schedule": BEAT},
    )
    with Stack(cfg) as stack:
        venue = SimClient(stack.sim_url)
        assert stack.env["ATHENA_MODE"] == "paper"

        def fills() -> list[dict[str, Any]]:
            return list(venue.get("/api/v5/trade/fills?instType=SWAP&limit=100")["data"])

        def traded_both_ways() -> bool:  # two round trips: maker entries, taker closes
            kinds = [f["execType"] for f in fills()]
            return kinds.count("M") >= 2 and kinds.count("T") >= 2

        # ~5-20 s here (60 runs, four at once, with and without a CPU hog): how long depends on where in the
        # upstream's random walk the stack starts; the deadline is for a stall, and its failure says what
        # the stack was doing
        try:
            wait_for(traded_both_ways, 90, "maker entries and taker closes on the paper venue", interval=0.25)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{describe(stack)}") from None
        # the whole stack ran unchanged: stops on the venue, reconcile without drift
        assert stack.send_task("athena.halt", kwargs={"reason": "e2e paper"}, timeout=30)["halted"] is True
        flat = stack.send_task("athena.flatten", timeout=60)
        assert flat["ok"] is True, flat
        report = stack.send_task("athena.reconcile", timeout=60)
        assert report["ok"] is True and report["drift"] == [], report
        done = fills()
        st = stack.sim_admin("state")
        assert st["paper"]["stale"] == [] and st["paper"]["upstream"]["connects"] == 1
    assert stack.survivors() == []
    assert done
    for f in done:
        books = _book_at(seen, int(f["ts"]))
        assert books, f"fill {f['tradeId']} at {f['ts']} before any upstream book"
        assert any(b.fits(f) for b in books), (
            f"fill {f['side']} {f['fillSz']} @ {f['fillPx']} ({f['execType']}) at {f['ts']} was not in "
            "the upstream "
            f"book then: bids {b.best_bid}.. asks {b.best_ask}.."
            if (b := books[-1])
            else ""
        )
