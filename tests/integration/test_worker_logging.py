"""ATHENA_LOG_LEVEL and ATHENA_LOG_FORMAT reach a real worker and beat started without --loglevel:
before, Celery's own default (WARNING) hid every INFO line unless the command line said otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import redis

from athena import procs
from athena.queues import AccountQueues
from athena.state.workers import WorkerRegistry
from athena.testing.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "okx-secret-key-never-logged-77"


def _env(redis_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHENA_", "OKX_", "REDIS_"))}
    env.update(
        {
            "ATHENA_ENV": "test",
            "REDIS_URL": redis_url,
            "ATHENA_DB_URL": f"sqlite:///{tmp_path}/a.db",
            "PYTHONPATH": str(ROOT),
            "ATHENA_ACCOUNT": "logs1",
            "OKX_REST_URL": f"http://127.0.0.1:{free_port()}",
            "OKX_SECRET_KEY": SECRET,
            **extra,
        }
    )
    env.pop("ATHENA_LOG_LEVEL", None)
    env["ATHENA_LOG_LEVEL"] = extra.get("ATHENA_LOG_LEVEL", "INFO")
    return env


def test_orders_worker_logs_json_lines_at_athena_log_level(redis_url: str, tmp_path: Path) -> None:
    from celery import Celery

    queues = AccountQueues("logs1")
    log = tmp_path / "orders.log"
    name = f"orders-logs1-{os.getpid()}@%h"
    env = _env(redis_url, tmp_path, ATHENA_LOG_FORMAT="json", ATHENA_LOG_LEVEL="INFO")
    proc = procs.popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "worker",
            "-Q",
            ",".join(queues.for_worker("orders")),
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
        stdout=(tmp_path / "stdout.log").open("w"),
        stderr=log.open("w"),
    )
    client = Celery("logs-probe", broker=redis_url, set_as_current=False)
    try:
        r = redis.Redis.from_url(redis_url)
        assert procs.wait_until(lambda: WorkerRegistry(r).entries(queues.for_worker("orders")), 60), (
            log.read_text()[-3000:]
        )
        # a cancel whose REST call fails (nothing listens at OKX_REST_URL): the task logs its retry
        client.send_task(
            "athena.cancel_order", args=["BTC-USDT-SWAP", "logcl1"], queue=queues.orders, ignore_result=True
        )

        def retried() -> bool:
            return any('"clOrdId":"logcl1"' in line for line in log.read_text().splitlines())

        assert procs.wait_until(retried, 60), log.read_text()[-3000:]
    finally:
        proc.terminate()
        proc.wait(30)
        client.close()
    out = (tmp_path / "stdout.log").read_text()
    lines = [line for line in (log.read_text() + out).splitlines() if line.strip()]
    docs = [json.loads(line) for line in lines]  # every line one JSON object
    assert all({"ts", "level", "role", "logger", "message"} <= set(d) for d in docs)
    assert {d["role"] for d in docs} == {"orders"}
    assert any(
        d["message"].startswith("celery worker orders-logs1-") for d in docs
    )  # its banner, as one line
    assert any(d["level"] == "INFO" for d in docs)  # ATHENA_LOG_LEVEL=INFO, no --loglevel
    task_lines = [d for d in docs if d.get("clOrdId") == "logcl1"]
    assert task_lines and all(d["instId"] == "BTC-USDT-SWAP" for d in task_lines)
    assert SECRET not in log.read_text()


def test_beat_logs_at_athena_log_level_in_text(redis_url: str, tmp_path: Path) -> None:
    log = tmp_path / "beat.log"
    env = _env(redis_url, tmp_path, ATHENA_LOG_LEVEL="INFO", ATHENA_LOG_FORMAT="text")
    proc = procs.popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "beat",
            "--schedule",
            str(tmp_path / "celerybeat-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        assert procs.wait_until(lambda: "beat: Starting..." in log.read_text(), 60), log.read_text()[-3000:]
    finally:
        proc.terminate()
        proc.wait(30)
    first = log.read_text().splitlines()[0]
    assert " INFO beat " in first, first  # time, level, role, logger: message
