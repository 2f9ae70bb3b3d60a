"""Queues per account (athena/queues.py): each queue on an exchange of its own, so a message for any
other exchange or routing key reaches no worker; a worker refuses queues that are not its account's
and queues that live workers of another deployment consume; the order path's direct publish writes
what kombu writes for an account's queue."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from celery.exceptions import TimeoutError as ResultTimeout

from athena import procs
from athena.config import load_settings
from athena.fastpath.kombu_envelope import TaskPublisher
from athena.queues import AccountQueues, account_of, queue_name
from athena.state.workers import FRESH_MS, QueueConflict, WorkerRegistry, identity_of
from workers.app import configure

ROOT = Path(__file__).resolve().parents[2]


def test_queue_names_carry_the_account() -> None:
    q = AccountQueues("acct-1")
    assert (q.orders, q.stream, q.default) == ("orders.acct-1", "stream.acct-1", "default.acct-1")
    assert (
        q.for_task("athena.place_order") == "orders.acct-1"
        and q.for_task("athena.reconcile") == "default.acct-1"
    )
    assert q.for_worker("orders") == ("orders.acct-1", "default.acct-1") and q.for_worker("stream") == (
        "stream.acct-1",
    )
    assert (
        account_of("orders.acct-1") == "acct-1"
        and account_of("orders") is None
        and account_of("celery") is None
    )
    with pytest.raises(ValueError):
        queue_name("orders", "a.b")  # a dot would make the account ambiguous


def test_only_the_accounts_own_exchange_and_key_reach_its_worker(
    celery_app: Celery, celery_worker: Any, redis_client: redis.Redis
) -> None:
    """Before: all three queues were bound to exchange `default` with routing key `default`, so a task
    published there (`celery call athena.ping --exchange default --routing-key default`) went to every
    queue, the stream worker's included ("Received unregistered task")."""
    account = account_of(celery_app.conf.task_default_queue)
    assert account
    with celery_app.connection_for_write() as conn:  # the bindings a worker declares as it starts (the
        for queue in celery_app.conf.task_queues:  # redis_client fixture flushed the session worker's)
            queue(conn.default_channel).declare()
    assert celery_app.send_task("athena.ping").get(timeout=30) == "pong"  # routed: default.<account>
    own = f"default.{account}"
    assert celery_app.send_task("athena.ping", exchange=own, routing_key=own).get(timeout=30) == "pong"
    stray = celery_app.send_task("athena.ping", exchange="default", routing_key="default")
    with pytest.raises(ResultTimeout):
        stray.get(timeout=3)
    for q in (*AccountQueues(account).all, "default", "orders", "stream"):
        assert redis_client.llen(q) == 0, q
    # each queue is bound to its own exchange only, under its own name
    for q in AccountQueues(account).all:
        bindings = {b.decode().split("\x06\x16")[-1] for b in redis_client.smembers(f"_kombu.binding.{q}")}
        assert bindings <= {q}, (q, bindings)
    assert not redis_client.exists("_kombu.binding.default")


def _app_for(account: str, redis_url: str) -> Celery:
    settings = load_settings(
        env="test", environ={"ATHENA_ACCOUNT": account, "REDIS_URL": redis_url}, dotenv=False
    )
    return configure(Celery(f"queues-{account}", set_as_current=False), settings)


def test_direct_publish_writes_what_kombu_writes_for_an_account_queue(redis_url: str) -> None:
    app = _app_for("tpacct", redis_url)  # no worker consumes this account's queues
    r = redis.Redis.from_url(redis_url)
    queue = AccountQueues("tpacct").orders
    r.delete(queue)
    app.send_task(
        "athena.place_order", args=[{"clOrdId": "a1"}], queue=queue, ignore_result=True, argsrepr="a1"
    )
    theirs = json.loads(r.rpop(queue))  # type: ignore[arg-type]
    pub = TaskPublisher(app)
    pub.send("athena.place_order", [{"clOrdId": "a1"}], queue, "a1")
    ours = json.loads(r.rpop(queue))  # type: ignore[arg-type]
    assert pub.fast == 1
    assert (
        ours["properties"]["delivery_info"]
        == theirs["properties"]["delivery_info"]
        == {"exchange": "", "routing_key": queue}
    )
    varying = {"id", "root_id"}
    assert {k: v for k, v in ours["headers"].items() if k not in varying} == {
        k: v for k, v in theirs["headers"].items() if k not in varying
    }
    assert json.loads(base64.b64decode(ours["body"])) == json.loads(base64.b64decode(theirs["body"]))
    pub.close()
    app.close()


def test_the_registry_refuses_another_deployment_atomically(redis_client: redis.Redis) -> None:
    reg = WorkerRegistry(redis_client)
    base = load_settings(env="test", environ={"ATHENA_ACCOUNT": "reg1"}, dotenv=False)
    mine, theirs = (
        identity_of(base),
        {**identity_of(base), "key": "0123456789ab"},
    )  # same label, another API key
    queues = list(AccountQueues("reg1").for_worker("orders"))
    reg.register(queues, "orders-reg1@a", "orders", mine)
    reg.register(queues, "orders-reg1@b", "orders", mine)  # a second worker of the same deployment: fine
    with pytest.raises(QueueConflict) as info:
        reg.register(queues, "orders-reg1@c", "orders", theirs)
    assert info.value.other is not None and info.value.other.account == "reg1"
    assert {e.node for e in reg.entries(queues)} == {
        "orders-reg1@a",
        "orders-reg1@b",
    }  # nothing of c registered
    # a dead worker's entry (no heartbeat for FRESH_MS) blocks nobody
    later = WorkerRegistry(redis_client, clock=lambda: time.time() + FRESH_MS / 1000 + 1)
    later.register(queues, "orders-reg1@c", "orders", theirs)
    assert [e.node for e in later.alive(queues[0], theirs)] == ["orders-reg1@c"]
    reg.release(queues, "orders-reg1@a")
    assert "orders-reg1@a" not in {e.node for e in reg.entries(queues, include_stale=True)}


def _worker(env: dict[str, str], queues: str, name: str, log: Path) -> subprocess.Popen[Any]:
    return procs.popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "worker",
            "-Q",
            queues,
            "-P",
            "threads",
            "-c",
            "1",
            "--without-gossip",
            "--without-mingle",
            "-n",
            name,
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _env(redis_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHENA_", "OKX_", "REDIS_"))}
    env.update(
        {
            "ATHENA_ENV": "test",
            "REDIS_URL": redis_url,
            "ATHENA_DB_URL": f"sqlite:///{tmp_path}/a.db",
            "PYTHONPATH": str(ROOT),
            **extra,
        }
    )
    return env


def _exits(proc: subprocess.Popen[Any], timeout: float = 60) -> int:
    try:
        return int(proc.wait(timeout))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_worker_refuses_queues_that_are_not_its_accounts(redis_url: str, tmp_path: Path) -> None:
    r = redis.Redis.from_url(redis_url)
    r.delete("orders.other")
    r.lpush("orders.other", b"a task of account other")
    log = tmp_path / "w.log"
    proc = _worker(
        _env(redis_url, tmp_path, ATHENA_ACCOUNT="mine"),
        "orders.other,default.other",
        f"refuse-{os.getpid()}@%h",
        log,
    )
    assert _exits(proc) == os.EX_CONFIG, log.read_text()[-3000:]
    text = log.read_text()
    assert "queue(s) default.other, orders.other are not account mine's" in text, text[-3000:]
    assert r.llen("orders.other") == 1  # nothing taken
    r.delete("orders.other")


def test_a_worker_refuses_queues_another_deployment_consumes(redis_url: str, tmp_path: Path) -> None:
    """Two deployments that both call their account `shared` (another environment here) must not
    share queues: the second worker refuses to start, naming the first."""
    r = redis.Redis.from_url(redis_url)
    prod = load_settings(
        env="production", environ={"ATHENA_ACCOUNT": "shared", "REDIS_URL": redis_url}, dotenv=False
    )
    queues = list(AccountQueues("shared").for_worker("orders"))
    WorkerRegistry(r).register(queues, "orders-shared@prodhost", "orders", identity_of(prod))
    log = tmp_path / "w.log"
    proc = _worker(
        _env(redis_url, tmp_path, ATHENA_ACCOUNT="shared"), ",".join(queues), f"second-{os.getpid()}@%h", log
    )
    assert _exits(proc) == os.EX_CONFIG, log.read_text()[-3000:]
    text = log.read_text()
    assert "is already consumed by worker orders-shared@prodhost (account shared, env production" in text, (
        text[-3000:]
    )
    assert "give this deployment its own ATHENA_ACCOUNT" in text
    WorkerRegistry(r).release(queues, "orders-shared@prodhost")

    # the same deployment's second worker (another host, say) starts and registers next to the first
    test_settings = load_settings(
        env="test", environ={"ATHENA_ACCOUNT": "shared", "REDIS_URL": redis_url}, dotenv=False
    )
    WorkerRegistry(r).register(queues, "orders-shared@otherhost", "orders", identity_of(test_settings))
    name = f"third-{os.getpid()}@{os.uname().nodename}"
    proc = _worker(_env(redis_url, tmp_path, ATHENA_ACCOUNT="shared"), ",".join(queues), name, log)
    try:
        assert procs.wait_until(lambda: name in {e.node for e in WorkerRegistry(r).entries(queues)}, 60), (
            log.read_text()[-3000:]
        )
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)
    assert name not in {
        e.node for e in WorkerRegistry(r).entries(queues, include_stale=True)
    }  # released on shutdown
    WorkerRegistry(r).release(queues, "orders-shared@otherhost")
