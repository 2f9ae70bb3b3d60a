"""Stack: the whole system as real child processes (Redis, sim, orders worker, stream worker, beat,
optional Flower), each in its own process group with its log under `<var>/logs/`; each dies with
the process that started the Stack, even if that one is SIGKILLed (athena.procs).

Used by `athena demo`, the e2e tests, chaos runs and benchmarks:

    with Stack(StackConfig(var_dir=tmp)) as stack:   # start() + wait_ready(); stop() on exit
        stack.ping()                                 # worker names that answered
        stack.kill9("orders"); stack.restart("orders")
        stack.sim_admin("ws/drop", {})

Every child gets the same environment: a unique ATHENA_ACCOUNT (so Redis keys never mix with another
run), the journal under the var dir, and (sim and paper mode) OKX URLs pointing at the stack's own simulator
(in paper mode a paper venue fed by StackConfig.upstream_rest / upstream_ws: docs/PAPER.md).
The generated config layer lives in `<var>/config/` (ATHENA_CONFIG_DIR): the repo's base/env layers
plus `local.json` = StackConfig.config (e.g. strategy params), so nested settings need no env tricks.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from athena.procs import Child, Supervisor, wait_until
from athena.queues import ROLES, AccountQueues, queue_name
from athena.state.keys import LAUNCH_BORROWED
from athena.testing.redis_server import find_redis_server, free_port, redis_answers

ROOT = Path(__file__).resolve().parents[2]  # the repo (athena/process/launch.py)
BORROW_MARKER = LAUNCH_BORROWED
# Children in start order; stop() goes in reverse (workers before the broker they talk to).
ORDER = ("redis", "sim", "stream", "orders", "beat", "flower", "dashboard")


class StackError(RuntimeError):
    """A child failed to start or died; the message carries the tail of its log."""


@dataclass
class StackConfig:
    var_dir: Path
    mode: Literal["sim", "paper", "demo", "live"] = "sim"
    account: str = ""  # empty = unique per run ("s" + random hex)
    env_name: str = ""  # ATHENA_ENV; empty = inherited, else "development"
    symbols: list[str] = field(default_factory=lambda: ["BTC-USDT-SWAP", "ETH-USDT-SWAP"])
    # "private": own redis-server on a free port; "auto": REDIS_URL if it answers and its DB holds no
    # other Celery queues, else private; anything else: that URL, as given.
    redis: str = "private"
    redis_persistence: bool = False  # appendonly yes (chaos: Redis restarts keep state)
    sim_seed: int = 7
    sim_tick_ms: int = 100
    sim_args: list[str] = field(default_factory=list)  # extra `athena sim` arguments
    # paper mode: the stack's sim is a paper venue fed by this public feed (default: OKX's, athena.config)
    upstream_rest: str = ""
    upstream_ws: str = ""
    stream: bool = True
    orders: bool = True
    orders_pool: str = "threads"  # why: workers/app.py
    orders_concurrency: int = 4
    beat: bool = True
    flower: bool = False  # started only if flower is installed
    flower_port: int = 0
    # `athena dashboard` (athena.dashboard); its password is env["ATHENA_DASHBOARD_PASSWORD"], else a
    # random one (Stack.dashboard_password)
    dashboard: bool = False
    dashboard_port: int = 0  # 0: a free port
    metrics: bool = False  # each worker serves Prometheus metrics on a free port (metrics_url(role))
    log_level: str = "INFO"
    config: dict[str, Any] = field(default_factory=dict)  # written as config/local.json (later wins)
    env: dict[str, str] = field(default_factory=dict)  # extra environment for every child
    stop_timeout: float = 15.0  # SIGTERM -> SIGKILL


def _deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_merge(dst[k], v)
        else:
            dst[k] = v
    return dst


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.cfg = config
        self.var = Path(config.var_dir).resolve()
        self.log_dir = self.var / "logs"
        self.account = config.account or f"s{secrets.token_hex(4)}"
        self.queues = AccountQueues(self.account)
        self.redis_url = ""
        self.redis_port = 0
        self.sim_port = 0
        self.flower_port = 0
        self.dashboard_port = 0
        self.dashboard_password = ""
        self.metrics_ports: dict[str, int] = {}  # role -> port of its /metrics (StackConfig.metrics)
        self.env: dict[str, str] = {}
        # every child's base environment: the caller's, without its Athena setup (Supervisor would
        # otherwise add the whole of os.environ under the stack's own variables)
        self.sup = Supervisor(self.log_dir, env=self._inherited_env())
        self._specs: dict[str, tuple[list[str], Callable[[], None]]] = {}
        self._celery: Any = None
        self._redis: Any = None
        self._stopped = False

    # -- names ---------------------------------------------------------------------------------
    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def env_name(self) -> str:
        return self.env.get("ATHENA_ENV", "development")

    def metrics_url(self, role: str) -> str | None:
        """The /metrics URL of the stream or orders worker (None without StackConfig.metrics)."""
        port = self.metrics_ports.get(role)
        return f"http://127.0.0.1:{port}/metrics" if port else None

    def worker_name(self, role: str) -> str:
        return self.queues.node_name(role, socket.gethostname())

    def queue(self, name: str) -> str:
        """A queue of this stack's account: by its full name, or by role ("orders", "default", "stream")."""
        return queue_name(name, self.account) if name in ROLES else name

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def config_dir(self) -> Path:
        return self.var / "config"

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self.start()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Stack:
        """Spawn every child (not waiting for readiness beyond Redis and the sim, which the others need)."""
        cfg = self.cfg
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._start_redis()
        self._write_config()
        self.env = self._child_env()
        if cfg.metrics:
            self.metrics_ports = {"stream": free_port(), "orders": free_port()}
            self.env.update(
                {
                    "ATHENA_METRICS_STREAM_PORT": str(self.metrics_ports["stream"]),
                    "ATHENA_METRICS_ORDERS_PORT": str(self.metrics_ports["orders"]),
                    "ATHENA_METRICS_HOST": "127.0.0.1",
                }
            )
        if cfg.mode in ("sim", "paper"):
            self.sim_port = free_port()
            self.env.update(self._sim_env())
            self._spec(
                "sim",
                [
                    sys.executable,
                    "-m",
                    "athena.cli",
                    "sim",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.sim_port),
                    "--seed",
                    str(cfg.sim_seed),
                    "--tick-ms",
                    str(cfg.sim_tick_ms),
                    *self._paper_args(),
                    *cfg.sim_args,
                ],
                self._wait_sim,
            )
            self.spawn("sim")
            self._wait_sim()
        # every worker role has its spec, so a test can start one the config left out (start_child);
        # the command lines are athena.queues' (the same as docker-compose's and the README's)
        celery = (sys.executable, "-m", "celery")
        self._spec("stream", self.queues.worker_command("stream", celery), self._wait_stream)
        self._spec(
            "orders",
            self.queues.worker_command("orders", celery, cfg.orders_pool, cfg.orders_concurrency),
            lambda: self._wait_ping("orders"),
        )
        self._spec(
            "beat",
            [*celery, "-A", "workers.app", "beat", "--schedule", str(self.var / "celerybeat-schedule")],
            lambda: None,
        )
        for name, wanted in (("stream", cfg.stream), ("orders", cfg.orders), ("beat", cfg.beat)):
            if wanted:
                self.spawn(name)
        if cfg.flower and self._has_flower():
            self.flower_port = cfg.flower_port or free_port()
            # the password comes from the environment (Flower reads FLOWER_BASIC_AUTH), never argv
            self.env.setdefault("FLOWER_BASIC_AUTH", "admin:change-me")
            self._spec(
                "flower",
                [
                    *celery,
                    "-A",
                    "workers.app",
                    "flower",
                    f"--port={self.flower_port}",
                    "--address=127.0.0.1",
                    f"--db={self.var / 'flower.db'}",
                ],
                self._wait_flower,
            )
            self.spawn("flower")
        if cfg.dashboard:
            self.dashboard_port = cfg.dashboard_port or free_port()
            # the password reaches it through the environment, never argv
            self.dashboard_password = self.env.get("ATHENA_DASHBOARD_PASSWORD") or secrets.token_urlsafe(18)
            self.env["ATHENA_DASHBOARD_PASSWORD"] = self.dashboard_password
            self._spec(
                "dashboard",
                [
                    sys.executable,
                    "-m",
                    "athena.cli",
                    "dashboard",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.dashboard_port),
                ],
                self._wait_dashboard,
            )
            self.spawn("dashboard")
        return self

    def wait_ready(self, timeout: float = 90.0) -> Stack:
        """Until every worker answers a ping and the stream worker has live WebSockets and ticks.
        Raises StackError at once if a child dies meanwhile."""
        deadline = time.monotonic() + timeout
        started = {c.name for c in self.sup.children}
        for name in ("orders", "stream"):
            if name in started:
                self._wait(
                    functools.partial(self._ready, name),
                    max(1.0, deadline - time.monotonic()),
                    f"{name} ready",
                )
        if "flower" in started:
            self._wait_flower()
        if "dashboard" in started:
            self._wait_dashboard()
        self.check_alive()  # beat has no readiness probe of its own: it must at least be running
        return self

    def stop(self) -> None:
        """SIGTERM every child (reverse start order), SIGKILL after stop_timeout; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for child in sorted(self.sup.children, key=lambda c: -ORDER.index(c.name) if c.name in ORDER else 0):
            child.stop(self.cfg.stop_timeout)
        if self._celery is not None:
            with contextlib.suppress(Exception):
                self._celery.close()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                self._redis.close()

    def survivors(self) -> list[int]:
        return self.sup.survivors()

    # -- chaos ---------------------------------------------------------------------------------
    def child(self, name: str) -> Child:
        return self.sup.get(name)

    def spawn(self, name: str) -> Child:
        args, _ = self._specs[name]
        return self.sup.spawn(name, args, self.env)

    def kill9(self, name: str) -> None:
        """SIGKILL the child's whole process group (a crash: no shutdown code runs)."""
        self.child(name).kill9()

    def terminate(self, name: str, timeout: float | None = None) -> int | None:
        return self.child(name).stop(self.cfg.stop_timeout if timeout is None else timeout)

    def restart(self, name: str, kill: bool = False, wait: bool = True, timeout: float = 60.0) -> Child:
        """Stop (or kill -9) a child and start it again with the same arguments and environment."""
        old = self.child(name)
        if old.alive():
            old.kill9() if kill else old.stop(self.cfg.stop_timeout)
        self.sup.children.remove(old)
        self.sup.children.append(old)  # keep it so survivors() still checks its process group
        return self.start_child(name, wait, timeout)

    def start_child(self, name: str, wait: bool = True, timeout: float = 60.0) -> Child:
        """Start a child (again, or one the config left out, e.g. an orders worker that comes up
        late) and, with wait, until it is ready."""
        child = self.spawn(name)
        if wait:
            if name == "redis":
                self._wait(lambda: redis_answers(self.redis_url), timeout, "redis answers")
            elif name in ("orders", "stream"):
                self._wait(lambda: self._ready(name), timeout, f"{name} ready")
            else:
                self._specs[name][1]()
        return child

    def check_alive(self) -> None:
        """Raise StackError naming the first child that died (current children only)."""
        latest: dict[str, Child] = {c.name: c for c in self.sup.children}
        for name, c in latest.items():
            if not c.alive():
                code = c.proc.returncode if c.proc else None
                raise StackError(
                    f"{name} exited with code {code}; last lines of {c.log_path}:\n{c.log_tail(3000)}"
                )

    # -- clients -------------------------------------------------------------------------------
    def redis(self) -> Any:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=3)
        return self._redis

    def celery(self) -> Any:
        """A bare Celery client on the stack's broker (control pings, send_task, events)."""
        if self._celery is None:
            from celery import Celery

            self._celery = Celery("athena-launch", broker=self.redis_url, backend=self.redis_url)
            self._celery.conf.update(
                task_serializer="json",
                result_serializer="json",
                accept_content=["json"],
                broker_connection_retry_on_startup=True,
                task_queues=self.queues.kombu_queues(),
                task_default_queue=self.queues.default,
                task_routes=self.queues.routes(),
            )
        return self._celery

    def settings(self) -> Any:
        """The Settings every child loads (same env, same config dir)."""
        from athena.config import load_settings

        return load_settings(environ=self.env, config_dir=self.config_dir, dotenv=False)

    def ping(self, timeout: float = 1.0) -> list[str]:
        try:
            replies = self.celery().control.ping(timeout=timeout) or []
        except Exception:
            return []
        return sorted(name for reply in replies for name in reply)

    def stream_status(self) -> dict[str, Any] | None:
        from athena.state.keys import Keys

        try:
            raw = self.redis().get(Keys(self.env_name, self.account).stream_status)
        except Exception:
            return None
        return json.loads(raw) if raw else None

    def sim_admin(self, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        import requests

        url = f"{self.sim_url}/sim/{path}"
        r = (
            requests.post(url, json=body, timeout=timeout)
            if body is not None
            else requests.get(url, timeout=timeout)
        )
        out = r.json()
        if out.get("code") != "0":
            raise StackError(f"sim admin {path}: {out}")
        return out["data"][0]

    def send_task(
        self, name: str, kwargs: dict[str, Any] | None = None, queue: str | None = None, timeout: float = 60.0
    ) -> Any:
        """Run task `name` on this stack's workers (on its route's queue unless `queue` is given) and wait."""
        target = self.queue(queue) if queue else self.queues.for_task(name)
        return self.celery().send_task(name, kwargs=kwargs or {}, queue=target).get(timeout=timeout)

    # -- internals -----------------------------------------------------------------------------
    def _spec(self, name: str, args: list[str], ready: Callable[[], None]) -> None:
        self._specs[name] = (args, ready)

    @staticmethod
    def _has_flower() -> bool:
        import importlib.util

        return importlib.util.find_spec("flower") is not None

    def _start_redis(self) -> None:
        want = self.cfg.redis
        if want == "auto":
            url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
            if redis_answers(url) and self._borrowable(url):
                self.redis_url = url
                self.redis().set(BORROW_MARKER, self.account)
                return
            want = "private"
        if want != "private":
            if not redis_answers(want):
                raise StackError(f"no Redis answers at the given URL ({want.split('@')[-1]})")
            self.redis_url = want
            return
        self.redis_port = free_port()
        rdir = self.var / "redis"
        rdir.mkdir(parents=True, exist_ok=True)
        args = [
            find_redis_server(),
            "--port",
            str(self.redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self.cfg.redis_persistence else "no",
            "--dir",
            str(rdir),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self._spec("redis", args, lambda: None)
        self.spawn("redis")
        self._wait(lambda: redis_answers(self.redis_url, timeout=0.2), 15.0, "redis answers")

    @staticmethod
    def _borrowable(url: str) -> bool:
        """A DB is safe to borrow unless another deployment's Celery queues live there: its workers
        would take our tasks (and place them with ITS credentials)."""
        import redis

        r = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            if not r.exists(BORROW_MARKER) and any(
                True for _ in r.scan_iter(match="_kombu.binding.*", count=100)
            ):
                return False
        except Exception:
            return False
        finally:
            r.close()
        # even a DB an earlier run borrowed is off limits while any worker listens there (another run)
        from celery import Celery

        probe = Celery("athena-probe", broker=url)
        try:
            return not probe.control.ping(timeout=1.0)
        except Exception:
            return False
        finally:
            probe.close()

    def _write_config(self) -> None:
        """<var>/config: the repo's base and env layers, then StackConfig.config as local.json."""
        from athena.config import CONFIG_DIR

        self.config_dir.mkdir(parents=True, exist_ok=True)
        for f in CONFIG_DIR.glob("*.json"):
            if f.name != "local.json":
                (self.config_dir / f.name).write_text(f.read_text())
        local = _deep_merge({}, self.cfg.config)
        (self.config_dir / "local.json").write_text(json.dumps(local, indent=2, default=str) + "\n")

    def _inherited_env(self) -> dict[str, str]:
        """os.environ without the caller's Athena setup: nothing of it leaks in; the stack says it all."""
        env = dict(os.environ)
        keep = {"ATHENA_ENV", "ATHENA_LIVE_CONFIRM"}
        for k in list(env):
            if k in keep or (self.cfg.mode not in ("sim", "paper") and k.startswith("OKX_")):
                continue  # demo/live: the caller's OKX keys and endpoints are the point
            if k.startswith(("ATHENA_", "OKX_")) or k == "REDIS_URL":
                del env[k]
        return env

    def _child_env(self) -> dict[str, str]:
        cfg = self.cfg
        env = self._inherited_env()
        env.update(
            {
                "ATHENA_ENV": cfg.env_name or os.environ.get("ATHENA_ENV", "development"),
                "ATHENA_CONFIG_DIR": str(self.config_dir),
                "ATHENA_MODE": cfg.mode,
                "ATHENA_ACCOUNT": self.account,
                "ATHENA_SYMBOLS": ",".join(cfg.symbols),
                "REDIS_URL": self.redis_url,
                "ATHENA_DB_URL": f"sqlite:///{self.var / 'athena.db'}",
                "ATHENA_VAR_DIR": str(self.var),
                "ATHENA_LOG_LEVEL": cfg.log_level,
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
            }
        )
        env.update(cfg.env)
        return env

    def _sim_env(self) -> dict[str, str]:
        # Empty OKX keys: in sim mode Settings.credentials() then signs with the sim's own keys.
        return {
            "ATHENA_SIM_HOST": "127.0.0.1",
            "ATHENA_SIM_PORT": str(self.sim_port),
            "ATHENA_SIM_SEED": str(self.cfg.sim_seed),
            "OKX_REST_URL": self.sim_url,
            "OKX_WS_PUBLIC_URL": f"ws://127.0.0.1:{self.sim_port}/ws/v5/public",
            "OKX_WS_PRIVATE_URL": f"ws://127.0.0.1:{self.sim_port}/ws/v5/private",
            "OKX_WS_BUSINESS_URL": f"ws://127.0.0.1:{self.sim_port}/ws/v5/business",
            "OKX_API_KEY": "",
            "OKX_SECRET_KEY": "",
            "OKX_PASSPHRASE": "",
        }

    def _paper_args(self) -> list[str]:
        """Paper mode: the sim's upstream (StackConfig's, else the settings' default: OKX's public feed)."""
        if self.cfg.mode != "paper":
            return []
        from athena.config import PaperSettings

        rest = self.cfg.upstream_rest or PaperSettings().upstream_rest_url
        ws = self.cfg.upstream_ws or PaperSettings().upstream_ws_url
        self.env.update({"ATHENA_PAPER_UPSTREAM_REST": rest, "ATHENA_PAPER_UPSTREAM_WS": ws})
        return ["--upstream-rest", rest, "--upstream-ws", ws, "--inst-ids", ",".join(self.cfg.symbols)]

    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        def check() -> bool:
            self.check_alive()
            return predicate()

        if not wait_until(check, timeout, interval=0.2):
            self.check_alive()
            raise StackError(f"timed out after {timeout:.0f} s waiting for {what} (logs in {self.log_dir})")

    def _wait_sim(self) -> None:
        import requests

        def up() -> bool:
            try:
                return requests.get(f"{self.sim_url}/api/v5/public/time", timeout=0.5).status_code == 200
            except requests.RequestException:
                return False

        self._wait(up, 30.0, "the simulator")

    def _ready(self, name: str) -> bool:
        if name == "orders":
            return self.worker_name("orders") in self.ping(timeout=0.5)
        if name == "stream":
            st = self.stream_status()
            # the worker wrote a fresh status: private WS logged in, public ticks flowing
            return bool(
                st
                and st.get("private") == "ready"
                and st.get("ticks", 0) > 0
                and st.get("at_ms", 0) >= time.time() * 1000 - 5000
            )
        return True

    def _wait_ping(self, role: str) -> None:
        self._wait(lambda: self._ready(role), 60.0, f"{role} worker ping")

    def _wait_stream(self) -> None:
        self._wait(lambda: self._ready("stream"), 60.0, "stream worker connected")

    def _wait_flower(self) -> None:
        import requests

        def up() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{self.flower_port}/healthcheck", timeout=0.5).ok
            except requests.RequestException:
                return False

        self._wait(up, 30.0, "flower")

    def _wait_dashboard(self) -> None:
        import requests

        def up() -> bool:
            try:
                return requests.get(f"{self.dashboard_url}/healthz", timeout=0.5).ok
            except requests.RequestException:
                return False

        self._wait(up, 30.0, "the dashboard")


def stop_on_signals(stack: Stack) -> None:
    """SIGTERM/SIGHUP -> KeyboardInterrupt in the main thread, so `with Stack(...)` unwinds and stops
    every child (the demo under a process manager, a closed terminal)."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)
    # Ctrl-C too, even when started with SIGINT ignored (a background job of a script)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _ = stack
