"""The metrics endpoints of the real workers: the stack trades in the simulator (ScalperV1 on ticks),
both /metrics endpoints are scraped over HTTP, and every figure is checked against its source: the
capital ledger in Redis, the journal, and the simulator's own positions and stops."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from athena.process.launch import Stack, StackConfig
from athena.procs import wait_until
from athena.state.journal import Journal
from athena.wiring import account
from tests.e2e.stacks import BTC, EAGER_SCALPER
from tests.recording_http import RecordingServer
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str | None) -> Samples:
    assert url is not None
    r = requests.get(url, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(r.text)
        for s in fam.samples
    }


def get(samples: Samples, metric: str, **labels: str) -> float | None:
    return samples.get((metric, tuple(sorted(labels.items()))))


def exchange_position(stack: Stack) -> Decimal:
    return sum(
        (Decimal(p["pos"] or "0") for p in stack.sim_admin("state")["positions"] if p["instId"] == BTC),
        Decimal(0),
    )


def exchange_stops(stack: Stack) -> Decimal:
    return sum(
        (
            Decimal(a["sz"])
            for a in stack.sim_admin("state")["algos"]
            if a["instId"] == BTC and a.get("slTriggerPx")
        ),
        Decimal(0),
    )


def test_both_workers_serve_metrics_that_match_the_ledger_and_the_exchange(
    tmp_path: Path, http_recorder: RecordingServer
) -> None:
    # alerts on (a webhook to the recording server): the halt below is told by the orders worker
    cfg = StackConfig(
        var_dir=tmp_path,
        symbols=[BTC],
        sim_tick_ms=50,
        beat=False,
        metrics=True,
        config={"strategies": [EAGER_SCALPER]},
        env={"ATHENA_ALERT_WEBHOOK_URL": f"{http_recorder.url}/hook"},
    )
    with Stack(cfg) as stack:
        # the strategy opens a position from ticks; its fill's stop goes out from the stream worker
        assert wait_until(lambda: exchange_position(stack) != 0, 90, interval=0.2), "no position within 90 s"
        # entries halted so the account holds still (exits may still close it: compared when settled)
        assert (
            stack.send_task("athena.halt", kwargs={"reason": "metrics check"}, timeout=30)["halted"] is True
        )
        settings = stack.settings()
        acct = account(settings)
        journal = Journal(settings.db_url)
        try:

            def settled() -> tuple[Samples, Samples] | None:
                orders, stream = scrape(stack.metrics_url("orders")), scrape(stack.metrics_url("stream"))
                pos = exchange_position(stack)
                ledger = acct.capital.position(BTC, "scalpbtc")
                covered = exchange_stops(stack) >= abs(pos)
                if (
                    (get(orders, "athena_position_contracts", instId=BTC, strategy="scalpbtc") or 0)
                    != float(pos)
                    or ledger != pos
                    or not covered
                    or get(orders, "athena_fills_total") != len(journal.fills())
                    or get(orders, "athena_position_stop_covered", instId=BTC) != 1
                ):
                    return None
                return orders, stream

            orders, stream = wait_for(
                settled, 30, "the metrics to match the ledger and the exchange", interval=0.5
            )
            check_orders(orders, acct, journal, settings.account)
            check_stream(stream)
            [halt] = wait_for(
                lambda: [b for b in http_recorder.bodies("/hook") if b["event"] == "halt"],
                10,
                "the orders worker's halt alert",
            )
            assert halt["fields"]["reason"] == "metrics check" and halt["account"] == settings.account
            assert wait_for(
                lambda: (
                    get(
                        scrape(stack.metrics_url("orders")),
                        "athena_alerts_sent_total",
                        sink="webhook",
                        event="halt",
                    )
                    == 1
                ),
                10,
                "the delivery counted",
            )
        finally:
            journal.close()
            acct.close()
    assert stack.survivors() == []


def check_orders(m: Samples, acct: Any, journal: Journal, account_name: str) -> None:
    cap = acct.capital
    fills = journal.fills()
    assert len(fills) >= 1 and get(m, "athena_fills_total") == len(fills)
    filled = [o for o in journal.orders() if str(o.state) == "filled"]
    assert get(m, "athena_orders_total", outcome="filled") == len(filled) >= 1
    # the ledger's money, to the cent (the endpoint turns Decimals into floats at the end only)
    assert get(m, "athena_fees_usdt_total") == float(cap.fees()) < 0
    assert cap.fees() == sum((f.fee for f in fills), Decimal(0))
    assert get(m, "athena_realised_pnl_usdt") == float(cap.realised())
    assert get(m, "athena_funding_usdt_total") == float(cap.funding())
    marks = {BTC: acct.marks.get(BTC)}
    equity = cap.total_capital + cap.realised() + cap.unrealised(marks).total
    assert (
        abs(get(m, "athena_equity_usdt", account=account_name, strategy="all") - float(equity)) < 1.0
    )  # marks move
    assert get(m, "athena_equity_usdt", account=account_name, strategy="scalpbtc") is not None
    dd = get(m, "athena_drawdown_ratio")
    assert dd is not None and 0 <= dd < 0.1
    assert get(m, "athena_halted") == 1  # halted above
    assert get(m, "athena_breaker_open", name="sync_positions") == 0
    assert get(m, "athena_reconcile_drift_total") == len(journal.events(kind="ledger_drift")) == 0
    assert get(m, "athena_position_unprotected_seconds_total") is not None
    # decision (stream worker) -> ack (orders worker): one observation per placed order
    acks = get(m, "athena_order_latency_seconds_count")
    assert acks is not None and acks >= 1
    assert 0 < (get(m, "athena_order_latency_seconds_sum") or 0) / acks < 5
    assert get(m, "athena_metrics_source_up") == 1
    assert get(m, "process_resident_memory_bytes") is not None


def check_stream(m: Samples) -> None:
    conns = {dict(labels)["conn"]: v for (name, labels), v in m.items() if name == "athena_ws_connected"}
    assert {"okx-public", "okx-private"} <= set(conns) and all(v == 1 for v in conns.values()), conns
    age = get(m, "athena_ws_last_message_age_seconds", conn="okx-public")  # ticks every 50 ms
    assert age is not None and 0 <= age < 10, age
    assert (get(m, "athena_ticks_total") or 0) > 0
    # the fill's stop went out from the stream worker: fill -> exchange ack
    n = get(m, "athena_stop_latency_seconds_count")
    assert n is not None and n >= 1
    assert 0 < (get(m, "athena_stop_latency_seconds_sum") or 0) / n < 5
