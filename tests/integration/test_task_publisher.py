"""athena.fastpath.kombu_envelope: the order path's task publish (one LPUSH of Celery's own message) is what
kombu would have written, a real worker runs it, and any error falls back to send_task."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from athena import procs
from athena.fastpath import kombu_transport
from athena.fastpath.kombu_envelope import TaskPublisher
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _pop(r: redis.Redis, queue: str) -> dict[str, Any]:
    raw = r.rpop(queue)
    assert raw is not None, f"nothing on {queue}"
    return json.loads(raw)


def test_the_envelope_is_the_one_kombu_writes(celery_app: Celery, redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    r.delete("tp-kombu", "tp-direct")
    celery_app.send_task(
        "athena.place_order",
        args=[{"clOrdId": "a1"}],
        queue="tp-kombu",
        ignore_result=True,
        argsrepr="a1 BTC",
    )
    pub = TaskPublisher(celery_app)
    pub.send("athena.place_order", [{"clOrdId": "a1"}], "tp-direct", "a1 BTC")
    assert pub.fast == 1 and pub.fallbacks == 0
    theirs, ours = _pop(r, "tp-kombu"), _pop(r, "tp-direct")

    varying = {"id", "root_id"}  # fresh uuids per message
    assert set(ours) == set(theirs)
    assert {k: v for k, v in ours["headers"].items() if k not in varying} == {
        k: v for k, v in theirs["headers"].items() if k not in varying
    }
    assert ours["headers"]["id"] == ours["headers"]["root_id"] == ours["properties"]["correlation_id"]
    # kombu also copies the argsrepr option into the properties; nothing reads it there
    their_props = {k: v for k, v in theirs["properties"].items() if k != "argsrepr"}
    assert set(ours["properties"]) == set(their_props)
    for k in ("delivery_mode", "priority", "body_encoding", "reply_to"):
        assert ours["properties"][k] == their_props[k], k
    assert ours["properties"]["delivery_info"] == {"exchange": "", "routing_key": "tp-direct"}
    assert their_props["delivery_info"] == {"exchange": "", "routing_key": "tp-kombu"}
    assert ours["properties"]["delivery_tag"] != their_props["delivery_tag"]
    assert json.loads(base64.b64decode(ours["body"])) == json.loads(base64.b64decode(theirs["body"]))
    assert (ours["content-type"], ours["content-encoding"]) == (
        theirs["content-type"],
        theirs["content-encoding"],
    )
    pub.close()


def run_probe_worker(redis_url: str, tmp_path: Path, pub: TaskPublisher, env: dict[str, str]) -> str:
    """Sends four probe tasks through `pub` (three queued before a worker process of its own starts, one
    after), waits for that worker to run them and returns the Redis transport it received them through.
    A process of its own: two in-process workers share celery.worker.state."""
    r = redis.Redis.from_url(redis_url)
    r.delete("tp-ran", "tp-probe", "tp-transport")
    for n in range(3):  # queued before the worker starts: it finds them waiting, as after a restart
        pub.send("tests.publisher_probe", [{"clOrdId": f"p{n}", "px": "100.5"}, n], "tp-probe", f"p{n}")
    env = {**os.environ, **env, "TP_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "worker.log").open("w")
    worker = procs.popen(
        [sys.executable, "-m", "celery", "-A", "tests.integration.publisher_probe_app", "worker",
         "-Q", "tp-probe", "-P", "threads", "-c", "1", "--without-gossip", "--without-mingle", "-l", "INFO",
         "-n", f"tp-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        pub.send("tests.publisher_probe", [{"clOrdId": "p3", "px": "100.5"}, 3], "tp-probe", "p3")
        wait_until(lambda: r.llen("tp-ran") >= 4 or worker.poll() is not None, 60, interval=0.05)
    finally:
        worker.terminate()
        worker.wait(20)
        log.close()
    ran = [json.loads(x) for x in r.lrange("tp-ran", 0, -1)]
    assert sorted(ran, key=lambda x: x[1]) == [[{"clOrdId": f"p{n}", "px": "100.5"}, n] for n in range(4)], (
        tmp_path / "worker.log"
    ).read_text()[-3000:]
    assert r.llen("tp-probe") == 0  # all consumed
    return (r.get("tp-transport") or b"").decode()


def test_a_real_worker_runs_what_it_publishes(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATHENA_FASTPATHS", raising=False)
    pub = TaskPublisher(Celery("publisher-probe", broker=redis_url))
    transport = run_probe_worker(redis_url, tmp_path, pub, {"ATHENA_FASTPATHS": "on"})
    assert pub.fast == 4
    assert transport == kombu_transport.PATH
    pub.close()


def test_with_the_fast_paths_off_a_real_worker_runs_what_send_task_sends(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ATHENA_FASTPATHS=off: kombu builds and publishes every message, and the worker consumes through
    kombu's own Redis transport."""
    monkeypatch.setenv("ATHENA_FASTPATHS", "off")
    probe = Celery("publisher-probe", broker=redis_url)
    pub = TaskPublisher(probe)
    assert (
        pub.message("tests.publisher_probe", [{}, 0], "tp-probe", "x", redis.Redis.from_url(redis_url))
        is None
    )
    transport = run_probe_worker(redis_url, tmp_path, pub, {"ATHENA_FASTPATHS": "off"})
    assert (pub.fast, pub.fallbacks) == (0, 0)  # send_task by choice, not after an error
    assert transport == "kombu.transport.redis:Transport"
    pub.close()


def test_an_error_falls_back_to_send_task(
    celery_app: Celery, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = redis.Redis.from_url(redis_url)
    r.delete("tp-fallback")
    pub = TaskPublisher(celery_app)
    client = pub._redis()
    assert client is not None

    def broken(*_: Any) -> None:
        raise redis.ConnectionError("connection reset")

    monkeypatch.setattr(client, "lpush", broken)
    pub.send("athena.place_order", [{"clOrdId": "f1"}], "tp-fallback", "f1")
    assert (pub.fast, pub.fallbacks) == (0, 1)
    msg = _pop(r, "tp-fallback")  # written by kombu instead
    assert msg["headers"]["task"] == "athena.place_order"
    assert json.loads(base64.b64decode(msg["body"]))[0] == [{"clOrdId": "f1"}]
    pub.close()


@pytest.mark.parametrize(
    "conf",
    [
        {"broker_url": "amqp://guest@localhost//"},
        {"broker_transport_options": {"global_keyprefix": "athena:"}},
        {"broker_transport_options": {"priority_steps": [0, 3, 6, 9]}},
    ],
)
def test_brokers_it_would_not_write_exactly_use_send_task(redis_url: str, conf: dict[str, Any]) -> None:
    app = Celery("publisher-other", broker=redis_url)
    app.conf.update(conf)
    assert TaskPublisher(app)._redis() is None
