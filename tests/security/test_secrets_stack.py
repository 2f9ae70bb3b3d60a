"""The whole stack (orders worker, stream worker, beat, Flower, the dashboard as real processes) in demo mode
with known fake OKX keys against the simulator, on a password-protected Redis: it works, and afterwards no
secret is in any log file, Flower's API (tasks with their arguments, workers), the dashboard's page and data
(after a wrong password and a login), any Redis value (broker
messages, results, state, events), the SQLite journal, or a process command line. Flower refuses
requests without its basic auth."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import requests

from athena.process.launch import Stack, StackConfig
from athena.procs import wait_until
from athena.sim.auth import ApiKey
from athena.sim.config import SimConfig
from athena.sim.server import SimServer
from athena.testing.redis_server import RedisServer

pytestmark = pytest.mark.e2e

KEY, SECRET, PASS, REDIS_PW = (
    "sekrit-key-4d1f9",
    "sekrit-secret-8b2c7",
    "sekrit-pass-3e6a0",
    "sekrit-redis-5c8d2",
)
DASH_PW = "sekrit-dash-9a7e1"
SECRETS = (KEY, SECRET, PASS, REDIS_PW, DASH_PW)
FLOWER_AUTH = ("flowadmin", "flower-pw-77")


def _find(blob: bytes | str, where: str, found: list[str]) -> None:
    data = blob.encode() if isinstance(blob, str) else blob
    for s in SECRETS:
        i = data.find(s.encode())
        if i >= 0:
            found.append(f"{s[:10]}.. in {where}: {data[max(0, i - 100) : i + 30]!r}")


def _redis_dump(r: Any) -> list[tuple[str, bytes]]:
    out = []
    for key in r.scan_iter(count=500):
        t = r.type(key).decode()
        if t == "string":
            v = r.get(key) or b""
        elif t == "hash":
            v = repr(r.hgetall(key)).encode()
        elif t == "list":
            v = repr(r.lrange(key, 0, -1)).encode()
        elif t == "set":
            v = repr(r.smembers(key)).encode()
        elif t == "zset":
            v = repr(r.zrange(key, 0, -1, withscores=True)).encode()
        elif t == "stream":
            v = repr(r.xrange(key, count=100_000)).encode()
        else:
            v = b""
        out.append((key.decode(errors="replace"), key + b" " + v))
    return out


def test_stack_keeps_secrets_out_of_logs_flower_redis_and_journal(tmp_path: Path) -> None:
    rs = RedisServer(password=REDIS_PW, dir=tmp_path / "redis-data")
    (tmp_path / "redis-data").mkdir()
    rs.start()
    sim = SimServer(SimConfig(port=0, keys=[ApiKey(KEY, SECRET, PASS)], tick_interval_ms=100)).start()
    env = {
        "OKX_API_KEY": KEY,
        "OKX_SECRET_KEY": SECRET,
        "OKX_PASSPHRASE": PASS,
        "OKX_REST_URL": sim.url,
        "OKX_WS_PUBLIC_URL": sim.ws_url("public"),
        "OKX_WS_PRIVATE_URL": sim.ws_url("private"),
        "OKX_WS_BUSINESS_URL": sim.ws_url("business"),
        "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH),
        "ATHENA_DASHBOARD_PASSWORD": DASH_PW,
    }
    stack = Stack(
        StackConfig(
            var_dir=tmp_path / "var",
            mode="demo",
            redis=rs.url,
            flower=True,
            env=env,
            beat=True,
            dashboard=True,
        )
    )
    found: list[str] = []
    try:
        with stack:
            assert f"{REDIS_PW}@" in stack.env["REDIS_URL"]  # the children really use the password
            with pytest.raises(redis_lib.AuthenticationError):  # and Redis really wants it
                redis_lib.Redis(port=rs.port, socket_timeout=2).get("x")
            # some real work: pings, the periodic jobs, a reconcile, and REST faults that end in log lines
            assert stack.send_task("athena.ping", timeout=60) == "pong"
            requests.post(f"{sim.url}/sim/faults", json={"rest_5xx": {"count": 3}}, timeout=5)
            for task in ("athena.sync_positions", "athena.reconcile", "athena.protect_positions"):
                try:
                    stack.send_task(task, timeout=90)
                except (
                    Exception
                ) as exc:  # a task failing on an injected 5xx is fine: its error text is checked
                    _find(str(exc), f"{task} result", found)
            requests.post(f"{sim.url}/sim/ws/drop", json={}, timeout=5)  # private WS re-login (signs again)
            assert wait_until(
                lambda: (
                    (stack.stream_status() or {}).get("private") == "ready"
                    and (stack.stream_status() or {})
                    .get("ws", {})
                    .get("okx-private", {})
                    .get("reconnects", 0)
                    > 0
                ),
                60,
                interval=0.5,
            )

            base = f"http://127.0.0.1:{stack.flower_port}"
            assert requests.get(f"{base}/api/workers", timeout=10).status_code == 401
            assert (
                requests.get(f"{base}/api/tasks", auth=("flowadmin", "wrong"), timeout=10).status_code == 401
            )

            def flower_has_tasks() -> bool:
                r = requests.get(f"{base}/api/tasks", auth=FLOWER_AUTH, timeout=10)
                return r.ok and len(r.json()) >= 3

            assert wait_until(flower_has_tasks, 60, interval=1.0)
            for path in (
                "/api/tasks",
                "/api/workers?refresh=1",
                "/api/task/types",
                "/workers",
                "/tasks",
                "/broker",
            ):
                r = requests.get(f"{base}{path}", auth=FLOWER_AUTH, timeout=30)
                assert r.status_code == 200, path
                _find(r.content, f"flower {path}", found)
            tasks = requests.get(f"{base}/api/tasks", auth=FLOWER_AUTH, timeout=30).json()
            for t in tasks.values():
                _find(
                    str(t.get("args"))
                    + str(t.get("kwargs"))
                    + str(t.get("result"))
                    + str(t.get("traceback")),
                    f"task {t.get('name')} args/result",
                    found,
                )

            # the dashboard: a wrong password, a login, the page and its data
            dash = requests.Session()
            for password in ("not-" + DASH_PW, DASH_PW):
                form = dash.get(f"{stack.dashboard_url}/login", timeout=10).text
                token = form.split('name="token" value="', 1)[1].split('"', 1)[0]
                dash.post(
                    f"{stack.dashboard_url}/login", data={"token": token, "password": password}, timeout=10
                )
            for path in ("/", "/api/state"):
                r = dash.get(f"{stack.dashboard_url}{path}", timeout=10)
                assert r.status_code == 200, path
                _find(r.content, f"dashboard {path}", found)

            # control: the secrets are really in play (the workers' environment holds them) and the search
            # finds them
            control: list[str] = []
            _find(Path(f"/proc/{stack.child('orders').pid}/environ").read_bytes(), "orders environ", control)
            assert len(control) == len(SECRETS), control
            for c in stack.sup.children:
                if c.alive() and c.pid:
                    _find(Path(f"/proc/{c.pid}/cmdline").read_bytes(), f"{c.name} command line", found)
            for key, blob in _redis_dump(stack.redis()):
                _find(blob, f"redis key {key}", found)
        assert stack.survivors() == []
        logs = sorted((tmp_path / "var" / "logs").glob("*"))
        assert {p.stem for p in logs} >= {"stream", "orders", "beat", "flower", "dashboard"}
        for p in logs:
            _find(p.read_bytes(), f"log {p.name}", found)
        db = tmp_path / "var" / "athena.db"
        for p in [db, *db.parent.glob("athena.db-*")]:
            if p.exists():
                _find(p.read_bytes(), f"journal file {p.name}", found)
        con = sqlite3.connect(db)
        for (table,) in con.execute("select name from sqlite_master where type='table'"):
            _find(repr(con.execute(f"select * from {table}").fetchall()), f"journal table {table}", found)
        con.close()
        _find((tmp_path / "redis-data" / "redis.log").read_bytes(), "redis log", found)
    finally:
        stack.stop()
        sim.stop()
        rs.stop()
    assert not found, "\n".join(found)
