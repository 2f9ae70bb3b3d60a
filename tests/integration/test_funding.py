"""Funding fees: the sim charges funding every second (bills of type 8); book_funding books each bill once
into realised PnL, capital and the journal, whether run again, from a restarted worker, after a lost
cursor, or as the Celery task. A charge is split between the strategies holding the instrument."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

import pytest

from athena.config import Settings, get_settings, set_settings
from athena.domain import Fill, PosSide, Side
from athena.engine import Engine
from athena.oms.capital import UNASSIGNED
from athena.ops.funding import book_funding
from athena.sim.client import SimClient
from athena.sim.server import SimServer
from athena.wiring import account, orders_engine
from tests.senders import NoSender
from tests.waiting import wait_for
from workers import tasks

BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"
_fills = itertools.count(1)


@dataclass
class Funded:
    sim: SimServer
    admin: SimClient
    settings: Settings

    def engine(self) -> Engine:
        return orders_engine(account(self.settings), NoSender())

    def bills(self) -> list[dict[str, Any]]:
        return [b for b in list(self.sim.exchange.bills) if b["type"] == "8"]


@pytest.fixture()
def funded(sim_settings: Callable[..., Settings]) -> Iterator[Funded]:
    with SimServer(tick_interval_ms=0, rate_limits=False) as sim:
        admin = SimClient(sim.url)
        admin.admin("funding", {"rate": "0.0001"})
        yield Funded(sim, admin, sim_settings(sim, "fund", ATHENA__okx__timeout_s="2"))


def hold(funded: Funded, eng: Engine, strategy: str, instId: str, sz: str) -> None:
    """A position on the exchange and the same one in the capital ledger, booked to `strategy`."""
    side = "buy" if D(sz) > 0 else "sell"
    r = funded.admin.post(
        "/api/v5/trade/order",
        {"instId": instId, "tdMode": "cross", "side": side, "ordType": "market", "sz": str(abs(D(sz)))},
    )
    item = r["data"][0]
    assert item["sCode"] == "0", item
    o = funded.sim.exchange.orders[item["ordId"]]
    fill = Fill(
        f"f{next(_fills)}",
        instId,
        Side(side),
        PosSide.NET,
        abs(D(sz)),
        o.avgPx,
        abs(D(sz)),
        strategy=strategy,
    )
    assert eng.capital.on_fill(fill, eng.instruments[instId]).applied


def sim_total(bills: list[dict[str, Any]], upto: int | None = None) -> D:
    return sum((D(b["pnl"]) for b in bills if upto is None or int(b["billId"]) <= upto), D(0))


def test_each_bill_is_booked_once_across_runs_restarts_and_a_lost_cursor(funded: Funded) -> None:
    eng = funded.engine()
    try:
        assert book_funding(eng).seen == 0  # the first run: from now on
        hold(funded, eng, "scalpbtc", BTC, "1")
        funded.admin.admin("funding", {"interval_s": 1})
        wait_for(lambda: len(funded.bills()) >= 3, 20, "three funding charges")
        first = book_funding(eng)
        assert len(first.booked) >= 3 and first.already == 0 and first.total < 0
        again = book_funding(eng)  # a repeated run: only bills charged since
        cursor = int(eng.redis.get(eng.keys.funding_cursor))
        assert eng.capital.funding() == sim_total(funded.bills(), cursor) == first.total + again.total
    finally:
        eng.close()

    restarted = funded.engine()  # a worker restart: nothing in memory, everything from Redis
    try:
        wait_for(lambda: len(funded.bills()) >= 5, 20, "two more funding charges")
        funded.admin.admin("funding", {"interval_s": 0})  # no more charges: the totals can be final
        book_funding(restarted)
        restarted.redis.delete(restarted.keys.funding_cursor)  # a lost cursor re-reads the week
        lost = book_funding(restarted)
        assert lost.booked == [] and lost.already == len(funded.bills())
        total = sim_total(funded.bills())
        pos = funded.sim.exchange.position_json(funded.sim.exchange.positions[(BTC, "net")])
        assert (
            restarted.capital.funding()
            == restarted.capital.funding("scalpbtc")
            == total
            == D(pos["fundingFee"])
        )
        rows = restarted.journal.funding()
        assert sorted(r.billId for r in rows) == sorted(b["billId"] for b in funded.bills())
        assert sum((r.amount for r in rows), D(0)) == total and all(
            r.shares == {"scalpbtc": r.amount} for r in rows
        )
        snap = restarted.capital.snapshot()
        assert snap.funding == total and snap.realised == restarted.capital.realised() == total + sum(
            (s.fees for s in snap.strategies), D(0)
        )
        assert restarted.capital.daily_realised() == snap.realised  # in the day's PnL (the drawdown breaker)
    finally:
        restarted.close()


def test_a_charge_is_split_between_the_strategies_holding_it(funded: Funded) -> None:
    eng = funded.engine()
    try:
        book_funding(eng)
        hold(funded, eng, "scalpbtc", BTC, "3")
        hold(funded, eng, "scalpeth", BTC, "1")  # another strategy on the same instrument
        hold(funded, eng, "scalpeth", ETH, "-2")  # short ETH: receives a positive rate
        funded.admin.admin("funding", {"settle": True})
        report = book_funding(eng)
        assert len(report.booked) == 2
        [btc] = [b for b in funded.bills() if b["instId"] == BTC]
        [eth] = [b for b in funded.bills() if b["instId"] == ETH]
        assert D(btc["pnl"]) < 0 < D(eth["pnl"])
        assert eng.capital.funding("scalpbtc") == (D(btc["pnl"]) * 3 / 4).quantize(D("1e-8"))
        assert eng.capital.funding("scalpeth") == D(btc["pnl"]) - eng.capital.funding("scalpbtc") + D(
            eth["pnl"]
        )
        assert eng.capital.funding() == D(btc["pnl"]) + D(eth["pnl"])
    finally:
        eng.close()


def test_funding_on_a_position_nobody_holds_is_unassigned(funded: Funded) -> None:
    eng = funded.engine()
    try:
        book_funding(eng)
        r = funded.admin.post(
            "/api/v5/trade/order",
            {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1"},
        )  # opened by hand
        assert r["data"][0]["sCode"] == "0"
        funded.admin.admin("funding", {"settle": True})
        assert len(book_funding(eng).booked) == 1
        assert eng.capital.funding(UNASSIGNED) == eng.capital.funding() == sim_total(funded.bills()) < 0
    finally:
        eng.close()


@pytest.mark.usefixtures("celery_worker")
def test_the_beat_task_books_funding_on_the_worker(funded: Funded) -> None:
    previous = get_settings()
    set_settings(funded.settings)
    tasks.reset_engine()
    try:
        eng = tasks.engine()
        assert tasks.book_funding.apply_async().get(timeout=30)["seen"] == 0
        hold(funded, eng, "scalpbtc", BTC, "1")
        funded.admin.admin("funding", {"settle": True})
        funded.admin.admin("funding", {"settle": True})
        out = tasks.book_funding.apply_async().get(timeout=30)
        assert (
            len(out["booked"]) == 2 and D(out["total"]) == sim_total(funded.bills()) == eng.capital.funding()
        )
        assert tasks.book_funding.apply_async().get(timeout=30)["booked"] == []
    finally:
        tasks.reset_engine()
        set_settings(previous)
