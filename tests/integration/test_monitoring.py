"""Monitoring against real parts: a real Redis, the simulator over real HTTP, a real Engine, alerts
delivered over HTTP to a local recording server.

- the account metrics (AccountCollector) after a real order: placed, filled, booked, its stop placed on
  the exchange: each value against the ledger, the journal and the simulator's own state;
- alerts raised where things happen: the halt switch, the drawdown breaker, the sync breaker opening
  and closing, a ledger drift corrected by a sync, a refused stop;
- the watcher's conditions over time (injected clocks): a position unprotected for N s (and the
  unprotected-seconds counter), an order ambiguous for N s, a heartbeat that stopped, a WebSocket down.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from athena import alerts
from athena.alerts.notifier import Notifier
from athena.alerts.sinks import WebhookSink
from athena.alerts.summary import daily_summary
from athena.domain import Fill, Order, OrderRequest, OrdType, PosSide, Side
from athena.engine import Engine
from athena.observe.collect import AccountCollector, ExchangeStops
from athena.observe.metrics import ORDER_LATENCY, REGISTRY, UNPROTECTED_SECONDS
from athena.observe.watch import Watcher
from athena.oms.stops import StopRequest, stop_id_for
from athena.ops import housekeeping, placement, reconcile
from athena.ops import stops as stop_ops
from athena.ops import sync as sync_ops
from athena.ops.errors import BreakerOpen
from athena.queues import AccountQueues
from athena.sim.client import SimClient
from athena.sim.server import SimServer
from athena.state.journal import Journal
from athena.state.workers import WorkerRegistry, identity_of
from tests.recording_http import RecordingServer

BTC = "BTC-USDT-SWAP"
POSITIONS = "/api/v5/account/positions"
_accounts = itertools.count(1)


class HeldClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def clock() -> HeldClock:
    import time

    return HeldClock(time.time())


@pytest.fixture()
def eng(sim: SimServer, clock: HeldClock, sim_engine: Callable[..., Engine]) -> Engine:
    return sim_engine(
        sim,
        "monitor",
        account_kw={"clock": clock, "shared_clock": clock},
        ATHENA_SYMBOLS=BTC,
        OKX_WS_PUBLIC_URL=sim.ws_url("public"),
        OKX_WS_PRIVATE_URL=sim.ws_url("private"),
        ATHENA__schedule__breaker_threshold="1",
        ATHENA__schedule__breaker_open_s="5",
    )


@pytest.fixture()
def hook(http_recorder: RecordingServer) -> Iterator[RecordingServer]:
    """Alerts of this process go to the recording server's /hook (the generic JSON webhook)."""
    notifier = Notifier([WebhookSink(f"{http_recorder.url}/hook", 2.0)], rate_window_s=300)
    previous = alerts.install(notifier)
    yield http_recorder
    alerts.install(previous)


def sent(hook: RecordingServer) -> list[dict[str, Any]]:
    notifier = alerts.current()
    assert notifier is not None and notifier.flush(5.0)
    return list(hook.bodies("/hook"))


def samples(collector: AccountCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value for fam in collector.collect() for s in fam.samples
    }


def value(collector: AccountCollector, metric: str, **labels: str) -> float:
    return samples(collector)[(metric, tuple(sorted(labels.items())))]


def open_position(eng: Engine, sim: SimServer, clOrdId: str, sz: Decimal) -> StopRequest:
    """A market buy placed and filled on the simulator, booked (by a reconcile's query); returns the stop
    request the OMS made for it (kept by the RecordingSender, not placed)."""
    bid = Decimal(SimClient(sim.url).admin("state")["markets"][BTC]["bid"])
    eng.marks.set(BTC, bid)
    req = OrderRequest(
        clOrdId=clOrdId,
        instId=BTC,
        side=Side.BUY,
        ordType=OrdType.MARKET,
        sz=sz,
        strategy=eng.settings.strategies[0].name,
        stop_loss_px=(bid * Decimal("0.995")).quantize(Decimal("0.1")),
    )  # within risk_per_trade
    assert placement.place(eng, req).status == "acked"
    reconcile.reconcile(eng)
    return next(s for s in eng.sender.stops if isinstance(s, StopRequest) and s.entryClOrdId == clOrdId)  # type: ignore[attr-defined]


# -- the account's metrics after a real trade ---------------------------------------------------------
def test_account_metrics_match_the_ledger_the_journal_and_the_exchange(eng: Engine, sim: SimServer) -> None:
    client = SimClient(sim.url)
    bid = Decimal(client.admin("state")["markets"][BTC]["bid"])
    eng.marks.set(BTC, bid)
    strategy = eng.settings.strategies[0].name  # config/base.json's scalpbtc trades BTC
    req = OrderRequest(
        clOrdId="mon1buy",
        instId=BTC,
        side=Side.BUY,
        ordType=OrdType.MARKET,
        sz=Decimal(2),
        strategy=strategy,
        stop_loss_px=(bid * Decimal("0.98")).quantize(Decimal("0.1")),
    )
    acks = ORDER_LATENCY._sum.get(), sum(b.get() for b in ORDER_LATENCY._buckets)  # type: ignore[attr-defined]
    assert placement.place(eng, req).status == "acked"
    assert sum(b.get() for b in ORDER_LATENCY._buckets) == acks[1] + 1  # type: ignore[attr-defined]
    reconcile.reconcile(eng)  # the fill, found by a query, is booked (capital, ledger, journal)
    journal = Journal(eng.settings.db_url)
    collector = AccountCollector(eng, journal, ExchangeStops(eng, eng.rest, max_age_s=0))
    try:
        fills = journal.fills()
        assert len(fills) >= 1 and sum(f.fillSz for f in fills) == 2
        pos = [p for p in client.admin("state")["positions"] if Decimal(p["pos"] or "0") != 0]
        assert [Decimal(p["pos"]) for p in pos] == [Decimal(2)]  # the exchange holds it
        assert value(collector, "athena_position_contracts", instId=BTC, strategy=strategy) == 2
        assert value(collector, "athena_fills_total") == len(fills)
        assert value(collector, "athena_orders_total", outcome="filled") == 1
        assert value(collector, "athena_orders_total", outcome="rejected") == 0
        fees = eng.capital.fees()
        assert (
            fees == sum((f.fee for f in fills), Decimal(0)) and fees < 0
        )  # the ledger's fees are the fills'
        assert value(collector, "athena_fees_usdt_total") == float(fees)
        assert value(collector, "athena_realised_pnl_usdt") == float(eng.capital.realised())
        marks = {BTC: bid}
        equity = eng.capital.total_capital + eng.capital.realised() + eng.capital.unrealised(marks).total
        assert value(collector, "athena_equity_usdt", account=eng.settings.account, strategy="all") == float(
            equity
        )
        assert value(collector, "athena_halted") == 0
        assert value(collector, "athena_breaker_open", name="sync_positions") == 0
        # no stop on the exchange yet (the RecordingSender only kept the request, which the OMS recorded
        # as asked for): uncovered, on the exchange's word
        assert [a.algoClOrdId for a in eng.algos.working()] == [stop_id_for("mon1buy")]
        assert value(collector, "athena_position_stop_covered", instId=BTC) == 0
        [stop] = [s for s in eng.sender.stops if isinstance(s, StopRequest)]  # type: ignore[attr-defined]
        assert stop_ops.ensure_stop(eng, stop).status == "placed"
        algos = client.admin("state")["algos"]
        assert sum(Decimal(a["sz"]) for a in algos if a["instId"] == BTC) >= 2
        assert value(collector, "athena_position_stop_covered", instId=BTC) == 1
        # a refusal is counted by its code
        eng.halt.halt("metrics test", who="test")
        req2 = OrderRequest(
            clOrdId="mon2buy",
            instId=BTC,
            side=Side.BUY,
            ordType=OrdType.MARKET,
            sz=Decimal(1),
            strategy=strategy,
            stop_loss_px=stop.slTriggerPx,
        )
        assert placement.place(eng, req2).status == "rejected"
        assert value(collector, "athena_rejects_total", code="halted") == 1
        assert value(collector, "athena_orders_total", outcome="rejected") == 1
        assert value(collector, "athena_halted") == 1
    finally:
        journal.close()


# -- alerts where things happen ------------------------------------------------------------------------
def test_halt_breaker_drift_and_drawdown_alerts(
    eng: Engine, sim: SimServer, hook: RecordingServer, clock: HeldClock
) -> None:
    eng.halt.halt("operator says stop", who="alice")
    assert not eng.halt.halt("again", who="bob")  # already halted: no second alert
    [halt] = sent(hook)
    assert halt["event"] == "halt" and halt["fields"] == {"reason": "operator says stop", "who": "alice"}
    eng.halt.resume()

    # the sync breaker (threshold 1 here) opens on a 5xx, closes on the first success after its pause
    client = SimClient(sim.url)
    client.admin("faults", {"rest_5xx": {"rate": 1.0, "path": POSITIONS}})
    with pytest.raises(BreakerOpen):
        sync_ops.sync_positions(eng, gated=False)
    client.admin("faults", {"rest_5xx": {"rate": 0.0, "path": POSITIONS}})
    clock.t += 6  # past breaker_open_s: half-open
    sync_ops.sync_positions(eng, gated=False)
    breakers = [a for a in sent(hook) if a["event"] == "breaker"]
    assert [a["fields"]["state"] for a in breakers] == ["opened", "closed"]
    assert "HTTP" in breakers[0]["text"] or "5" in breakers[0]["text"]

    # a ledger position the exchange does not have: corrected by the sync once settled, and told
    fill = Fill(
        "ghost1",
        BTC,
        Side.BUY,
        PosSide.NET,
        Decimal(1),
        Decimal(50000),
        Decimal(1),
        strategy="scalpbtc",
        ts=int(clock.t * 1000),
    )
    assert eng.positions.on_fill(fill)
    clock.t += 60
    # the exchange lists no position: when it went flat is unknown, so the first sync only notes it
    assert sync_ops.sync_positions(eng, gated=False).pending
    clock.t += 60
    report = sync_ops.sync_positions(eng, gated=False)
    assert report.drift, report
    [drift] = [a for a in sent(hook) if a["event"] == "ledger_drift"]
    assert drift["fields"] == {"instId": BTC, "posSide": "net", "ledger_sz": "1", "exchange_sz": "0"}
    journal = Journal(eng.settings.db_url)
    try:
        assert value(AccountCollector(eng, journal), "athena_reconcile_drift_total") == 1
    finally:
        journal.close()

    # the drawdown breaker: a realised loss past the daily limit (3% of 10000) halts, and says so
    inst = eng.instruments[BTC]
    big = (Decimal(400) / inst.ctVal / Decimal(1000)).quantize(inst.lotSz)  # a 1000 USD move = -400 USDT
    eng.capital.on_fill(
        Fill("dd1", BTC, Side.BUY, PosSide.NET, big, Decimal(50000), big, strategy="scalpbtc"), inst
    )
    eng.capital.on_fill(
        Fill("dd2", BTC, Side.SELL, PosSide.NET, big, Decimal(49000), big, strategy="scalpbtc"), inst
    )
    rep = housekeeping.check_drawdown(eng)
    assert rep["breached"] == "daily_loss", rep
    events = [a["event"] for a in sent(hook)]
    assert events.count("drawdown") == 1 and events[-2:] in (["halt", "drawdown"], ["drawdown", "halt"])
    housekeeping.check_drawdown(eng)  # still breached: the same key, inside the rate window
    assert [a["event"] for a in sent(hook)].count("drawdown") == 1


def test_a_refused_stop_is_an_alert(eng: Engine, hook: RecordingServer) -> None:
    eng.orders._error(
        "stop_failed",
        "stop s1 rejected: 51277 trigger price above the last price",
        {"clOrdId": "entry1", "algoClOrdId": "s1"},
    )
    [alert] = sent(hook)
    assert alert["event"] == "stop_failed" and alert["key"] == "stop_failed:entry1"
    assert "51277" in alert["text"] and alert["severity"] == "critical"


def test_daily_summary_reports_the_days_pnl(eng: Engine, hook: RecordingServer, clock: HeldClock) -> None:
    from datetime import UTC, datetime

    day = datetime.fromtimestamp(clock.t, UTC).strftime("%Y%m%d")
    inst, ts = eng.instruments[BTC], int(clock.t * 1000)
    for cl, side, px in (("sum1", Side.BUY, "50000"), ("sum2", Side.SELL, "50100")):  # +1 USDT a contract
        fill = Fill(
            cl,
            BTC,
            side,
            PosSide.NET,
            Decimal(1),
            Decimal(px),
            Decimal(1),
            fee=Decimal("-0.25"),
            strategy="scalpbtc",
            ts=ts,
        )
        eng.capital.on_fill(fill, inst)
        eng.journal.record_fill(fill)
    out = daily_summary(eng, day)
    [alert] = sent(hook)
    assert alert["event"] == "daily_summary" and alert["fields"] == out and out["day"] == day
    gross = Decimal(100) * inst.ctVal  # 100 USD on one contract
    assert Decimal(out["realised"]) == gross - Decimal("0.5") == eng.capital.daily_realised()
    assert out["fees"] == "-0.50" and out["fills"] == 2 and out["funding"] == "0"
    assert Decimal(out["equity"]) == eng.capital.total_capital + gross - Decimal("0.5")
    assert daily_summary(eng, "20200101")["fills"] == 0  # another day: nothing of today's


# -- conditions over time (the watcher) ----------------------------------------------------------------
def test_watcher_unprotected_ambiguous_heartbeat_and_websocket(
    eng: Engine, sim: SimServer, hook: RecordingServer, clock: HeldClock
) -> None:
    failures = REGISTRY.get_sample_value("athena_alert_sink_failures_total", {"sink": "webhook"}) or 0.0
    mono = HeldClock(100.0)
    watcher = Watcher("orders", eng, stops=ExchangeStops(eng, eng.rest, max_age_s=0), clock=mono, wall=clock)
    stop = open_position(eng, sim, "wat1buy", Decimal(3))  # on the exchange, its stop not placed yet
    before = UNPROTECTED_SECONDS._value.get()  # type: ignore[attr-defined]
    for _ in range(16):
        watcher.sample()
        mono.t += 1
    watcher.sample()
    assert UNPROTECTED_SECONDS._value.get() - before == 16  # type: ignore[attr-defined]
    [unprotected] = [a for a in sent(hook) if a["event"] == "unprotected"]
    assert unprotected["fields"]["instId"] == BTC and unprotected["fields"]["seconds"] >= 15
    assert stop_ops.ensure_stop(eng, stop).status == "placed"  # now the exchange lists it
    mono.t += 1
    watcher.sample()
    assert watcher.uncovered_since == {}
    mono.t += 1
    watcher.sample()
    assert UNPROTECTED_SECONDS._value.get() - before == 16  # type: ignore[attr-defined]

    # an order whose outcome stays unknown
    req = OrderRequest(
        clOrdId="amb1",
        instId=BTC,
        side=Side.BUY,
        ordType=OrdType.LIMIT,
        sz=Decimal(1),
        px=Decimal(40000),
        strategy="scalpbtc",
    )
    eng.store.create(Order(req=req, cTime=int(clock.t * 1000), uTime=int(clock.t * 1000)))
    eng.orders.mark_ambiguous("amb1")
    watcher.sample()
    assert not [a for a in sent(hook) if a["event"] == "ambiguous"]  # not yet: 60 s by default
    clock.t += 61
    watcher.sample()
    [amb] = [a for a in sent(hook) if a["event"] == "ambiguous"]
    assert amb["fields"]["clOrdId"] == "amb1"

    # another worker of this deployment whose heartbeat stopped 40 s ago
    queues = AccountQueues(eng.settings.account)
    WorkerRegistry(eng.redis, clock=lambda: clock.t - 40).register(
        [queues.stream], "stream-x@otherhost", "stream", identity_of(eng.settings)
    )
    watcher.me = ("this-host", -1)  # the registration above carries this process's pid
    watcher.sample()
    [hb] = [a for a in sent(hook) if a["event"] == "heartbeat"]
    assert hb["fields"]["node"] == "stream-x@otherhost" and hb["fields"]["seconds"] >= 40

    # the stream worker's view: a WebSocket that stays down
    ws = {"public": {"state": "ready"}, "private": {"state": "connecting"}}
    stream = Watcher("stream", eng, status=lambda: {"ws": ws}, clock=mono, wall=clock)
    stream.me = watcher.me
    stream.sample()
    mono.t += 29
    stream.sample()
    assert not [a for a in sent(hook) if a["event"] == "ws_down"]
    mono.t += 2
    stream.sample()
    [down] = [a for a in sent(hook) if a["event"] == "ws_down"]
    assert down["fields"]["conn"] == "private" and down["fields"]["state"] == "connecting"
    ws["private"] = {"state": "ready"}
    stream.sample()
    assert stream.down_since == {}
    assert (
        REGISTRY.get_sample_value("athena_alert_sink_failures_total", {"sink": "webhook"}) or 0.0
    ) == failures


def test_a_halt_from_the_cli_is_told_before_it_exits(
    redis_url: str, tmp_path: Path, http_recorder: RecordingServer
) -> None:
    """`athena halt` sets the switch itself (no worker needed): its process delivers the alert at exit."""
    import os
    import subprocess
    import sys

    from athena import procs

    token = "99999:cli-bot-token-secret"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHENA_", "OKX_", "REDIS_"))}
    env.update(
        {
            "ATHENA_ENV": "test",
            "REDIS_URL": redis_url,
            "ATHENA_DB_URL": f"sqlite:///{tmp_path}/a.db",
            "ATHENA_ACCOUNT": f"clihalt{next(_accounts)}",
            "ATHENA_TELEGRAM_BOT_TOKEN": token,
            "ATHENA_TELEGRAM_CHAT_ID": "42",
            "ATHENA__alerts__telegram_api_url": http_recorder.url,
        }
    )
    proc = procs.run(
        [sys.executable, "-m", "athena.cli", "halt", "--reason", "desk says stop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    [body] = http_recorder.bodies(f"/bot{token}/sendMessage")
    assert body["chat_id"] == "42" and "HALTED by cli: desk says stop" in body["text"]
    assert token not in proc.stdout + proc.stderr


def test_the_rate_limit_holds_across_processes_and_fails_open(
    redis_client: Any, http_recorder: RecordingServer
) -> None:
    """Two workers (two notifiers on one Redis) see the same condition: it is sent once. Without Redis the
    alert still goes out."""
    from athena.alerts import events
    from athena.alerts.notifier import SharedGate
    from athena.state.keys import Keys
    from athena.testing.redis_server import free_port

    keys = Keys("test", f"gate{next(_accounts)}")
    hook = f"{http_recorder.url}/hook"
    a = Notifier([WebhookSink(hook, 2.0)], rate_window_s=60, shared=SharedGate(redis_client, keys))
    b = Notifier([WebhookSink(hook, 2.0)], rate_window_s=60, shared=SharedGate(redis_client, keys))
    import redis as redis_lib

    down = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    c = Notifier([WebhookSink(hook, 2.0)], rate_window_s=60, shared=SharedGate(down, keys))
    try:
        assert a.notify(events.unprotected(BTC, 16, "3", "0"))
        assert a.flush(5.0)
        assert b.notify(
            events.unprotected(BTC, 17, "3", "0")
        )  # passes b's own limit; the shared one holds it
        assert b.flush(5.0)
        assert [x["key"] for x in http_recorder.bodies("/hook")] == [f"unprotected:{BTC}"]
        assert 0 < redis_client.pttl(keys.alert_gate(f"unprotected:{BTC}")) <= 60_000
        assert b.notify(events.unprotected("ETH-USDT-SWAP", 16, "1", "0"))  # another key goes
        assert c.notify(events.unprotected(BTC, 18, "3", "0"))  # Redis down: sent anyway
        assert b.flush(5.0) and c.flush(5.0)
        assert sorted(
            (x["fields"]["instId"], x["fields"]["seconds"]) for x in http_recorder.bodies("/hook")
        ) == [(BTC, 16), (BTC, 18), ("ETH-USDT-SWAP", 16)]
    finally:
        for n in (a, b, c):
            n.close(0.5)
        down.close()
