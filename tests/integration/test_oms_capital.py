"""CapitalCommander against a real Redis: reservations, PnL with fees, equity, restart continuity."""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

from athena.config import RiskProfileSettings, Settings, StrategySettings
from athena.domain import Fill, Instrument, PosSide, Side
from athena.oms.capital import (
    CapitalCommander,
    CapitalSnapshot,
    FillResult,
    FundingResult,
    ReserveResult,
    StrategyCapital,
)
from athena.state.keys import Keys
from athena.state.retention import DAY_PNL_RETENTION_S, FILL_RETENTION_S

BTC = Instrument("BTC-USDT-SWAP", ctVal=D("0.01"), lotSz=D("0.01"), tickSz=D("0.1"), minSz=D("0.01"))
ETH = Instrument("ETH-USDT-SWAP", ctVal=D("0.1"), lotSz=D("0.01"), tickSz=D("0.01"), minSz=D("0.01"))
DAY1 = 1_780_000_000.0  # 2026-05-28 UTC, mid-day


class Clock:
    def __init__(self, t: float = DAY1) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_settings(total: str = "10000") -> Settings:
    risk = RiskProfileSettings(leverage=D(2))
    return Settings(
        total_capital=D(total),
        strategies=[
            StrategySettings(name="alpha", instIds=["BTC-USDT-SWAP"], allocation=D("0.5"), risk=risk),
            StrategySettings(name="beta", instIds=["ETH-USDT-SWAP"], allocation=D("0.3")),
        ],
    )


@pytest.fixture()
def keys() -> Keys:
    return Keys("test", "cap")


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def cap(redis_client: Any, keys: Keys, clock: Clock) -> CapitalCommander:
    return CapitalCommander(redis_client, keys, make_settings(), clock)


def fill(
    cl: str, side: Side, sz: str, px: str, acc: str, fee: str, inst: Instrument = BTC, strategy: str = "alpha"
) -> Fill:
    return Fill(
        clOrdId=cl, instId=inst.instId, side=side, posSide=PosSide.NET, fillSz=D(sz), fillPx=D(px),
        accFillSz=D(acc), fee=D(fee), strategy=strategy,
    )  # fmt: skip


# -- allocation and reservations ----------------------------------------------------------------
def test_allocation_and_free(cap: CapitalCommander) -> None:
    assert cap.allocation("alpha") == D(5000) and cap.allocation("beta") == D(3000)
    assert cap.allocation("nobody") == 0
    assert cap.free("alpha") == D(5000) and cap.leverage("alpha") == D(2) and cap.leverage("beta") == D(3)


def test_reserve_rejects_beyond_free_allocation(cap: CapitalCommander) -> None:
    r = cap.reserve("alpha", "a1", D(4000))
    assert r.ok and r.code == "reserved" and r.free == D(5000)
    assert cap.free("alpha") == D(1000) and cap.reserved("alpha") == D(4000)
    r2 = cap.reserve("alpha", "a2", D("1000.01"))
    assert not r2.ok and r2.code == "insufficient" and r2.free == D(1000)
    assert cap.reserve("alpha", "a3", D(1000)).ok
    assert cap.free("alpha") == 0
    assert cap.reserve("nobody", "n1", D(1)).code == "unknown_strategy"
    assert cap.open_reservations() == ["a1", "a3"]


def test_reserve_is_idempotent_and_release_exactly_once(cap: CapitalCommander) -> None:
    assert cap.reserve("alpha", "a1", D(1200)).code == "reserved"
    dup = cap.reserve("alpha", "a1", D(1200))
    assert dup.ok and dup.code == "duplicate" and cap.reserved("alpha") == D(1200)
    assert cap.release("a1") == D(1200)
    assert cap.release("a1") == 0
    assert cap.release("never") == 0
    assert cap.reserved("alpha") == 0 and cap.open_reservations() == []
    # a redelivered submit after the release must not reserve again
    again = cap.reserve("alpha", "a1", D(1200))
    assert not again.ok and again.code == "released" and cap.reserved("alpha") == 0


def test_partial_fills_release_proportionally(cap: CapitalCommander) -> None:
    cap.reserve("alpha", "p1", D(300), sz=D(3))
    r = cap.on_fill(fill("p1", Side.BUY, "1", "50000", "1", "-0.25"), BTC)
    assert r.applied and r.released == D(100)
    assert cap.reserved("alpha") == D(200)
    # the same fill again (another source) changes nothing
    assert not cap.on_fill(fill("p1", Side.BUY, "1", "50000", "1", "-0.25"), BTC).applied
    assert cap.reserved("alpha") == D(200)
    cap.on_fill(fill("p1", Side.BUY, "1", "50000", "2", "-0.25"), BTC)
    assert cap.reserved("alpha") == D(100)
    assert cap.release("p1") == D(100)  # cancel of the rest
    assert cap.reserved("alpha") == 0 and cap.release("p1") == 0
    # the 2 filled contracts now use margin: 2 * 0.01 * 50000 / 2x
    assert cap.used_margin("alpha") == D(500) and cap.free("alpha") == D(4500)


def test_full_fill_closes_reservation(cap: CapitalCommander) -> None:
    cap.reserve("alpha", "f1", D(250), sz=D(1))
    assert cap.on_fill(fill("f1", Side.BUY, "1", "50000", "1", "-0.25"), BTC).released == D(250)
    assert cap.reserved("alpha") == 0 and cap.open_reservations() == []
    assert cap.release("f1") == 0


def test_racing_releases_release_once(redis_url: str, redis_client: Any, keys: Keys) -> None:
    import redis

    cap = CapitalCommander(redis_client, keys, make_settings())
    for i in range(20):
        cap.reserve("alpha", f"r{i}", D("100.5"), sz=D(2))
    results: list[D] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        client = redis.Redis.from_url(redis_url)
        mine = CapitalCommander(client, keys, make_settings())
        barrier.wait(timeout=10)
        for i in range(20):
            if n % 2:
                f = fill(f"r{i}", Side.BUY, "1", "100", "1", "0")
                got = mine.on_fill(f, BTC).released
            else:
                got = mine.release(f"r{i}")
            with lock:
                results.append(got)
        client.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert sum(results, D(0)) == D("2010")  # every reservation released in full, once
    assert cap.reserved("alpha") == 0 and cap.open_reservations() == []


# -- PnL with fees (hand-checked) -----------------------------------------------------------------
def test_long_pnl_with_fees_partial_close(cap: CapitalCommander) -> None:
    cap.on_fill(fill("L1", Side.BUY, "10", "50000", "10", "-2.5"), BTC)
    cap.on_fill(fill("L2", Side.BUY, "10", "51000", "10", "-2.55"), BTC)
    assert cap.position("BTC-USDT-SWAP") == D(20)
    [p] = cap.positions("alpha")
    assert p.avg_px == D(50500) and p.notional == D(10100)
    r = cap.on_fill(fill("L3", Side.SELL, "5", "52000", "5", "-1.3"), BTC)
    assert (r.pnl, r.fee, r.net, r.qty) == (D(75), D("-1.3"), D("73.7"), D(15))
    assert cap.realised("alpha") == D("68.65")  # 75 - 2.5 - 2.55 - 1.3
    # unrealised on the 15 left at mark 50000: (50000 - 50500) * 15 * 0.01
    u = cap.unrealised({"BTC-USDT-SWAP": D(50000)})
    assert u.total == D(-75) and u.by_strategy == {"alpha": D(-75)} and u.missing == ()
    assert cap.equity({"BTC-USDT-SWAP": D(50000)}) == D("9993.65")
    r = cap.on_fill(fill("L4", Side.SELL, "15", "50000", "15", "-3.75"), BTC)
    assert r.pnl == D(-75) and r.qty == 0 and r.avg_px is None
    assert cap.realised("alpha") == D("-10.1") and cap.fees("alpha") == D("-10.1")
    assert cap.daily_realised("alpha") == D("-10.1") and cap.daily_realised() == D("-10.1")
    assert cap.used_margin("alpha") == 0 and cap.open_instruments() == set()


def test_unclaimed_close_is_booked_to_the_one_strategy_it_reduces(cap: CapitalCommander) -> None:
    """Regression (found by the demo): flatten's close-position fill carries no strategy; it was
    booked to 'unassigned' as a new opposite position, so alpha never realised its PnL."""
    cap.on_fill(fill("A1", Side.BUY, "10", "50000", "10", "-2.5"), BTC)
    r = cap.on_fill(fill("xclose1", Side.SELL, "10", "50100", "10", "-2.5", strategy=""), BTC)
    assert r.strategy == "alpha" and r.qty == 0
    assert cap.realised("alpha") == D(5)  # (50100 - 50000) * 10 * 0.01 - 2.5 - 2.5
    assert [p for p in cap.positions() if p.qty != 0] == []
    # with no single holder to reduce, it stays unassigned (never guessed)
    r = cap.on_fill(fill("xopen1", Side.SELL, "1", "50000", "1", "0", strategy=""), BTC)
    assert r.strategy == "unassigned"


def test_short_pnl_with_fees_partial_close_and_flip(cap: CapitalCommander) -> None:
    cap.on_fill(fill("S1", Side.SELL, "4", "3000", "4", "-0.6", ETH, "beta"), ETH)
    r = cap.on_fill(fill("S2", Side.BUY, "1", "2900", "1", "-0.145", ETH, "beta"), ETH)
    assert (r.pnl, r.qty, r.avg_px) == (D(10), D(-3), D(3000))
    u = cap.unrealised({"ETH-USDT-SWAP": D(2950)})
    assert u.total == D(15)  # (2950 - 3000) * -3 * 0.1
    r = cap.on_fill(fill("S3", Side.BUY, "5", "3100", "5", "-0.775", ETH, "beta"), ETH)
    assert (r.pnl, r.qty, r.avg_px) == (D(-30), D(2), D(3100))
    assert cap.realised("beta") == D("-21.52")  # 10 - 30 - 0.6 - 0.145 - 0.775
    assert cap.realised("alpha") == 0 and cap.realised() == D("-21.52")
    assert cap.unrealised({}).missing == ("ETH-USDT-SWAP",)


def test_daily_realised_is_per_utc_day(cap: CapitalCommander, clock: Clock) -> None:
    cap.on_fill(fill("d1", Side.BUY, "1", "50000", "1", "-1"), BTC)
    assert cap.daily_realised() == D(-1)
    clock.t += 86400
    assert cap.daily_realised() == 0
    cap.on_fill(fill("d2", Side.SELL, "1", "51000", "1", "-1"), BTC)
    assert cap.daily_realised() == D(9) and cap.realised() == D(8)
    assert cap.daily_realised(day=cap.day(int((clock.t - 86400) * 1000))) == D(-1)


# -- equity, high-water mark, snapshot, restart -------------------------------------------------------
def test_hwm_rises_only_on_complete_marks(cap: CapitalCommander) -> None:
    assert cap.update_equity({}).hwm == D(10000)
    cap.on_fill(fill("h1", Side.BUY, "100", "50000", "100", "0"), BTC)
    st = cap.update_equity({"BTC-USDT-SWAP": D(51000)})
    assert st.equity == D(11000) and st.hwm == D(11000) and st.drawdown == 0 and st.complete
    st = cap.update_equity({"BTC-USDT-SWAP": D(49900)})
    assert st.equity == D(9900) and st.hwm == D(11000) and st.drawdown == D(1100) / D(11000)
    st = cap.update_equity({})  # no mark: unrealised unknown, hwm untouched
    assert not st.complete and st.hwm == D(11000)
    # a realised gain lifts equity above the hwm, but with a mark missing the hwm still waits
    cap.on_fill(fill("h2", Side.BUY, "10", "3000", "10", "0", ETH, "beta"), ETH)
    cap.on_fill(fill("h3", Side.SELL, "10", "5000", "10", "0", ETH, "beta"), ETH)  # +2000
    st = cap.update_equity({})
    assert not st.complete and st.equity == D(12000) and st.hwm == D(11000)
    assert cap.update_equity({"BTC-USDT-SWAP": D(50000)}).hwm == D(12000)


def test_snapshot_is_decimal_and_serialisable(cap: CapitalCommander) -> None:
    cap.reserve("alpha", "s1", D(100), sz=D(1))
    cap.on_fill(fill("s0", Side.BUY, "10", "50000", "10", "-2.5"), BTC)
    snap = cap.snapshot({"BTC-USDT-SWAP": D(50100)})
    assert snap.equity == D("10007.5") and snap.unrealised == D(10) and snap.reserved == D(100)
    alpha = next(s for s in snap.strategies if s.name == "alpha")
    assert alpha.used_margin == D(2500) and alpha.free == D(2400) and alpha.unrealised == D(10)
    d = snap.to_dict()
    assert d["equity"] == "10007.5" and d["strategies"][0]["name"] == "alpha"
    assert d["missing_marks"] == []


def test_restart_continues_from_redis(redis_client: Any, keys: Keys, clock: Clock) -> None:
    first = CapitalCommander(redis_client, keys, make_settings(), clock)
    first.reserve("alpha", "k1", D(300), sz=D(3))
    first.reserve("alpha", "k2", D(50))
    first.on_fill(fill("k1", Side.BUY, "1", "50000", "1", "-0.25"), BTC)
    first.update_equity({"BTC-USDT-SWAP": D(60000)})
    assert first.release("k2") == D(50)
    del first
    second = CapitalCommander(redis_client, keys, make_settings(), clock)
    assert second.reserved("alpha") == D(200)
    assert second.position("BTC-USDT-SWAP", "alpha") == D(1)
    assert second.realised("alpha") == D("-0.25")
    assert second.high_water_mark() == D("10099.75")
    assert second.release("k2") == 0  # released before the restart: never twice
    assert not second.on_fill(fill("k1", Side.BUY, "1", "50000", "1", "-0.25"), BTC).applied
    second.on_fill(fill("k1", Side.BUY, "2", "50000", "3", "-0.5"), BTC)
    assert second.reserved("alpha") == 0 and second.release("k1") == 0


def test_keys_are_namespaced(redis_client: Any, cap: CapitalCommander, keys: Keys) -> None:
    cap.reserve("alpha", "ns1", D(10), sz=D(1))
    cap.on_fill(fill("ns1", Side.BUY, "1", "100", "1", "0"), BTC)
    cap.update_equity({})
    names = [k.decode() for k in redis_client.keys("*")]
    assert names and all(n.startswith(keys.prefix) for n in names)


def test_concurrent_releases_of_different_orders_never_lose_an_update(
    redis_url: str, redis_client: Any
) -> None:
    """Distinct reservations of one strategy share its `reserved` sum: concurrent writers must not
    overwrite each other (WATCH on the strategy hash)."""
    import redis

    keys = Keys("test", "race2")
    cap = CapitalCommander(redis_client, keys, make_settings())
    n, rounds = 8, 15
    clients = [redis.Redis.from_url(redis_url) for _ in range(n)]
    workers = [CapitalCommander(c, keys, make_settings()) for c in clients]
    try:
        for rnd in range(rounds):
            for i in range(n):
                assert cap.reserve("alpha", f"x{rnd}n{i}", D("12.5"), sz=D(2)).ok
            assert cap.reserved("alpha") == D(100)
            barrier = threading.Barrier(n)

            def work(i: int, rnd: int = rnd, barrier: threading.Barrier = barrier) -> None:
                barrier.wait(timeout=10)
                cl = f"x{rnd}n{i}"
                if i % 2:
                    workers[i].on_fill(fill(cl, Side.BUY, "1", "100", "1", "0"), BTC)
                workers[i].release(cl)

            threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert not any(t.is_alive() for t in threads)
            assert cap.reserved("alpha") == 0, f"round {rnd}"
    finally:
        for c in clients:
            c.close()


def test_consistent_view_reads_one_snapshot_and_reserves_by_compare_and_set(
    redis_url: str, redis_client: Any, keys: Keys
) -> None:
    """Inside consistent_view() every read comes from one snapshot; a reserve whose numbers moved
    since (another writer reserved) is decided again on fresh reads, never over the allocation."""
    import redis

    other = CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings())
    cap = CapitalCommander(redis_client, keys, make_settings())
    with cap.consistent_view():
        assert cap.free("alpha") == D(5000)
        assert other.reserve("alpha", "o1", D(3000)).ok  # lands after the snapshot
        assert cap.free("alpha") == D(5000)  # still the snapshot: one instant for the whole decision
        late = cap.reserve("alpha", "c1", D(2500))  # CAS sees reserved moved -> fresh reads refuse it
        assert not late.ok and late.code == "insufficient" and late.free == D(2000)
        ok = cap.reserve("alpha", "c2", D(2000))
        assert ok.ok and ok.code == "reserved"
        assert cap.free("alpha") == 0  # a successful reserve drops the snapshot
    assert cap.reserved("alpha") == D(5000) and cap.open_reservations() == ["c2", "o1"]
    with cap.consistent_view():
        dup = cap.reserve("alpha", "c2", D(2000))  # redelivered: duplicate, not a second reservation
        assert dup.ok and dup.code == "duplicate"
    assert cap.reserved("alpha") == D(5000)


def test_concurrent_reserves_in_views_never_exceed_the_allocation(redis_url: str, redis_client: Any) -> None:
    import redis

    keys = Keys("test", "race3")
    n = 8
    workers = [CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings()) for _ in range(n)]
    barrier = threading.Barrier(n)
    results: list[bool] = []

    def work(i: int) -> None:
        barrier.wait(timeout=10)
        for j in range(5):
            with workers[i].consistent_view():
                results.append(workers[i].reserve("alpha", f"r{i}x{j}", D(250)).ok)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    cap = CapitalCommander(redis_client, keys, make_settings())
    assert sum(results) == 20  # 5,000 / 250: exactly the allocation, whoever won the races
    assert cap.reserved("alpha") == D(5000) and cap.free("alpha") == 0


# -- a reservation released twice at once (the demo's "reserved went negative ... clamped to 0") ---
class InterleavingRedis:
    """A process's Redis client that runs `meanwhile` once, when this process is about to WATCH the
    strategy's hash: the other process's commit lands between our reads of the reservation and of
    the strategy (the interleaving that happened in the demo)."""

    def __init__(self, client: Any, strategy_key: str, meanwhile: Any) -> None:
        self._client = client
        self._strategy_key = strategy_key
        self._meanwhile = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = self._client.pipeline(*args, **kwargs)
        watch = pipe.watch

        def watching(*names: str) -> Any:
            if self._meanwhile is not None and self._strategy_key in names:
                run, self._meanwhile = self._meanwhile, None
                run()
            return watch(*names)

        pipe.watch = watching
        return pipe


@pytest.mark.parametrize("first", ["final fill", "cancel elsewhere"])
def test_a_cancel_racing_the_final_fill_or_another_process_releases_once_and_reports_no_clamp(
    redis_url: str, redis_client: Any, keys: Keys, caplog: pytest.LogCaptureFixture, first: str
) -> None:
    """The orders worker releases an entry on ORDER_CANCELLED while the stream worker books its final
    fill (or releases it too, on the relayed event). Only one release may happen, and the loser must
    not compute a release from the reservation as it was before the winner and the strategy's
    reserved as it is after (margin - 0): that computed 'reserved went negative; clamped to 0'."""
    import logging

    import redis

    cap = CapitalCommander(redis_client, keys, make_settings())
    assert cap.reserve("alpha", "e3", D("1666.59976"), sz=D(2)).ok
    stream = CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings())

    def winner() -> None:
        if first == "final fill":
            assert stream.on_fill(fill("e3", Side.BUY, "2", "50000", "2", "-0.5"), BTC).released == D(
                "1666.59976"
            )
        else:
            assert stream.release("e3") == D("1666.59976")

    orders = CapitalCommander(
        InterleavingRedis(redis.Redis.from_url(redis_url), keys.capital_strategy("alpha"), winner),
        keys,
        make_settings(),
    )
    with caplog.at_level(logging.ERROR, logger="athena.oms.capital"):
        assert orders.release("e3") == 0  # the loser releases nothing
    assert [r.getMessage() for r in caplog.records if "negative" in r.getMessage()] == []
    assert cap.reserved("alpha") == 0 and cap.open_reservations() == []
    assert cap.errors().clamps == 0


def test_a_clamp_is_a_counted_error_with_its_details(
    cap: CapitalCommander, keys: Keys, redis_client: Any
) -> None:
    """A release that really would take reserved below zero (its margin was already taken out by
    something else) is clamped, and counted with what happened, in the same transaction."""
    assert cap.reserve("alpha", "c1", D(300), sz=D(1)).ok
    redis_client.hset(keys.capital_strategy("alpha"), "reserved", "100")  # 200 of c1's margin gone elsewhere
    assert cap.audit() == [{"strategy": "alpha", "reserved": "100", "held": "300"}]
    assert cap.release("c1") == D(300)
    assert cap.reserved("alpha") == 0
    errors = cap.errors()
    assert errors.clamps == 1
    assert [(e["clOrdId"], e["strategy"], e["reserved"]) for e in errors.recent] == [("c1", "alpha", "-200")]
    assert cap.release("c1") == 0 and cap.errors().clamps == 1


# -- on_fill: one snapshot, one compare-and-set ---------------------------------------------------
def _calls(redis_client: Any) -> dict[str, int]:
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in redis_client.info("commandstats").items()}


def _spent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def test_a_fill_is_booked_in_two_round_trips(cap: CapitalCommander, redis_client: Any) -> None:
    """The stream worker's dispatcher books every fill: one snapshot and one compare-and-set write (it was a
    WATCH transaction of 8 round trips), with the same booking."""
    assert cap.reserve("alpha", "r1", D(300), sz=D(3)).ok
    cap.on_fill(fill("r1", Side.BUY, "1", "50000", "1", "-0.25"), BTC)  # scripts loaded
    before = _calls(redis_client)
    r = cap.on_fill(fill("r1", Side.BUY, "1", "50010", "2", "-0.25"), BTC)
    after = _calls(redis_client)
    assert r.applied and r.released == D(100) and r.qty == D(2) and r.avg_px == D(50005)
    spent = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    # two scripts sent (commandstats also counts the commands they run inside Redis), no transaction
    assert spent["evalsha"] == 2 and not {"watch", "multi", "exec"} & spent.keys(), spent
    assert cap.reserved("alpha") == D(100) and cap.fees("alpha") == D("-0.5")
    assert cap.position("BTC-USDT-SWAP", "alpha") == D(2)


def test_a_fill_whose_snapshot_went_stale_is_booked_on_fresh_reads(
    redis_url: str, redis_client: Any, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process reserves for the same strategy between the snapshot and the write: the write is
    refused ('changed') and the fill is decided again, so neither update is lost."""
    import redis

    import athena.oms.capital as capital

    cap = CapitalCommander(redis_client, keys, make_settings())
    other = CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings())
    assert cap.reserve("alpha", "s1", D(300), sz=D(3)).ok
    real, outcomes = capital._CAS_WRITE, []

    def interfering(r: Any, keys_: list[str], args: list[Any]) -> Any:
        if not outcomes:
            assert other.reserve("alpha", "o1", D(1000)).ok  # lands after the snapshot
        outcomes.append(capital._s(real(r, keys_, args)))
        return outcomes[-1]

    monkeypatch.setattr(capital, "_CAS_WRITE", interfering)
    r = cap.on_fill(fill("s1", Side.BUY, "1", "50000", "1", "-0.25"), BTC)
    assert outcomes == ["changed"]  # then the WATCH transaction booked it
    assert r.applied and r.released == D(100) and r.qty == D(1)
    assert cap.reserved("alpha") == D(1200)  # 300 - 100 released + 1000 of the other reservation
    assert not cap.on_fill(fill("s1", Side.BUY, "1", "50000", "1", "-0.25"), BTC).applied
    assert cap.position("BTC-USDT-SWAP", "alpha") == D(1) and cap.fees("alpha") == D("-0.25")


def test_a_fill_booked_by_another_process_after_the_snapshot_is_not_booked_twice(
    redis_url: str, redis_client: Any, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    import athena.oms.capital as capital

    cap = CapitalCommander(redis_client, keys, make_settings())
    other = CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings())
    assert cap.reserve("alpha", "b1", D(300), sz=D(3)).ok
    real, outcomes = capital._CAS_WRITE, []
    the_fill = fill("b1", Side.BUY, "3", "50000", "3", "-0.75")

    def interfering(r: Any, keys_: list[str], args: list[Any]) -> Any:
        if not outcomes:
            outcomes.append("other")
            assert other.on_fill(the_fill, BTC).applied  # the same fill, booked by another process first
        outcomes.append(capital._s(real(r, keys_, args)))
        return outcomes[-1]

    monkeypatch.setattr(capital, "_CAS_WRITE", interfering)
    assert not cap.on_fill(the_fill, BTC).applied
    assert outcomes == ["other", "done", "booked"]  # the other's own write, then ours refused
    assert cap.position("BTC-USDT-SWAP", "alpha") == D(3) and cap.fees("alpha") == D("-0.75")
    assert cap.reserved("alpha") == 0 and cap.open_reservations() == []


def test_a_fill_that_clamps_counts_the_clamp_once(
    cap: CapitalCommander, keys: Keys, redis_client: Any
) -> None:
    assert cap.reserve("alpha", "k1", D(300), sz=D(1)).ok
    redis_client.hset(keys.capital_strategy("alpha"), "reserved", "100")  # 200 of k1's margin gone elsewhere
    assert cap.on_fill(fill("k1", Side.BUY, "1", "50000", "1", "-0.25"), BTC).released == D(300)
    assert cap.reserved("alpha") == 0 and cap.open_reservations() == []
    errors = cap.errors()
    assert errors.clamps == 1 and [(e["clOrdId"], e["reserved"]) for e in errors.recent] == [("k1", "-200")]


def test_the_audit_sums_every_open_reservation_net_of_what_fills_released(
    cap: CapitalCommander, keys: Keys, redis_client: Any
) -> None:
    """Three open reservations over two strategies, one partly filled, one released: the books agree;
    a reserved figure off by one cent is reported with exactly what the open reservations hold."""
    assert cap.reserve("alpha", "a1", D(300), sz=D(2)).ok
    assert cap.reserve("alpha", "a2", D(200), sz=D(1)).ok
    assert cap.reserve("alpha", "a3", D(50), sz=D(1)).ok
    assert cap.reserve("beta", "b1", D(120), sz=D(1)).ok
    assert cap.on_fill(fill("a1", Side.BUY, "0.5", "50000", "0.5", "0"), BTC).released == D(75)  # a quarter
    assert cap.release("a3") == D(50)
    assert cap.audit() == []
    redis_client.hset(keys.capital_strategy("alpha"), "reserved", "424.99")
    assert cap.audit() == [{"strategy": "alpha", "reserved": "424.99", "held": "425"}]  # 225 + 200


# -- funding: each bill shared by the holders, booked once, part of realised ------------------------
def test_funding_is_shared_by_signed_position_with_the_remainder_to_the_largest_holder(
    cap: CapitalCommander,
) -> None:
    assert cap.funding_shares("BTC-USDT-SWAP", D(-1)) == {"unassigned": D(-1)}  # nobody holds it
    cap.on_fill(fill("a1", Side.BUY, "1", "50000", "1", "0"), BTC)
    cap.on_fill(fill("b1", Side.BUY, "5", "50000", "5", "0", strategy="beta"), BTC)
    cap.on_fill(fill("g1", Side.BUY, "1", "50000", "1", "0", strategy="gamma"), BTC)
    cap.on_fill(fill("d1", Side.BUY, "2", "50000", "2", "0", strategy="delta"), BTC)
    cap.on_fill(fill("d2", Side.SELL, "2", "50000", "2", "0", strategy="delta"), BTC)  # flat: no share
    cap.on_fill(fill("e1", Side.BUY, "3", "3000", "3", "0", ETH, "alpha"), ETH)  # another instrument
    # 1/7, 5/7, 1/7 of 1 rounded to 8 places sum to 0.99999999: the last 0.00000001 goes to beta
    assert cap.funding_shares("BTC-USDT-SWAP", D(1)) == {
        "alpha": D("0.14285714"), "beta": D("0.71428572"), "gamma": D("0.14285714"),
    }  # fmt: skip
    cap.on_fill(fill("e2", Side.SELL, "1", "3000", "1", "0", ETH, "beta"), ETH)
    # signed: alpha long 3, beta short 1, net 2 charged: the short's share has the other sign
    assert cap.funding_shares("ETH-USDT-SWAP", D(-1)) == {"alpha": D("-1.5"), "beta": D("0.5")}
    cap.on_fill(fill("e3", Side.SELL, "2", "3000", "2", "0", ETH, "gamma"), ETH)  # net 0 on ETH
    assert cap.funding_shares("ETH-USDT-SWAP", D(-1)) == {"unassigned": D(-1)}


def test_a_funding_bill_is_booked_once_into_funding_realised_and_its_day(
    cap: CapitalCommander, clock: Clock, keys: Keys, redis_client: Any
) -> None:
    cap.on_fill(fill("a1", Side.BUY, "1", "50000", "1", "-0.5"), BTC)
    cap.on_fill(fill("b1", Side.BUY, "6", "50000", "6", "0", strategy="beta"), BTC)
    ts = int((DAY1 - 86400) * 1000)  # the bill is yesterday's, booked today
    day = cap.day(ts)
    r = cap.on_funding("bill1", "BTC-USDT-SWAP", D("-0.7"), ts)
    assert r == FundingResult(
        True, "bill1", "BTC-USDT-SWAP", D("-0.7"), {"alpha": D("-0.1"), "beta": D("-0.6")}
    )
    assert cap.on_funding("bill1", "BTC-USDT-SWAP", D("-0.7"), ts) == FundingResult(
        False, "bill1", "BTC-USDT-SWAP", D("-0.7")
    )
    assert cap.on_funding("bill2", "BTC-USDT-SWAP", D("0.14"), ts).applied  # received: +0.02, +0.12
    assert cap.funding("alpha") == D("-0.08") and cap.funding("beta") == D("-0.48")
    assert cap.funding() == D("-0.56")
    assert cap.realised("alpha") == D("-0.58") and cap.realised("beta") == D("-0.48")  # fee + funding
    assert cap.realised() == D("-1.06")
    assert cap.daily_realised("beta", day) == D("-0.48") and cap.daily_realised(day=day) == D("-0.56")
    assert cap.daily_realised("alpha") == D("-0.5")  # today: only the fee
    # nobody holds ETH: its bill is the unassigned strategy's, booked on the clock's day when it has no ts
    assert cap.on_funding("bill3", "ETH-USDT-SWAP", D("-2")).shares == {"unassigned": D(-2)}
    assert cap.funding("unassigned") == D(-2) and "unassigned" in cap.strategies()
    assert cap.daily_realised("unassigned") == D(-2) and cap.daily_realised() == D("-2.5")
    snap = cap.snapshot()
    assert snap.funding == D("-2.56") and snap.realised == D("-3.06")
    assert {s.name: s.funding for s in snap.strategies} == {
        "alpha": D("-0.08"), "beta": D("-0.48"), "unassigned": D(-2),
    }  # fmt: skip
    mark_ttl = redis_client.ttl(keys.capital_funding("bill1"))
    day_ttl = redis_client.ttl(keys.capital_day(day))
    assert FILL_RETENTION_S - 60 < mark_ttl <= FILL_RETENTION_S
    assert DAY_PNL_RETENTION_S - 60 < day_ttl <= DAY_PNL_RETENTION_S


class AtMulti:
    """A process's Redis client that runs `meanwhile` once, when a transaction has read what it decides
    from and is about to queue its writes (MULTI): another process's commit lands in between."""

    def __init__(self, client: Any, meanwhile: Any) -> None:
        self._client = client
        self._meanwhile = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = self._client.pipeline(*args, **kwargs)
        multi = pipe.multi

        def at_multi() -> Any:
            if self._meanwhile is not None:
                run, self._meanwhile = self._meanwhile, None
                run()
            return multi()

        pipe.multi = at_multi
        return pipe


@pytest.mark.parametrize("meanwhile", ["a fill on the same day", "a bill of another day"])
def test_a_funding_bill_racing_another_write_loses_no_update(
    redis_url: str, redis_client: Any, keys: Keys, clock: Clock, meanwhile: str
) -> None:
    """The day's total is shared by every strategy and the strategy's funding by every bill: a commit
    between the bill's reads and its write makes it decide again on fresh reads."""
    import redis

    cap = CapitalCommander(redis_client, keys, make_settings(), clock)
    cap.on_fill(fill("a1", Side.BUY, "1", "50000", "1", "0"), BTC)
    other = CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings(), clock)

    def land() -> None:
        if meanwhile == "a fill on the same day":
            assert other.on_fill(fill("x1", Side.BUY, "1", "3000", "1", "-1", ETH, "beta"), ETH).applied
        else:
            assert other.on_funding("bill0", "BTC-USDT-SWAP", D(-3), int((DAY1 - 86400) * 1000)).applied

    racing = CapitalCommander(AtMulti(redis.Redis.from_url(redis_url), land), keys, make_settings(), clock)
    assert racing.on_funding("bill1", "BTC-USDT-SWAP", D(-2)).applied
    if meanwhile == "a fill on the same day":
        assert cap.daily_realised() == D(-3) and cap.funding("alpha") == D(-2)
    else:
        assert cap.daily_realised() == D(-2) and cap.funding("alpha") == D(-5)


# -- reservations: every field of every answer ------------------------------------------------------
def test_every_reserve_answer_names_the_order_its_margin_and_the_free_allocation(
    cap: CapitalCommander,
) -> None:
    with pytest.raises(ValueError):
        cap.reserve("alpha", "z0", D(0))
    assert cap.reserve("alpha", "r1", D(1000), sz=D(2)) == ReserveResult(
        True, "reserved", "r1", D(1000), D(5000)
    )
    assert cap.reserve("alpha", "r1", D(5)) == ReserveResult(True, "duplicate", "r1", D(1000), D(4000))
    assert cap.reserve("alpha", "r2", D(4001)) == ReserveResult(False, "insufficient", "r2", D(4001), D(4000))
    assert cap.reserve("nobody", "n1", D(1)) == ReserveResult(False, "unknown_strategy", "n1", D(1), D(0))
    assert cap.release("r1") == D(1000)
    assert cap.reserve("alpha", "r1", D(5)) == ReserveResult(False, "released", "r1", D(1000), D(5000))
    # the same answers from a reservation decided against a consistent view
    with cap.consistent_view():
        assert cap.reserve("alpha", "v1", D(800), sz=D(4)) == ReserveResult(
            True, "reserved", "v1", D(800), D(5000)
        )
    with cap.consistent_view():
        assert cap.reserve("alpha", "v1", D(1)) == ReserveResult(True, "duplicate", "v1", D(800), D(4200))
    with cap.consistent_view():
        assert cap.reserve("nobody", "n2", D(1)) == ReserveResult(False, "unknown_strategy", "n2", D(1), D(0))
    assert cap.reservation("v1") == {
        "strategy": "alpha",
        "margin": "800",
        "sz": "4",
        "released": "0",
        "closed": "0",
    }


@pytest.mark.parametrize("in_view", [False, True])
def test_a_reservation_records_its_size_so_fills_release_it_in_proportion(
    cap: CapitalCommander, in_view: bool
) -> None:
    """With the order's size a partial fill releases its share; without one, nothing until the release."""
    with cap.consistent_view() if in_view else contextlib.nullcontext():
        assert cap.reserve("alpha", "p1", D(300), sz=D(3)).ok
    with cap.consistent_view() if in_view else contextlib.nullcontext():
        assert cap.reserve("alpha", "q1", D(200)).ok
    assert cap.reservation("p1")["sz"] == "3" and cap.reservation("q1")["sz"] == ""
    assert cap.on_fill(fill("p1", Side.BUY, "1", "50000", "1", "0"), BTC).released == D(100)
    assert cap.on_fill(fill("q1", Side.BUY, "1", "50000", "1", "0"), BTC).released == 0
    assert cap.reservation("q1") == {
        "strategy": "alpha",
        "margin": "200",
        "sz": "",
        "released": "0",
        "closed": "0",
    }
    assert cap.reserved("alpha") == D(400) and cap.release("q1") == D(200) and cap.reserved("alpha") == D(200)


def test_a_reserve_in_a_view_is_one_compare_and_set(cap: CapitalCommander, redis_client: Any) -> None:
    """Decided from the snapshot and written by one script, no WATCH transaction, even for exactly the
    free allocation and for a strategy that already holds a reservation and a position."""
    with cap.consistent_view():
        assert cap.reserve("alpha", "w0", D(1000), sz=D(1)).ok  # loads the script
    cap.on_fill(fill("w0", Side.BUY, "0.5", "50000", "0.5", "0"), BTC)  # alpha: reserved 500, notional 250
    with cap.consistent_view():
        cap.free("alpha")  # scripts loaded, snapshot taken
        before = _calls(redis_client)
        r = cap.reserve("alpha", "w1", D("4375"))  # 5000 - 500 - 250 / 2: exactly what is free
        after = _calls(redis_client)
    assert r == ReserveResult(True, "reserved", "w1", D(4375), D(4375))
    spent = _spent(before, after)
    assert spent.get("evalsha") == 1 and not {"watch", "multi", "exec"} & spent.keys(), spent
    assert cap.free("alpha") == 0


def test_a_tiny_account_reserves_and_measures_its_drawdown(
    redis_client: Any, keys: Keys, clock: Clock
) -> None:
    """An allocation below one unit of money is still an allocation, and a high-water mark below one still
    measures a drawdown."""
    settings = Settings(
        total_capital=D("0.5"),
        strategies=[StrategySettings(name="alpha", instIds=["BTC-USDT-SWAP"], allocation=D("0.5"))],
    )
    cap = CapitalCommander(redis_client, keys, settings, clock)
    assert cap.allocation("alpha") == D("0.25")
    assert cap.reserve("alpha", "t1", D("0.1")) == ReserveResult(True, "reserved", "t1", D("0.1"), D("0.25"))
    with cap.consistent_view():
        cap.free("alpha")
        before = _calls(redis_client)
        assert cap.reserve("alpha", "t2", D("0.1")) == ReserveResult(
            True, "reserved", "t2", D("0.1"), D("0.15")
        )
        assert "watch" not in _spent(before, _calls(redis_client))  # decided from the view
    cap.on_fill(fill("t3", Side.BUY, "1", "100", "1", "-0.1"), BTC)
    st = cap.update_equity({"BTC-USDT-SWAP": D(100)})
    assert st.equity == D("0.4") and st.hwm == D("0.5") and st.drawdown == D("0.2")


def test_allocation_and_free_round_down_to_the_ledger_scale(redis_client: Any, keys: Keys) -> None:
    settings = Settings(
        total_capital=D("10000"),
        strategies=[
            StrategySettings(name="alpha", instIds=["BTC-USDT-SWAP"], allocation=D("0.1234567899876")),
            StrategySettings(name="beta", instIds=["ETH-USDT-SWAP"], allocation=D("0.3")),
        ],
    )
    cap = CapitalCommander(redis_client, keys, settings)
    assert cap.allocation("alpha") == D("1234.56789987")  # not ...88: never more than configured
    cap.on_fill(fill("b1", Side.BUY, "1", "1000", "1", "0", ETH, "beta"), ETH)  # notional 100 at 3x
    assert cap.used_margin("beta") == D("33.33333333") and cap.free("beta") == D("2966.66666666")


# -- clamps: counted, detailed, logged, the latest kept ---------------------------------------------
def test_a_clamp_is_logged_and_reported_with_what_was_released(
    cap: CapitalCommander, keys: Keys, redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert cap.reserve("alpha", "c1", D(300), sz=D(1)).ok
    redis_client.hset(keys.capital_strategy("alpha"), "reserved", "100")
    with caplog.at_level(logging.ERROR, logger="athena.oms.capital"):
        assert cap.release("c1") == D(300)
    assert [r.getMessage() for r in caplog.records] == [
        "capital: releasing c1 would take reserved to -200; clamped to 0 and counted (see reconcile)"
    ]
    detail = {
        "clOrdId": "c1",
        "strategy": "alpha",
        "reserved": "-200",
        "released": "300",
        "ts": int(DAY1 * 1000),
    }
    assert cap.errors().to_dict() == {"clamps": 1, "recent": [detail]}


@pytest.mark.parametrize("path", ["snapshot", "fresh reads"])
def test_a_fill_that_clamps_logs_it_with_its_order(
    redis_client: Any,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    import athena.oms.capital as capital

    cap = CapitalCommander(redis_client, keys, make_settings())
    assert cap.reserve("alpha", "k1", D(300), sz=D(1)).ok
    real = capital._CAS_WRITE
    if path == "snapshot":
        redis_client.hset(keys.capital_strategy("alpha"), "reserved", "100")
    else:

        def interfering(r: Any, keys_: list[str], args: list[Any]) -> Any:
            redis_client.hset(keys.capital_strategy("alpha"), "reserved", "100")  # after the snapshot
            return real(r, keys_, args)

        monkeypatch.setattr(capital, "_CAS_WRITE", interfering)
    with caplog.at_level(logging.ERROR, logger="athena.oms.capital"):
        assert cap.on_fill(fill("k1", Side.BUY, "1", "50000", "1", "0"), BTC).released == D(300)
    assert [r.getMessage() for r in caplog.records] == [
        "capital: releasing k1 would take reserved to -200; clamped to 0 and counted (see reconcile)"
    ]
    assert cap.errors().clamps == 1 and cap.reserved("alpha") == 0


def test_only_the_latest_clamps_are_kept(cap: CapitalCommander, keys: Keys, redis_client: Any) -> None:
    for i in range(101):
        assert cap.reserve("alpha", f"c{i}", D(1), sz=D(1)).ok
        redis_client.hset(keys.capital_strategy("alpha"), "reserved", "0")
        assert cap.release(f"c{i}") == D(1)
    errors = cap.errors()
    assert errors.clamps == 101 and redis_client.llen(keys.capital_clamps) == 100
    assert [e["clOrdId"] for e in errors.recent] == [f"c{i}" for i in range(100, 0, -1)]


# -- fills: day, posSide, unclaimed fills, replays ----------------------------------------------------
def test_a_fill_is_booked_on_its_trade_day_and_its_own_position_side(cap: CapitalCommander) -> None:
    yesterday = int((DAY1 - 86400) * 1000)
    r = cap.on_fill(
        replace(fill("y1", Side.BUY, "1", "50000", "1", "-1"), ts=yesterday, posSide=PosSide.LONG), BTC
    )
    assert r == FillResult(True, "alpha", "BTC-USDT-SWAP", D(0), D(-1), D(1), D(50000), D(0))
    assert cap.daily_realised(day=cap.day(yesterday)) == D(-1) and cap.daily_realised() == 0
    [p] = cap.positions()
    assert (p.posSide, p.qty) == ("long", D(1))


def test_an_unclaimed_close_goes_to_the_one_holder_on_its_instrument_side_and_direction(
    cap: CapitalCommander,
) -> None:
    cap.on_fill(replace(fill("l1", Side.BUY, "1", "50000", "1", "0"), posSide=PosSide.LONG), BTC)
    cap.on_fill(fill("e1", Side.BUY, "1", "3000", "1", "0", ETH, "beta"), ETH)  # another instrument, long too
    cap.on_fill(fill("s1", Side.SELL, "0.5", "50000", "0.5", "0", strategy="beta"), BTC)  # net side, short
    close_long = replace(fill("x1", Side.SELL, "1", "50100", "1", "0", strategy=""), posSide=PosSide.LONG)
    assert cap.on_fill(close_long, BTC).strategy == "alpha"
    assert cap.realised("alpha") == D(1) and cap.position("BTC-USDT-SWAP", "alpha") == 0
    close_short = fill("x2", Side.BUY, "0.5", "49900", "0.5", "0", strategy="")
    assert cap.on_fill(close_short, BTC).strategy == "beta"
    assert cap.realised("beta") == D("0.5") and cap.position("BTC-USDT-SWAP", "beta") == 0
    # replayed: booked once; the holder is flat now, so the replay names nobody
    assert cap.on_fill(close_short, BTC) == FillResult(False, "unassigned", "BTC-USDT-SWAP")
    assert cap.realised("beta") == D("0.5")


def test_an_unclaimed_fill_booked_meanwhile_by_another_process_is_not_booked_twice(
    redis_url: str, redis_client: Any, keys: Keys
) -> None:
    import redis

    cap = CapitalCommander(redis_client, keys, make_settings())
    cap.on_fill(fill("a1", Side.BUY, "2", "50000", "2", "0"), BTC)
    close = fill("x1", Side.SELL, "2", "50100", "2", "-1", strategy="")
    other = CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings())
    racing = CapitalCommander(
        InterleavingRedis(
            redis.Redis.from_url(redis_url),
            keys.capital_strategy("alpha"),
            lambda: other.on_fill(close, BTC),  # lands after our marker check, before our reads
        ),
        keys,
        make_settings(),
    )
    assert racing.on_fill(close, BTC) == FillResult(False, "alpha", "BTC-USDT-SWAP")
    assert cap.realised("alpha") == D(1) and cap.position("BTC-USDT-SWAP") == 0


@pytest.mark.parametrize(
    "key,field",
    [("res", f) for f in ("strategy", "margin", "sz", "released", "closed")]
    + [("pos", f) for f in ("qty", "avg", "notional")]
    + [("strat", f) for f in ("pnl", "fees", "notional", "reserved")]
    + [("day", f) for f in ("alpha", "_all")],
)
def test_the_compare_and_set_checks_every_field_a_fill_is_decided_from(
    redis_client: Any, keys: Keys, monkeypatch: pytest.MonkeyPatch, clock: Clock, key: str, field: str
) -> None:
    """Any one of them moving between the snapshot and the write refuses the write ('changed'), and
    the fill is decided again on fresh reads."""
    import athena.oms.capital as capital

    cap = CapitalCommander(redis_client, keys, make_settings(), clock)
    assert cap.reserve("alpha", "s1", D(300), sz=D(3)).ok
    cap.on_fill(fill("s1", Side.BUY, "1", "50000", "1", "-0.25"), BTC)
    hashes = {
        "res": keys.reservation("s1"), "pos": keys.capital_position("alpha|BTC-USDT-SWAP|net"),
        "strat": keys.capital_strategy("alpha"), "day": keys.capital_day(cap.day()),
    }  # fmt: skip
    real, outcomes = capital._CAS_WRITE, []

    def interfering(r: Any, keys_: list[str], args: list[Any]) -> Any:
        if not outcomes:
            redis_client.hset(hashes[key], field, "7")  # lands after the snapshot
        outcomes.append(capital._s(real(r, keys_, args)))
        return outcomes[-1]

    monkeypatch.setattr(capital, "_CAS_WRITE", interfering)
    assert cap.on_fill(fill("s1", Side.BUY, "1", "50000", "2", "-0.25"), BTC).applied
    assert outcomes == ["changed"]


def test_a_fill_without_a_reservation_is_booked_in_two_round_trips(
    cap: CapitalCommander, redis_client: Any
) -> None:
    cap.on_fill(fill("n0", Side.BUY, "1", "3000", "1", "0", ETH, "beta"), ETH)  # scripts loaded
    before = _calls(redis_client)
    r = cap.on_fill(fill("n1", Side.BUY, "2", "50000", "2", "-0.5"), BTC)
    spent = _spent(before, _calls(redis_client))
    assert r == FillResult(True, "alpha", "BTC-USDT-SWAP", D(0), D("-0.5"), D(2), D(50000), D(0))
    assert spent["evalsha"] == 2 and not {"watch", "multi", "exec"} & spent.keys(), spent
    assert redis_client.hgetall(cap._keys.capital_position("alpha|BTC-USDT-SWAP|net")) == {
        b"strategy": b"alpha", b"instId": b"BTC-USDT-SWAP", b"posSide": b"net", b"qty": b"2",
        b"avg": b"50000", b"cpc": b"0.01", b"notional": b"1000",
    }  # fmt: skip


def test_a_fill_found_booked_at_the_write_answers_without_a_transaction(
    redis_url: str, redis_client: Any, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    import athena.oms.capital as capital

    cap = CapitalCommander(redis_client, keys, make_settings())
    other = CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings())
    assert cap.reserve("alpha", "b1", D(300), sz=D(3)).ok
    cap.on_fill(fill("b1", Side.BUY, "1", "50000", "1", "0"), BTC)  # scripts loaded
    real, the_fill = capital._CAS_WRITE, fill("b1", Side.BUY, "2", "50000", "3", "-0.5")
    calls: list[dict[str, int]] = []

    def interfering(r: Any, keys_: list[str], args: list[Any]) -> Any:
        if not calls:
            calls.append({})
            assert other.on_fill(the_fill, BTC).applied
            calls.append(_calls(redis_client))
        return real(r, keys_, args)

    monkeypatch.setattr(capital, "_CAS_WRITE", interfering)
    assert cap.on_fill(the_fill, BTC) == FillResult(False, "alpha", "BTC-USDT-SWAP")
    assert not {"watch", "multi", "exec"} & _spent(calls[1], _calls(redis_client)).keys()


def test_a_fill_with_its_own_strategy_whose_snapshot_went_stale_stays_that_strategys(
    redis_url: str, redis_client: Any, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    import athena.oms.capital as capital

    cap = CapitalCommander(redis_client, keys, make_settings())
    other = CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings())
    real, outcomes = capital._CAS_WRITE, []

    def interfering(r: Any, keys_: list[str], args: list[Any]) -> Any:
        if not outcomes:
            outcomes.append("other")
            assert other.on_fill(fill("o1", Side.BUY, "1", "50000", "1", "0"), BTC).applied
        outcomes.append(capital._s(real(r, keys_, args)))
        return outcomes[-1]

    monkeypatch.setattr(capital, "_CAS_WRITE", interfering)
    assert cap.on_fill(fill("m1", Side.BUY, "2", "50000", "2", "0"), BTC).strategy == "alpha"
    assert outcomes == ["other", "done", "changed"] and cap.position("BTC-USDT-SWAP", "alpha") == D(3)


@pytest.mark.parametrize("meanwhile", ["another strategy's fill", "the order's reservation"])
def test_a_fill_decided_on_fresh_reads_is_decided_again_when_they_change(
    redis_url: str, redis_client: Any, keys: Keys, meanwhile: str
) -> None:
    """An unclaimed close is booked in a WATCH transaction: the day's total (shared by every strategy)
    and the order's reservation (authoritative for the strategy) changing before its write make it
    decide again."""
    import redis

    cap = CapitalCommander(redis_client, keys, make_settings())
    cap.on_fill(fill("a1", Side.BUY, "1", "50000", "1", "0"), BTC)
    other = CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings())

    def land() -> None:
        if meanwhile == "another strategy's fill":
            assert other.on_fill(fill("e1", Side.BUY, "1", "3000", "1", "-2", ETH, "beta"), ETH).applied
        else:
            assert other.reserve("beta", "x1", D(30)).ok

    racing = CapitalCommander(AtMulti(redis.Redis.from_url(redis_url), land), keys, make_settings())
    r = racing.on_fill(fill("x1", Side.SELL, "1", "50100", "1", "-1", strategy=""), BTC)
    if meanwhile == "another strategy's fill":
        assert r.strategy == "alpha" and cap.daily_realised() == D(-2)  # 1 - 1 for alpha, -2 for beta
    else:
        assert r.strategy == "beta" and cap.position("BTC-USDT-SWAP", "beta") == D(-1)


# -- proportional release ------------------------------------------------------------------------------
def test_proportional_release_rounds_down_and_releases_small_amounts(cap: CapitalCommander) -> None:
    assert cap.reserve("alpha", "p1", D(100), sz=D(3)).ok
    assert cap.on_fill(fill("p1", Side.BUY, "2", "50000", "2", "0"), BTC).released == D("66.66666666")
    assert cap.reservation("p1")["closed"] == "0"
    assert cap.reserve("alpha", "p2", D(2), sz=D(4)).ok
    assert cap.on_fill(fill("p2", Side.BUY, "1", "50000", "1", "0"), BTC).released == D("0.5")
    assert cap.reserved("alpha") == D("34.83333334")  # 33.33333334 + 1.5


def test_a_fill_beyond_the_reserved_size_releases_the_margin_once(cap: CapitalCommander) -> None:
    """An order amended to a larger size fills past the size reserved: the margin is released in full,
    never more."""
    assert cap.reserve("alpha", "g1", D(300), sz=D(2)).ok
    assert cap.on_fill(fill("g1", Side.BUY, "1", "50000", "1", "0"), BTC).released == D(150)
    assert cap.on_fill(fill("g1", Side.BUY, "2", "50000", "3", "0"), BTC).released == D(150)
    assert cap.reserved("alpha") == 0 and cap.errors().clamps == 0 and cap.open_reservations() == []


def test_an_earlier_fill_arriving_late_releases_nothing_more(cap: CapitalCommander) -> None:
    assert cap.reserve("alpha", "o1", D(300), sz=D(3)).ok
    assert cap.on_fill(fill("o1", Side.BUY, "2", "50000", "2", "0"), BTC).released == D(200)
    assert cap.on_fill(fill("o1", Side.BUY, "1", "50000", "1", "0"), BTC).released == 0  # out of order
    assert cap.reservation("o1")["released"] == "200"
    assert cap.release("o1") == D(100)
    assert cap.reserved("alpha") == 0 and cap.errors().clamps == 0


def test_a_late_fill_of_a_released_order_leaves_its_reservation_as_released(
    cap: CapitalCommander, keys: Keys, redis_client: Any
) -> None:
    assert cap.reserve("alpha", "c1", D(300), sz=D(2)).ok
    assert cap.release("c1") == D(300)
    before = cap.reservation("c1")
    redis_client.expire(keys.reservation("c1"), 1000)
    assert cap.on_fill(fill("c1", Side.BUY, "2", "50000", "2", "0"), BTC).released == 0
    assert cap.reservation("c1") == before and 0 < redis_client.ttl(keys.reservation("c1")) <= 1000
    assert cap.reserved("alpha") == 0 and cap.errors().clamps == 0


def test_a_second_release_writes_nothing(cap: CapitalCommander, keys: Keys, redis_client: Any) -> None:
    assert cap.reserve("alpha", "r1", D(300), sz=D(2)).ok
    assert cap.release("r1") == D(300)
    redis_client.expire(keys.reservation("r1"), 1000)
    before = _calls(redis_client)
    assert cap.release("r1") == 0
    assert not {"multi", "exec", "hset", "expire"} & _spent(before, _calls(redis_client)).keys()


# -- views: one snapshot, every position, every strategy ----------------------------------------------
def test_a_consistent_view_lists_the_strategies_and_positions_of_its_snapshot(
    redis_url: str, cap: CapitalCommander, keys: Keys
) -> None:
    import redis

    assert cap.strategies() == ["alpha", "beta"]  # configured, before anything is booked
    cap.on_fill(fill("a1", Side.BUY, "1", "50000", "1", "0"), BTC)
    cap.on_fill(fill("b1", Side.SELL, "2", "3000", "2", "0", ETH, "beta"), ETH)
    outside = cap.positions()
    assert [(p.strategy, p.qty) for p in outside] == [("alpha", D(1)), ("beta", D(-2))]
    other = CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings())
    with cap.consistent_view():
        assert cap.free("alpha") == D(4750)  # the snapshot is taken
        assert other.on_fill(fill("g1", Side.BUY, "1", "50000", "1", "0", strategy="gamma"), BTC).applied
        assert cap.positions() == outside and cap.strategies() == ["alpha", "beta"]
        assert cap.positions("beta") == outside[1:] and cap.positions("alpha") == outside[:1]
    assert cap.strategies() == ["alpha", "beta", "gamma"] and len(cap.positions()) == 3


def test_unrealised_and_exposure_count_every_open_position_once(cap: CapitalCommander) -> None:
    cap.on_fill(fill("f1", Side.BUY, "1", "50000", "1", "0", strategy="aardvark"), BTC)
    cap.on_fill(fill("f2", Side.SELL, "1", "50000", "1", "0", strategy="aardvark"), BTC)  # flat, listed first
    cap.on_fill(fill("a1", Side.BUY, "10", "50000", "10", "0"), BTC)
    cap.on_fill(fill("a2", Side.SELL, "2", "3000", "2", "0", ETH, "alpha"), ETH)
    cap.on_fill(fill("b1", Side.BUY, "2", "50000", "2", "0", strategy="beta"), BTC)
    u = cap.unrealised({"BTC-USDT-SWAP": D(51000)})  # no ETH mark: alpha's ETH is missing, beta still counts
    assert (u.total, u.by_strategy, u.missing) == (
        D(120),
        {"alpha": D(100), "beta": D(20)},
        ("ETH-USDT-SWAP",),
    )
    u = cap.unrealised({"BTC-USDT-SWAP": D(51000), "ETH-USDT-SWAP": D(2900)})
    assert (u.total, u.by_strategy, u.missing) == (D(140), {"alpha": D(120), "beta": D(20)}, ())
    marks = {"BTC-USDT-SWAP": D(51000), "ETH-USDT-SWAP": D(2900)}
    assert cap.gross_exposure(marks) == D(6700)  # 5100 + 580 + 1020
    assert cap.gross_exposure({"BTC-USDT-SWAP": D(51000)}) == D(6720)  # ETH at its entry price
    assert cap.gross_exposure(marks, cap.positions("beta")) == D(1020)


# -- equity, high-water mark and the snapshot ----------------------------------------------------------
def test_update_equity_records_equity_and_the_high_water_mark_with_their_times(
    cap: CapitalCommander, clock: Clock, keys: Keys, redis_client: Any
) -> None:
    def base() -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in redis_client.hgetall(keys.capital).items()}

    assert cap.high_water_mark() == D(10000)  # nothing recorded yet
    t0 = int(DAY1 * 1000)
    assert cap.update_equity({}).drawdown == 0
    assert base() == {"hwm": "10000", "hwm_ts": str(t0), "equity": "10000", "equity_ts": str(t0)}
    cap.on_fill(fill("h1", Side.BUY, "100", "50000", "100", "0"), BTC)
    clock.t += 60
    assert cap.update_equity({"BTC-USDT-SWAP": D(50100)}).hwm == D(10100)
    t1 = t0 + 60_000
    assert base() == {"hwm": "10100", "hwm_ts": str(t1), "equity": "10100", "equity_ts": str(t1)}
    clock.t += 60
    st = cap.update_equity({"BTC-USDT-SWAP": D(50100)})  # equal to the mark: not raised again
    assert (st.hwm, st.drawdown) == (D(10100), 0)
    assert base() == {"hwm": "10100", "hwm_ts": str(t1), "equity": "10100", "equity_ts": str(t1 + 60_000)}
    cap.on_fill(fill("h2", Side.BUY, "10", "3000", "10", "0", ETH, "beta"), ETH)
    cap.on_fill(fill("h3", Side.SELL, "10", "5000", "10", "0", ETH, "beta"), ETH)  # +2000
    st = cap.update_equity({})  # above the hwm but incomplete: the hwm waits, and that is no drawdown
    assert (st.equity, st.hwm, st.drawdown, st.complete) == (D(12000), D(10100), 0, False)


def test_the_snapshot_reports_each_strategy_its_own_figures(cap: CapitalCommander) -> None:
    assert cap.reserve("alpha", "s1", D(100), sz=D(1)).ok
    cap.on_fill(fill("a1", Side.BUY, "10", "50000", "10", "-2.5"), BTC)
    cap.on_fill(fill("b1", Side.BUY, "2", "3000", "2", "-0.3", ETH, "beta"), ETH)
    cap.on_fill(fill("b2", Side.SELL, "1", "3100", "1", "-0.31", ETH, "beta"), ETH)
    assert cap.on_funding("f1", "ETH-USDT-SWAP", D("-0.5")).shares == {"beta": D("-0.5")}
    snap = cap.snapshot({"BTC-USDT-SWAP": D(50100), "ETH-USDT-SWAP": D(3050)})
    alpha = StrategyCapital(
        name="alpha", allocation=D(5000), reserved=D(100), used_margin=D(2500), free=D(2400),
        realised=D("-2.5"), fees=D("-2.5"), daily_realised=D("-2.5"), unrealised=D(10), funding=D(0),
    )  # fmt: skip
    beta = StrategyCapital(
        name="beta", allocation=D(3000), reserved=D(0), used_margin=D(100), free=D(2900),
        realised=D("8.89"), fees=D("-0.61"), daily_realised=D("8.89"), unrealised=D(5), funding=D("-0.5"),
    )  # fmt: skip
    assert snap == CapitalSnapshot(
        ts=int(DAY1 * 1000), day="20260528", total_capital=D(10000), realised=D("6.39"), fees=D("-3.11"),
        unrealised=D(15), equity=D("10021.39"), hwm=D("10021.39"), drawdown=D(0), daily_realised=D("6.39"),
        reserved=D(100), strategies=(alpha, beta), missing_marks=(), funding=D("-0.5"),
    )  # fmt: skip


class TickingClock:
    """A clock one second later at every read."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        self.t += 1
        return self.t - 1


def test_a_snapshot_taken_across_midnight_reports_one_day(redis_client: Any, keys: Keys) -> None:
    midnight = 1_780_012_800.0  # 2026-05-29 00:00 UTC
    cap = CapitalCommander(redis_client, keys, make_settings(), TickingClock(midnight - 2))
    ts = int((midnight - 60) * 1000)
    cap.on_fill(replace(fill("a1", Side.BUY, "1", "50000", "1", "-1"), ts=ts), BTC)
    snap = cap.snapshot({"BTC-USDT-SWAP": D(50000)})  # equity read at 23:59:58, the day at 23:59:59
    assert snap.day == "20260528" and snap.daily_realised == D(-1)
    assert [s.daily_realised for s in snap.strategies] == [D(-1), D(0)]


def test_the_day_is_the_utc_day_whatever_the_machine_zone(
    cap: CapitalCommander, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: already the 29th there
    time.tzset()
    try:
        assert cap.day(int(DAY1 * 1000)) == "20260528" and cap.day() == "20260528"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_empty_ledger_reports_decimal_zeros(redis_client: Any, keys: Keys) -> None:
    cap = CapitalCommander(redis_client, keys, Settings(), Clock())
    figures = [
        cap.realised(), cap.fees(), cap.reserved(), cap.funding(), cap.position("BTC-USDT-SWAP"),
        cap.unrealised({}).total,
    ]  # fmt: skip
    assert figures == [0] * 6 and all(type(v) is D for v in figures)
    d = cap.snapshot().to_dict()
    assert [d[k] for k in ("realised", "fees", "reserved", "funding", "unrealised")] == ["0"] * 5


def test_a_position_whose_hash_is_gone_is_skipped_not_the_end_of_the_list(
    cap: CapitalCommander, keys: Keys, redis_client: Any
) -> None:
    """A namespace being cleared key by key (backtest, research) can leave an ident without its hash."""
    cap.on_fill(fill("a1", Side.BUY, "1", "50000", "1", "0"), BTC)
    cap.on_fill(fill("b1", Side.BUY, "1", "3000", "1", "0", ETH, "beta"), ETH)
    redis_client.delete(keys.capital_position("alpha|BTC-USDT-SWAP|net"))
    assert [(p.strategy, p.instId) for p in cap.positions()] == [("beta", "ETH-USDT-SWAP")]


def test_an_order_reserved_meanwhile_by_another_process_is_reserved_once(
    redis_url: str, redis_client: Any, keys: Keys
) -> None:
    """Two processes reserving one clOrdId for different strategies: the one whose reads went stale
    decides again (the reservation exists) instead of overwriting it."""
    import redis

    cap = CapitalCommander(redis_client, keys, make_settings())
    other = CapitalCommander(redis.Redis.from_url(redis_url), keys, make_settings())
    racing = CapitalCommander(
        AtMulti(redis.Redis.from_url(redis_url), lambda: other.reserve("beta", "r1", D(30))),
        keys,
        make_settings(),
    )
    assert racing.reserve("alpha", "r1", D(100)).code == "duplicate"
    assert cap.reserved("alpha") == 0 and cap.reserved("beta") == D(30) and cap.audit() == []
    assert cap.reservation("r1")["strategy"] == "beta"


def test_a_first_reserve_in_a_view_is_one_compare_and_set(cap: CapitalCommander, redis_client: Any) -> None:
    """A strategy that never reserved has no reserved field: the compare-and-set expects none."""
    with cap.consistent_view():
        assert cap.reserve("beta", "b1", D(10)).ok  # the script is loaded
    with cap.consistent_view():
        cap.free("alpha")
        before = _calls(redis_client)
        assert cap.reserve("alpha", "a1", D(10)).ok
        spent = _spent(before, _calls(redis_client))
    assert spent.get("evalsha") == 1 and not {"watch", "multi", "exec"} & spent.keys(), spent


def test_a_replayed_fill_answers_with_its_order_s_strategy_and_instrument(cap: CapitalCommander) -> None:
    assert cap.reserve("beta", "r1", D(300), sz=D(1)).ok
    the_fill = fill("r1", Side.BUY, "1", "3000", "1", "0", ETH, "")  # the reservation names the strategy
    assert cap.on_fill(the_fill, ETH).strategy == "beta"
    assert cap.on_fill(the_fill, ETH) == FillResult(False, "beta", "ETH-USDT-SWAP")


def test_funding_adds_up_a_strategy_s_long_and_short_positions(cap: CapitalCommander) -> None:
    """In long/short mode one strategy can hold both sides of an instrument: its share is their sum."""
    cap.on_fill(replace(fill("l1", Side.BUY, "2", "50000", "2", "0"), posSide=PosSide.LONG), BTC)
    cap.on_fill(replace(fill("s1", Side.SELL, "1", "50000", "1", "0"), posSide=PosSide.SHORT), BTC)
    cap.on_fill(fill("b1", Side.BUY, "5", "50000", "5", "0", strategy="beta"), BTC)
    # net 6 charged: alpha 2 - 1 = 1 of them, beta (the largest holder) 5
    assert cap.funding_shares("BTC-USDT-SWAP", D(-6)) == {"alpha": D(-1), "beta": D(-5)}


def test_the_snapshot_of_a_flat_strategy_and_a_missing_mark(cap: CapitalCommander) -> None:
    cap.on_fill(fill("a1", Side.BUY, "1", "50000", "1", "0"), BTC)
    snap = cap.snapshot()  # no marks
    assert snap.missing_marks == ("BTC-USDT-SWAP",) and snap.unrealised == 0
    assert [(s.name, s.unrealised) for s in snap.strategies] == [("alpha", D(0)), ("beta", D(0))]
    assert all(type(s.unrealised) is D for s in snap.strategies)
