"""Test harness, one fixture per shared thing: a private redis-server per session, Settings for tests, a
real Celery worker, the simulator on loopback, Settings and an Engine for an account against it (built
through athena/wiring.py, as a worker builds its own). Waiting: tests/waiting.py. A folder's own fixtures
live in its conftest.py, helpers its tests share in a helper module beside them (never in a test module:
tests/unit/test_suite_layout.py).

pytest-celery 1.x is installed (as the design asks) but its plugin needs a Docker engine, which
this machine lacks, and it shadows celery.contrib.pytest's Docker-free worker fixture
(celery/pytest-celery#442). pyproject.toml disables it with `-p no:celery`; `celery_app` and
`celery_worker` below use celery.contrib.testing directly against the private Redis.
"""

from __future__ import annotations

import decimal
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hypothesis  # noqa: F401 - see below
import pytest

from athena.testing.redis_server import RedisServer

if TYPE_CHECKING:
    from athena.config import Settings
    from athena.engine import Engine
    from athena.sim.client import SimClient
    from athena.sim.server import SimServer

os.environ.setdefault("ATHENA_ENV", "test")
# hypothesis is imported above, before any worker thread exists: pytest rewrites its modules (a
# plugin's) with ast.parse, and CPython 3.11's AST constructor is not thread-safe (cpython#106905,
# pytest#10763: "AST constructor recursion depth mismatch" when it happens next to a live thread).


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    os.environ["REDIS_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture()
def redis_client(redis_url: str):  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_settings(redis_url: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from athena.config import load_settings, set_settings

    db = tmp_path_factory.mktemp("db") / "athena.db"
    env = {"ATHENA_ENV": "test", "REDIS_URL": redis_url, "ATHENA_DB_URL": f"sqlite:///{db}"}
    settings = load_settings(env="test", environ=env, dotenv=False)
    set_settings(settings)
    return settings


@pytest.fixture(scope="session")
def celery_app(test_settings):  # type: ignore[no-untyped-def]
    from workers.app import app, configure

    configure(app, test_settings)
    yield app
    # Results garbage-collected after the private Redis stops would each retry it for 20 s.
    app.backend.retry_policy = {"max_retries": 0, "interval_start": 0, "interval_step": 0, "interval_max": 0}


@pytest.fixture(scope="session")
def celery_worker(celery_app, test_settings):  # type: ignore[no-untyped-def]
    """A real Celery worker thread consuming every queue from the private Redis."""
    import redis
    from celery.contrib.testing.worker import start_worker

    from athena.config import set_settings
    from athena.queues import AccountQueues
    from athena.state.workers import WorkerRegistry

    # Under xdist this starts whenever the first module needing it runs on this process, after any other
    # module: its queue claim checks the queues against the process's current settings (a module may have
    # set another account's), and refuses a registration another deployment left on them (a worker process
    # an earlier module killed, still within its freshness window). The session's Redis is private and this
    # is the session account's worker, so both are put back first.
    set_settings(test_settings)
    queues = list(AccountQueues(celery_app_settings_account(celery_app)).all)
    client = redis.Redis.from_url(celery_app.conf.broker_url)
    registry = WorkerRegistry(client)
    for entry in registry.entries(queues, include_stale=True):
        registry.release(queues, entry.node)
    client.close()
    with start_worker(
        celery_app,
        pool="threads",
        concurrency=2,
        queues=queues,
        perform_ping_check=False,
        shutdown_timeout=10,
    ) as worker:
        yield worker


@pytest.fixture(autouse=True)
def _decimal_context_per_test() -> Iterator[None]:
    """Each test runs in its own copy of the decimal context: a library that changes the thread's
    context (ccxt's decimal_to_precision sets ROUND_HALF_UP) cannot change the next test's numbers."""
    with decimal.localcontext():
        yield


def celery_app_settings_account(app) -> str:  # type: ignore[no-untyped-def]
    """The account the app was configured for (its default queue is `default.<account>`)."""
    from athena.queues import account_of

    account = account_of(app.conf.task_default_queue)
    assert account, app.conf.task_default_queue
    return account


@pytest.fixture(scope="session")
def celery_account(celery_app) -> str:  # type: ignore[no-untyped-def]
    """The account whose queues the session's Celery worker consumes."""
    return celery_app_settings_account(celery_app)


@pytest.fixture()
def sim() -> Iterator[SimServer]:
    """A fresh simulator on loopback HTTP/WS, its market stepping off: prices move only when a test
    moves them."""
    from athena.sim.server import SimServer

    server = SimServer(tick_interval_ms=0).start()
    yield server
    server.stop()


@pytest.fixture()
def sim_client(sim: SimServer) -> SimClient:
    """The simulator's signed raw client: its admin API (prices, faults, state) and raw OKX calls."""
    from athena.sim.client import SimClient

    return SimClient(sim.url)


_accounts = itertools.count(1)


@pytest.fixture()
def sim_settings(redis_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a fresh account (`<prefix><n>`) against a simulator's REST API, loaded the way a
    process loads them; more environment (the WebSocket URLs, ATHENA__... overrides) as keyword arguments."""
    from athena.config import load_settings

    def make(sim: SimServer, prefix: str, **env: str) -> Settings:
        account = f"{prefix}{next(_accounts)}"
        db = tmp_path / f"{account}.db"
        base = {
            "ATHENA_ENV": "test",
            "REDIS_URL": redis_url,
            "ATHENA_DB_URL": f"sqlite:///{db}",
            "ATHENA_ACCOUNT": account,
            "OKX_REST_URL": sim.url,
        }
        return load_settings(env="test", environ={**base, **env}, dotenv=False)

    return make


@pytest.fixture()
def sim_engine(sim_settings: Callable[..., Settings]) -> Iterator[Callable[..., Engine]]:
    """An orders worker's Engine for a fresh account against a simulator, built through athena/wiring.py
    (sender: RecordingSender unless given; account_kw go to wiring.account); closed after the test."""
    from athena import wiring
    from athena.oms.sender import RecordingSender

    built: list[Engine] = []

    def make(
        sim: SimServer, prefix: str, sender: Any = None, account_kw: dict[str, Any] | None = None, **env: str
    ) -> Engine:
        acct = wiring.account(sim_settings(sim, prefix, **env), **(account_kw or {}))
        engine = wiring.orders_engine(acct, sender if sender is not None else RecordingSender())
        built.append(engine)
        return engine

    yield make
    for engine in built:
        engine.close()


@pytest.fixture()
def var_dir(tmp_path: Path) -> Path:
    return tmp_path


# The one skip a developer's machine may take: NautilusTrader needs Python >= 3.12, which `make test`
# finds (pyenv, PATH) or provisions (uv) and which CI always has. Under ATHENA_STRICT_SKIPS=1 (.ci/run)
# it fails like any other skip.
ALLOWED_SKIPS = ("NAUTILUS CONFORMANCE NOT RUN",)


def _skip_is_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if os.environ.get("ATHENA_STRICT_SKIPS") != "1" and any(a in reason for a in ALLOWED_SKIPS):
            return
        report.outcome = "failed"
        report.longrepr = f"skipped, which this suite treats as a failure: {reason}"


# A skipped test is a failed one: a skip checks nothing while the run shows green. The suite has no
# optional parts; a missing sample, module or tool is a defect of the checkout, not a reason to pass.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    _skip_is_failure(outcome.get_result())  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    _skip_is_failure(outcome.get_result())  # type: ignore[attr-defined]


@pytest.fixture()
def http_recorder() -> Iterator[object]:
    """A real HTTP server on a free port recording what alert sinks POST to it (tests/recording_http.py)."""
    from tests.recording_http import RecordingServer

    server = RecordingServer().start()
    yield server
    server.stop()


# The fuzz session summary: how many inputs each target was fed. Under pytest-xdist each worker counts
# its own targets and hands them to the controller when it finishes (workeroutput); the controller,
# which loads only this conftest, prints the sum.
def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.fuzz._fuzz import TRIED

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fuzz_tried"] = dict(TRIED)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    from tests.fuzz._fuzz import TRIED

    TRIED.update(getattr(node, "workeroutput", {}).get("fuzz_tried", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.fuzz._fuzz import PROFILE, TRIED

    if not TRIED:
        return
    tr = terminalreporter
    tr.write_sep("-", f"fuzz inputs tried (hypothesis profile {PROFILE!r})")
    for target, n in sorted(TRIED.items()):
        tr.write_line(f"{target:<40} {n:>8}")
    tr.write_line(f"{'total':<40} {sum(TRIED.values()):>8}")


@pytest.fixture(autouse=True)
def _result_get_allowed_after_each_test() -> Iterator[None]:
    """A Celery worker started in this process (celery.contrib.testing) marks the process as one whose
    tasks must not wait on results; a later test in the same process that waits on a task's result
    (send_task(...).get()) would be refused. Each test starts from the normal state."""
    yield
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)
