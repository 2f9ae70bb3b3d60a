"""sync_positions started by beat, against a sim whose positions endpoint answers HTTP 5xx.

Beat sends the job every interval with `expires` = that interval, and Celery's retry keeps the
message's expiry, so a backoff made of chained retries dies within one interval. The backoff and
the breaker live in Redis instead and every run honours them: here, on a real Celery worker, with
beat's own options (beat_schedule.build_schedule), the attempts must come 1, 2, 4, ... 60 s apart
and the breaker must open at the 10th consecutive failure, for 60 s.

Time: the worker's Engine times the backoff and the breaker with a clock this test holds (the
code's decisions are made on it, so gaps are exact). A fake beat loop moves it to each beat tick and
sends the job as beat would; while a run waits for its own retry, the loop moves the clock to the
due time the run recorded in Redis, and Celery's real countdown lets the retry find it there. Only
~20 s of wall time are spent waiting for those countdowns, for 5 minutes of the job's time.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

from athena.config import Settings, get_settings, load_settings, set_settings
from athena.engine import Engine
from athena.sim.client import SimClient
from athena.sim.server import SimServer
from athena.wiring import account, orders_engine
from beat_schedule import build_schedule
from workers import tasks
from workers.sender import CelerySender

pytestmark = pytest.mark.usefixtures("celery_worker")

_accounts = itertools.count(1)
POSITIONS = "/api/v5/account/positions"
T0_MS = 1_800_000_000_000  # where the job's clock starts


class HeldClock:
    """The job's clock, in whole ms: moves only when the test moves it, never backwards."""

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.ms / 1000

    def set(self, ms: int) -> None:
        with self._lock:
            assert ms >= self.ms, f"clock would go back from {self.ms} to {ms}"
            self.ms = ms


@dataclass
class Job:
    sim: SimServer
    settings: Settings
    engine: Engine
    clock: HeldClock
    attempts: list[int] = field(default_factory=list)  # clock ms at each positions request the sim saw

    def next_at(self) -> int | None:
        raw = self.engine.redis.hget(self.engine.keys.backoff("sync_positions"), "next_at")
        return int(raw) if raw else None


@pytest.fixture()
def job(redis_url: str, tmp_path: Path, celery_app: Celery) -> Iterator[Job]:
    previous = get_settings()
    sim = SimServer(tick_interval_ms=0).start()
    env = {
        "ATHENA_ENV": "test",
        "REDIS_URL": redis_url,
        "ATHENA_DB_URL": f"sqlite:///{tmp_path / 'athena.db'}",
        "ATHENA_ACCOUNT": f"syncbackoff{next(_accounts)}",
        "OKX_REST_URL": sim.url,
        "OKX_WS_PUBLIC_URL": sim.ws_url("public"),
        "OKX_WS_PRIVATE_URL": sim.ws_url("private"),
    }
    settings = load_settings(env="test", environ=env, dotenv=False)  # breaker: 10 failures, 60 s (defaults)
    set_settings(settings)
    clock = HeldClock(T0_MS)
    engine = orders_engine(account(settings, shared_clock=clock), CelerySender(celery_app))
    tasks.set_engine(engine)
    out = Job(sim, settings, engine, clock)
    sim.on_request = lambda path, raw, recv_ns: out.attempts.append(clock.ms) if path == POSITIONS else None
    try:
        yield out
    finally:
        # The worker's retries leave AsyncResults in reference cycles; collected later (Redis gone),
        # each would try to unsubscribe from the result backend for 20 s.
        gc.collect()
        sim.on_request = None
        tasks.reset_engine()
        set_settings(previous)
        sim.stop()


def beat_sends(job: Job, celery_app: Celery, tick_ms: int, entry: dict[str, Any]) -> str:
    """One beat tick: the clock at the tick, the job sent with beat's options, then followed until
    the message is done (succeeded, or expired waiting for a retry). A run that waits for its own
    retry has recorded when the attempt is due; the clock is moved there (never past the next tick:
    beat would send again first)."""
    interval_ms = int(entry["schedule"] * 1000)
    job.clock.set(tick_ms)
    result = celery_app.send_task(entry["task"], **entry["options"])
    deadline = time.monotonic() + 30
    while not result.ready():
        if result.state == "RETRY":
            due = job.next_at()
            if due is not None and job.clock.ms < due < tick_ms + interval_ms:
                job.clock.set(due)
        assert time.monotonic() < deadline, (
            f"message of tick {tick_ms - T0_MS} ms still {result.state} after 30 s"
        )
        time.sleep(0.01)
    result.get(timeout=5, propagate=False)  # releases the result's subscription to the backend
    return str(result.state)


def test_backoff_and_breaker_hold_when_beat_starts_the_job(
    job: Job, celery_app: Celery, celery_account: str
) -> None:
    # beat's real options, on the queue of the session's worker (queue names carry the account; this
    # job's engine keeps its own account's keys)
    worker_account = celery_account
    entry = build_schedule(job.settings.model_copy(update={"account": worker_account}))["sync_positions"]
    assert entry["options"]["expires"] == entry["schedule"] == 5.0
    SimClient(job.sim.url).admin("faults", {"rest_5xx": {"rate": 1.0, "path": POSITIONS}})
    breaker = job.engine.breaker("sync_positions")
    seen: dict[int, tuple[str, int]] = {}  # attempts so far -> breaker (state, failures) after that tick
    tick = T0_MS
    while len(job.attempts) < 11 and tick <= T0_MS + 330_000:
        beat_sends(job, celery_app, tick, entry)
        seen.setdefault(len(job.attempts), (breaker.state(), breaker.failures()))
        tick += int(entry["schedule"] * 1000)

    gaps_s = [(b - a) / 1000 for a, b in itertools.pairwise(job.attempts)]
    assert gaps_s == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60], [(a - T0_MS) / 1000 for a in job.attempts]
    assert seen[9] == ("closed", 9)  # every failure counted, once
    assert seen[10][0] == "open"  # ... and the 10th opened it: 60 s without a request
    assert breaker.trips() == 2  # the half-open attempt 60 s later failed and re-opened it
    assert job.sim.faults.fired["rest_5xx"] == len(job.attempts) == 11
