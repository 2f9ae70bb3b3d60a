"""Shared helpers for the benchmarks: percentiles, the machine/date header, JSON results under
var/bench/<name>.json, synthetic instruments, and a private stack (Redis + sim + Settings).

Benchmarks print figures and assert nothing about time. Every figure carries the load average at
the moment it was taken: this machine is shared, and a figure without its load is not comparable.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = Path(
    os.environ.get("ATHENA_BENCH_OUT") or ROOT / "var" / "bench"
)  # the smoke test writes elsewhere
PY = (
    str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
)
CELERY = str(Path(PY).parent / "celery")

if str(ROOT) not in sys.path:  # `python bench/bench_x.py` as well as `python -m bench.bench_x`
    sys.path.insert(0, str(ROOT))


# -- statistics -------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of unsorted values; 0.0 when empty."""
    if not values:
        return 0.0
    s = sorted(values)
    return float(s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))])


def stats_ns(ns: Iterable[int], unit: str = "us") -> dict[str, float | int]:
    """count/p50/p99/max/mean of nanosecond samples, in `unit` (us or ms)."""
    div = {"us": 1e3, "ms": 1e6, "s": 1e9}[unit]
    vals = [v / div for v in ns]
    return {
        "count": len(vals),
        f"p50_{unit}": round(pct(vals, 0.50), 3),
        f"p99_{unit}": round(pct(vals, 0.99), 3),
        f"max_{unit}": round(max(vals, default=0.0), 3),
        f"mean_{unit}": round(sum(vals) / len(vals), 3) if vals else 0.0,
    }


def fmt_stats(label: str, st: dict[str, Any], unit: str = "us") -> str:
    return (
        f"{label:<44} n={st['count']:<6} p50 {st[f'p50_{unit}']:>9.3f} {unit}  p99 "
        f"{st[f'p99_{unit}']:>9.3f} {unit}"
        f"  max {st[f'max_{unit}']:>9.3f} {unit}"
    )


# -- machine / date header ----------------------------------------------------------------------------
def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    from athena import procs

    try:
        return procs.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_canary(rounds: int = 5) -> float:
    """µs for a fixed pure-Python workload (Decimal arithmetic, dict and str work, like the tick
    path): the best of `rounds`. A shared VM's speed moves by tens of percent within an hour, load
    average or not; this says how fast the machine was when the figures beside it were taken."""
    from decimal import Decimal

    px, sz = Decimal("43521.7"), Decimal("0.013")
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        acc = Decimal(0)
        book: dict[str, Decimal] = {}
        for i in range(2000):
            key = f"BTC-USDT-SWAP:{i & 31}"
            book[key] = px + i * sz
            acc += book[key] * sz
        best = min(best, (time.perf_counter_ns() - t0) / 1000)
    return round(best, 1)


def header() -> dict[str, Any]:
    mem_gb = 0.0
    try:
        import psutil

        mem_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": (
            f"{cpu_model()}, {os.cpu_count()} cores, {mem_gb} GiB, {platform.system()} {platform.release()}"
        ),
        "python": platform.python_version(),
        "commit": git_commit(),
        "loadavg": loadavg(),
        "cpu_canary_us": cpu_canary(),
    }


def print_header(name: str) -> dict[str, Any]:
    h = header()
    print(
        f"== {name}  {h['date']}  {h['machine']}  py{h['python']}  load {h['loadavg']}"
        f"  cpu canary {h['cpu_canary_us']} µs",
        flush=True,
    )
    return h


def write_json(name: str, doc: dict[str, Any], out: Path | None = None) -> Path:
    """Write doc (with the header, and the load average at the end of the run) to var/bench/<name>.json."""
    path = out or OUT_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {"bench": name, **header(), **doc}
    full["loadavg_end"] = loadavg()
    path.write_text(json.dumps(full, indent=2, default=str) + "\n")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)
    return path


def quiet_logs() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    for name in ("athena", "celery", "kombu", "urllib3", "websocket", "aiohttp", "ccxt", "okx", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)


# -- instruments ------------------------------------------------------------------------------------
def synthetic_instruments(n: int) -> list[Any]:
    """The sim's default instruments, then BTC-like clones (X6-USDT-SWAP, ...) up to n."""
    from athena.domain.instrument import Instrument
    from athena.sim.instruments import SimInstrument, _row, default_instruments

    out = default_instruments()[:n]
    i = len(out)
    while len(out) < n:
        i += 1
        inst_id = f"X{i}-USDT-SWAP"
        row = _row(inst_id, "0.01", "0.01", "0.1", 20000 + i, "12000", "100")
        out.append(
            SimInstrument(
                Instrument.from_okx(row), row, Decimal("1000.0") + i, Decimal("0.004"), 20, Decimal(50)
            )
        )
    return out


def inst_ids(n: int) -> list[str]:
    return [si.instId for si in synthetic_instruments(n)]


# -- a private stack --------------------------------------------------------------------------------
@dataclass
class Stack:
    """A private redis-server, an in-process SimServer and the env/Settings that point at them.

    Worker processes started with `spawn()` get the same env; everything is stopped on exit."""

    n_instruments: int = 2
    tick_interval_ms: int = 0
    account: str = "bench"
    sim_process: bool = False  # the sim in its own process (bench.simproc): no GIL shared with the bench
    sim_kwargs: dict[str, Any] = field(default_factory=dict)
    sim_args: list[str] = field(default_factory=list)  # extra bench.simproc flags (sim_process=True)
    extra_env: dict[str, str] = field(default_factory=dict)
    redis: Any = None
    sim: Any = None
    sup: Any = None
    sim_port: int = 0
    client: Any = None
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="athena-bench-")))

    def start(self) -> Stack:
        from athena.procs import Supervisor
        from athena.sim.server import SimServer
        from athena.testing.redis_server import RedisServer

        self.redis = RedisServer().start()
        if self.sim_process:
            from athena.sim.client import SimClient
            from athena.testing.redis_server import free_port

            self.sim_port = free_port()
            self.sup = Supervisor(self.tmp / "logs", env={**os.environ, "PYTHONPATH": str(ROOT)})
            child = self.sup.spawn(
                "sim",
                [
                    PY,
                    "-m",
                    "bench.simproc",
                    "--port",
                    str(self.sim_port),
                    "--redis",
                    self.redis.url,
                    "--instruments",
                    str(self.n_instruments),
                    *self.sim_args,
                ],
            )
            self.client = SimClient(self.sim_url)
            deadline = time.monotonic() + 30
            while True:
                try:
                    self.client.get("/api/v5/public/time", signed=False)
                    break
                except Exception:
                    if time.monotonic() > deadline or not child.alive():
                        raise RuntimeError(f"sim process did not start: {child.log_tail()}") from None
                    time.sleep(0.05)
            self.sup.env = {**os.environ, **self.env}
            return self
        kw = {
            "tick_interval_ms": self.tick_interval_ms,
            "rate_limits": False,
            "instruments": synthetic_instruments(self.n_instruments),
            **self.sim_kwargs,
        }
        self.sim = SimServer(**kw).start()
        self.sup = Supervisor(self.tmp / "logs", env={**os.environ, **self.env})
        return self

    # -- the sim, wherever it runs --------------------------------------------------------------------
    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}" if self.sim_process else str(self.sim.url)

    def sim_ws(self, kind: str) -> str:
        return (
            f"ws://127.0.0.1:{self.sim_port}/ws/v5/{kind}" if self.sim_process else str(self.sim.ws_url(kind))
        )

    def admin(self, path: str, body: Any = None) -> Any:
        if self.sim_process:
            return self.client.admin(path, body)
        from athena.sim.client import SimClient

        return SimClient(self.sim.url).admin(path, body)

    def step(self, n: int = 1) -> None:
        self.admin("step", {"n": n})

    def mid(self, inst_id: str) -> Decimal:
        m = self.admin("state")["markets"][inst_id]
        return (Decimal(m["bid"]) + Decimal(m["ask"])) / 2

    def stamps(self, kind: str) -> dict[str, int]:
        """bench:recv / bench:fill written by bench.simproc (sim_process=True only)."""
        import redis

        r = redis.Redis.from_url(self.redis.url)
        try:
            return {k.decode(): int(v) for k, v in r.hgetall(f"bench:{kind}").items()}
        finally:
            r.close()

    @property
    def symbols(self) -> list[str]:
        return inst_ids(self.n_instruments)

    @property
    def env(self) -> dict[str, str]:
        return {
            "ATHENA_ENV": "test",
            "ATHENA_LOG_LEVEL": "WARNING",
            "REDIS_URL": self.redis.url,
            "ATHENA_DB_URL": f"sqlite:///{self.tmp / 'athena.db'}",
            "ATHENA_ACCOUNT": self.account,
            "ATHENA_SYMBOLS": ",".join(self.symbols),
            "OKX_REST_URL": self.sim_url,
            "OKX_WS_PUBLIC_URL": self.sim_ws("public"),
            "OKX_WS_PRIVATE_URL": self.sim_ws("private"),
            "OKX_WS_BUSINESS_URL": self.sim_ws("business"),
            "PYTHONPATH": str(ROOT),
            **self.extra_env,
        }

    def settings(self, **update: Any) -> Any:
        from athena.config import load_settings, set_settings

        s = load_settings(env="test", environ=self.env, dotenv=False)
        if update:
            s = s.model_copy(update=update)
        set_settings(s)
        return s

    def spawn(self, name: str, args: list[str]) -> Any:
        return self.sup.spawn(name, args)

    def spawn_orders_worker(
        self, app: str = "workers.app", concurrency: int = 4, name: str = "orders", pool: str = "threads"
    ) -> Any:
        from athena.config import load_settings
        from athena.queues import AccountQueues

        queues = ",".join(
            AccountQueues(load_settings(env="test", environ=self.env, dotenv=False).account).for_worker(
                "orders"
            )
        )
        return self.spawn(
            name,
            [
                CELERY,
                "-A",
                app,
                "worker",
                "-Q",
                queues,
                "-P",
                pool,
                "-c",
                str(concurrency),
                "--prefetch-multiplier",
                "1",
                "-n",
                f"{name}-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
            ],
        )

    def stop(self) -> None:
        if self.sup is not None:
            self.sup.stop_all()
        if self.sim is not None:
            self.sim.stop()
        if self.redis is not None:
            self.redis.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_celery(app: Any, timeout: float = 60.0) -> None:
    """Block until a worker answers athena.ping (the worker is consuming)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if app.send_task("athena.ping").get(timeout=2) == "pong":  # routed to the account's queue
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@contextmanager
def timed() -> Iterator[list[float]]:
    out: list[float] = []
    t0 = time.perf_counter()
    yield out
    out.append(time.perf_counter() - t0)


def rss_mb_tree(pid: int) -> float:
    """RSS of a process and all its descendants (a prefork worker's children included), MiB."""
    return mem_mb_tree(pid)[0]


def mem_mb_tree(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process and all its descendants, MiB. RSS counts pages a prefork parent
    shares with its children once per process; PSS splits shared pages between their users, so the
    PSS of several processes adds up to the RAM they really take."""
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, 0.0
    rss = pss = 0
    for q in procs:
        try:
            info = q.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return rss / 2**20, pss / 2**20
