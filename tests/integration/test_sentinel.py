"""REDIS_URL=sentinel://...: a real Redis master with a password and a real Redis Sentinel watching it
(`redis-server --sentinel`, started here on free ports). The state client, a real orders worker (its
broker and result backend), the CLI's Celery client and `athena status`/`athena halt` all find the
master through the sentinel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from athena import procs
from athena.broker import describe, unreachable
from athena.config import ConfigError, load_settings
from athena.process.control import client_app
from athena.queues import AccountQueues
from athena.state.workers import WorkerRegistry
from athena.testing.redis_server import RedisServer, find_redis_server, free_port
from athena.wiring import redis_from_settings

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "sentinel-master-pw-31"
MASTER = "athenamaster"


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, int]]:
    master = RedisServer(password=PASSWORD).start()
    tmp = tmp_path_factory.mktemp("sentinel")
    port = free_port()
    conf = tmp / "sentinel.conf"  # sentinel rewrites its config file: a writable one of its own
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {master.port} 1\n"
        f"sentinel auth-pass {MASTER} {PASSWORD}\n"
        f"sentinel down-after-milliseconds {MASTER} 5000\n"
    )
    log = (tmp / "sentinel.log").open("w")
    proc = procs.popen([find_redis_server(), str(conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT)

    def knows_master() -> bool:
        try:
            client = redis.Redis(port=port, socket_timeout=0.5)
            return client.sentinel_get_master_addr_by_name(MASTER) is not None  # type: ignore[no-untyped-call]
        except redis.RedisError:
            return False

    try:
        assert procs.wait_until(knows_master, 20, interval=0.1), (tmp / "sentinel.log").read_text()[-2000:]
        yield master, port
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        master.stop()


def _env(sentinel_port: int, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHENA_", "OKX_", "REDIS_"))}
    env.update(
        {
            "ATHENA_ENV": "test",
            "ATHENA_ACCOUNT": "sent1",
            "ATHENA_DB_URL": f"sqlite:///{tmp_path}/a.db",
            "REDIS_URL": f"sentinel://:{PASSWORD}@127.0.0.1:{sentinel_port}/0;sentinel://127.0.0.1:{free_port()}/0",
            "REDIS_SENTINEL_MASTER": MASTER,
            "PYTHONPATH": str(ROOT),
            **extra,
        }
    )
    return env


def test_sentinel_url_needs_the_master_name_and_keeps_the_password_secret(
    sentinel: tuple[RedisServer, int],
) -> None:
    _, port = sentinel
    url = f"sentinel://:{PASSWORD}@127.0.0.1:{port}/0"
    with pytest.raises(ConfigError, match="REDIS_SENTINEL_MASTER"):
        load_settings(env="test", environ={"REDIS_URL": url}, dotenv=False)
    s = load_settings(env="test", environ={"REDIS_URL": url, "REDIS_SENTINEL_MASTER": MASTER}, dotenv=False)
    assert PASSWORD in s.secrets()
    assert describe(url, MASTER) == f"master {MASTER} (db 0) via sentinel 127.0.0.1:{port}"
    assert unreachable(url, MASTER) is None
    assert unreachable(url, "nosuchmaster") == "no sentinel knows that master"


def test_state_client_and_a_real_worker_go_through_the_sentinel(
    sentinel: tuple[RedisServer, int], tmp_path: Path
) -> None:
    master, port = sentinel
    env = _env(port, tmp_path)
    settings = load_settings(environ=env, config_dir=ROOT / "config", dotenv=False)
    state = redis_from_settings(settings)
    state.set("athena:sentinel-probe", "via-sentinel")
    direct = redis.Redis.from_url(master.url)
    assert direct.get("athena:sentinel-probe") == b"via-sentinel"  # the master the sentinel named

    queues = AccountQueues("sent1")
    log = tmp_path / "worker.log"
    name = f"orders-sent1-{os.getpid()}@%h"
    worker = procs.popen(
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
            "2",
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
    app = client_app(settings)  # the CLI's client: broker and result backend through the sentinel
    try:
        assert procs.wait_until(lambda: WorkerRegistry(state).entries(queues.for_worker("orders")), 60), (
            log.read_text()[-3000:]
        )
        assert app.send_task("athena.ping").get(timeout=60) == "pong"
        assert app.conf.broker_transport_options["master_name"] == MASTER

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return procs.run(
                [sys.executable, "-m", "athena.cli", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=90,
                stdin=subprocess.DEVNULL,
            )

        status = cli("status", "--json")
        assert status.returncode == 0, status.stderr
        assert any(w["alive"] and w["queue"] == queues.orders for w in json.loads(status.stdout)["workers"])
        halted = cli("halt", "--reason", "sentinel", "--json")
        assert halted.returncode == 0, halted.stderr
        assert direct.exists("athena:test:sent1:halt")
        assert cli("resume").returncode == 0 and not direct.exists("athena:test:sent1:halt")
        assert PASSWORD not in status.stdout + status.stderr + halted.stdout + halted.stderr + log.read_text()
    finally:
        app.close()
        worker.terminate()
        worker.wait(30)
        state.close()
        direct.close()
