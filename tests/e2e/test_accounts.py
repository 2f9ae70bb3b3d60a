"""Two accounts, one Redis broker (issue #15 item 4): each with its own simulator (its own exchange
account), stream worker, orders worker and beat. Every task and every order stays with its account.

One beat per account, not one for all: a beat's schedule (which jobs, how often) and the queues it
sends to come from its account's Settings, so each deployment runs, stops and is configured on its
own, sharing nothing but the broker; a single beat would need every account's configuration in one
process and would stop every account's periodic jobs (the dead-man's switch heartbeat among them)
when it stops."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from athena.domain import OrderRequest, OrdType, Side
from athena.domain.codec import to_json
from athena.process.launch import Stack, StackConfig
from athena.procs import wait_until
from athena.state.keys import Keys
from athena.state.workers import WorkerRegistry

pytestmark = pytest.mark.e2e

BTC = "BTC-USDT-SWAP"
TICK = Decimal("0.1")
MANUAL = {
    "name": "manual",
    "cls": "ScalperV1",
    "instIds": ["ETH-USDT-SWAP"],
    "allocation": "0.5",
    "params": {"min_trades": 100_000},
}
SCHEDULE = {"heartbeat": 2, "reconcile": 3, "sync_positions": 2, "protect_positions": 2}


def _config(tmp: Path, account: str, seed: int, redis: str = "private", **env: str) -> StackConfig:
    return StackConfig(
        var_dir=tmp / account,
        account=account,
        symbols=[BTC],
        sim_seed=seed,
        sim_tick_ms=200,
        redis=redis,
        config={"strategies": [MANUAL], "schedule": SCHEDULE},
        env=dict(env),
    )


def _resting_buys(stack: Stack, prefix: str, n: int) -> list[str]:
    """n buys far below the market, sent by hand through the stack's own Celery client (routed by
    athena.queues to its account's orders queue)."""
    bid = Decimal(stack.sim_admin("state")["markets"][BTC]["bid"])
    px = (bid * Decimal("0.8")).quantize(TICK)
    ids = [f"{prefix}{i}" for i in range(n)]
    results = [
        stack.celery().send_task(
            "athena.place_order",
            args=[
                to_json(
                    OrderRequest(
                        clOrdId=cl,
                        instId=BTC,
                        side=Side.BUY,
                        ordType=OrdType.LIMIT,
                        sz=Decimal(1),
                        px=px,
                        strategy="manual",
                        stop_loss_px=(px * Decimal("0.99")).quantize(TICK),
                    )
                )
            ],
        )
        for cl in ids
    ]
    for r in results:
        assert r.get(timeout=60)["status"] == "acked"
    return ids


def _pending(stack: Stack) -> set[str]:
    return {o["clOrdId"] for o in stack.sim_admin("state")["pending"]}


def _orders_in_redis(stack: Stack) -> set[str]:
    prefix = Keys(stack.env_name, stack.account).order("")
    return {k.decode()[len(prefix) :] for k in stack.redis().scan_iter(match=prefix + "*", count=1000)}


def test_two_accounts_share_one_broker_without_cross_talk(tmp_path: Path) -> None:
    with Stack(_config(tmp_path, "acctA", 7)) as a:
        with Stack(_config(tmp_path, "acctB", 11, redis=a.redis_url, ATHENA_LOG_FORMAT="json")) as b:
            assert a.redis_url == b.redis_url  # one broker
            registry = WorkerRegistry(a.redis())
            for s in (a, b):
                nodes = {(e.queue, e.node, e.account) for e in registry.entries(s.queues.all)}
                assert nodes == {
                    (s.queues.orders, s.worker_name("orders"), s.account),
                    (s.queues.default, s.worker_name("orders"), s.account),
                    (s.queues.stream, s.worker_name("stream"), s.account),
                }, nodes

            a_ids, b_ids = _resting_buys(a, "ordA", 3), _resting_buys(b, "ordB", 3)
            # each order on its own account's exchange, recorded in its own account's Redis namespace
            assert wait_until(lambda: _pending(a) == set(a_ids) and _pending(b) == set(b_ids), 30), (
                _pending(a),
                _pending(b),
            )
            assert _orders_in_redis(a) == set(a_ids) and _orders_in_redis(b) == set(b_ids)

            # each beat drives its own orders worker against its own exchange: the dead-man's switch
            # armed on both simulators, and a reconcile recorded in each account's namespace
            def beat_ran(s: Stack) -> bool:
                last = s.redis().get(Keys(s.env_name, s.account).last_reconcile)
                return bool(s.sim_admin("state")["cancelAllAfter"]) and last is not None

            assert wait_until(lambda: beat_ran(a) and beat_ran(b), 60, interval=0.5)

            # each client's routes are its own account's: the same task name, two workers
            assert (
                a.send_task("athena.ping", timeout=30) == "pong"
                and b.send_task("athena.ping", timeout=30) == "pong"
            )

            logs: dict[str, str] = {}
            for s in (a, b):
                for role in ("orders", "stream", "beat"):
                    logs[f"{s.account}/{role}"] = (s.log_dir / f"{role}.log").read_text()
            for name, text in logs.items():
                theirs = b_ids if name.startswith("acctA") else a_ids
                assert not any(cl in text for cl in theirs), f"{name} saw the other account's orders"
                assert "unregistered task" not in text.lower(), name
            for cl in a_ids:
                assert cl in logs["acctA/orders"]  # INFO lines (ATHENA_LOG_LEVEL, no --loglevel): placed here
            # account B logs JSON lines, every one of them, with the order's clOrdId where it is known
            docs = [json.loads(line) for line in logs["acctB/orders"].splitlines() if line.strip()]
            assert {d["role"] for d in docs} == {"orders"}
            assert {d.get("clOrdId") for d in docs} >= set(b_ids)
            for role in ("stream", "beat"):
                assert all(
                    json.loads(line)["role"] == role
                    for line in logs[f"acctB/{role}"].splitlines()
                    if line.strip()
                )
            # nothing left queued for either account
            for s in (a, b):
                assert all(s.redis().llen(q) == 0 for q in s.queues.all)
        assert b.survivors() == []
    assert a.survivors() == []
