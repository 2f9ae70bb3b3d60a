"""`athena optimize` across two real research worker processes (private Redis, real Celery workers):
the trials are spread over both, the same seed gives the same result document (and the same as one
process running every trial itself), and operator errors are one sentence with nothing left queued."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from athena import procs
from athena.queues import AccountQueues
from athena.state.workers import WorkerRegistry
from athena.testing.redis_server import free_port
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "opt1"
QUEUES = AccountQueues(ACCOUNT)
# 120 s of the synthetic market: 3 walk-forward windows of 40 s, 4 trials each (~0.1 s per trial)
SEARCH = [
    "--synthetic",
    "--duration",
    "120",
    "--param",
    "take_profit_bps=float:1:10:0.5",
    "--param",
    "imbalance_threshold=float:0.1:0.6",
    "--trials",
    "4",
    "--batch",
    "4",
    "--folds",
    "3",
]


def _env(redis_url: str, tmp_path: Path, account: str = ACCOUNT) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHENA_", "OKX_", "REDIS_"))}
    env.update(
        {
            "ATHENA_ENV": "test",
            "REDIS_URL": redis_url,
            "ATHENA_DB_URL": f"sqlite:///{tmp_path}/a.db",
            "PYTHONPATH": str(ROOT),
            "ATHENA_ACCOUNT": account,
            "ATHENA_LOG_LEVEL": "WARNING",
        }
    )
    return env


@pytest.fixture(scope="module")
def research_workers(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Two research worker processes on queue research.opt1, solo pool with -c 1: one trial at a time each,
    and one reserved at a time (solo's default concurrency is the CPU count, and so its prefetch)."""
    tmp = tmp_path_factory.mktemp("research")
    env = _env(redis_url, tmp)
    workers = []
    for i in (1, 2):
        log = (tmp / f"worker{i}.log").open("w")
        workers.append(
            procs.popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "workers.research",
                    "worker",
                    "-Q",
                    QUEUES.research,
                    "-P",
                    "solo",
                    "-c",
                    "1",
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    f"research{i}-{ACCOUNT}-{os.getpid()}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    r = redis.Redis.from_url(redis_url)
    try:
        wait_for(
            lambda: len(WorkerRegistry(r).entries([QUEUES.research])) == 2,
            90,
            "two research workers",
            interval=0.2,
        )
        yield env
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
        r.close()


def _optimize(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "athena.cli", "optimize", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_trials_run_on_both_workers_and_the_same_seed_gives_the_same_result(
    research_workers: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "run.json"
    p = _optimize(research_workers, *SEARCH, "--seed", "3", "--out", str(out), "--json")
    assert p.returncode == 0, p.stderr
    printed = json.loads(p.stdout)
    assert sum(printed["workers"].values()) == 2 * (4 + 2)  # 2 steps x (4 trials + best and defaults OOS)
    assert len(printed["workers"]) == 2, printed["workers"]  # both workers ran trials
    file = out.read_text()
    doc = json.loads(file)
    assert [f["fold"] for f in doc["folds"]] == [0, 1]
    for f in doc["folds"]:
        assert len(f["trials"]) == 4
        best = max(f["trials"], key=lambda t: (t["value"], -t["number"]))
        assert f["best"]["params"] == best["params"] and f["best"]["value"] == float(
            f["best_in_sample"]["net_pnl"]
        )
        assert f["in_sample"]["end_ts"] == f["out_of_sample"]["start_ts"]  # evaluated on the next window
        assert f["best_out_of_sample"]["start_ts"] >= f["out_of_sample"]["start_ts"]
        assert f["best_out_of_sample"]["end_ts"] < f["out_of_sample"]["end_ts"]
    assert doc["summary"]["recommended_params"] == doc["folds"][-1]["best"]["params"]

    # The same seed again, in one process running every trial itself in order: the same document,
    # byte for byte. The result depends neither on how many workers ran the trials nor on the order
    # they finished in.
    from athena.research.cli import _config, _parser, _with_period
    from athena.research.search import LocalRunner, report, run_search
    from athena.research.trial import close_scratch

    config = _with_period(_config(_parser().parse_args([*SEARCH, "--seed", "3"])))
    try:
        local = report(config, run_search(config, LocalRunner(config)))
    finally:
        close_scratch()
    assert json.dumps(local, indent=2, sort_keys=True) + "\n" == file


def test_operator_errors_are_one_sentence_and_queue_nothing(
    research_workers: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    r = redis.Redis.from_url(redis_url)
    # no research worker of this account: refused before anything is sent
    t0 = time.monotonic()
    p = _optimize(_env(redis_url, tmp_path, account="opt2"), *SEARCH)
    assert p.returncode == 3 and time.monotonic() - t0 < 20
    assert p.stderr.count("\n") == 1 and "no research worker of account opt2 is running" in p.stderr, p.stderr
    assert "Nothing was sent" in p.stderr and "celery -A workers.research worker -Q research.opt2" in p.stderr
    assert r.llen(AccountQueues("opt2").research) == 0
    # Redis down (the command's preflight, in process)
    from athena.config import load_settings
    from athena.process.control import ControlExit
    from athena.research.cli import _config, _parser, _preflight

    down = load_settings(
        env="test", environ={**_env(f"redis://127.0.0.1:{free_port()}/0", tmp_path)}, dotenv=False
    )
    with pytest.raises(ControlExit, match=r"does not answer.*Nothing was done") as exc:
        _preflight(down)
    assert exc.value.code == 3
    # a bad space: said before any connection (the command's own parsing, in process)
    for argv, said in (
        (["--param", "take_profit_bps=float:-1:3"], "take_profit_bps refuses -1"),
        (["--param", "stop_loss=int:1:3"], "ScalperV1 has no parameter 'stop_loss'"),
        (["--param", "cooldown_s=int:1:9", "--folds", "1"], "--folds must be at least 2"),
        (["--param", "take_profit_bps=float:1:3", "--sampler", "grid"], "a grid needs a step"),
    ):
        with pytest.raises(ControlExit, match=said) as exc:
            _config(_parser().parse_args(["--synthetic", *argv]))
        assert exc.value.code == 2
    assert r.llen(QUEUES.research) == 0
    r.close()


def test_a_search_that_gives_up_leaves_nothing_queued(
    research_workers: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    """16 trials of 60 s windows cannot finish in 0.2 s on two workers: the command withdraws the queued
    ones and revokes the running ones, so no trial of it runs later."""
    r = redis.Redis.from_url(redis_url)
    p = _optimize(
        research_workers,
        "--synthetic",
        "--duration",
        "120",
        "--param",
        "take_profit_bps=float:1:10",
        "--trials",
        "16",
        "--batch",
        "16",
        "--folds",
        "2",
        "--timeout",
        "0.2",
        "--no-progress",
    )
    assert p.returncode == 3, p.stderr
    assert "did not finish" in p.stderr and "withdrawn unrun" in p.stderr and p.stderr.count("\n") == 1, (
        p.stderr
    )
    assert r.llen(QUEUES.research) == 0
    r.close()


def test_ctrl_c_takes_the_queued_trials_back(research_workers: dict[str, str], redis_url: str) -> None:
    import signal

    r = redis.Redis.from_url(redis_url)
    proc = procs.popen(
        [
            sys.executable,
            "-m",
            "athena.cli",
            "optimize",
            "--synthetic",
            "--duration",
            "120",
            "--param",
            "take_profit_bps=float:1:10",
            "--trials",
            "16",
            "--batch",
            "16",
            "--folds",
            "2",
            "--no-progress",
        ],
        cwd=ROOT,
        env=research_workers,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: r.llen(QUEUES.research) > 0, 60, "trials queued behind the two busy workers")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and "interrupted;" in err and "withdrawn" in err, err
    assert r.llen(QUEUES.research) == 0
    r.close()


def test_the_research_app_refuses_any_other_queue(redis_url: str, tmp_path: Path) -> None:
    """Its worker knows one task: on the orders queue it would take orders and lose them as unknown."""
    p = procs.run(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.research",
            "worker",
            "-Q",
            QUEUES.orders,
            "-P",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"stray-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=_env(redis_url, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 78, p.stderr[-2000:]
    assert f"consumes {QUEUES.research} only" in p.stderr and f"-Q {QUEUES.research}" in p.stderr, p.stderr[
        -2000:
    ]
    from workers.research import app

    assert [kq.name for kq in app.conf.task_queues] == [app.conf.task_default_queue]  # no -Q: research alone


def test_a_trial_that_fails_on_its_worker_is_said_and_the_rest_withdrawn(
    research_workers: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    """Data the driver could read but a worker cannot (not on that machine): the worker's error, one
    sentence, exit 1, and no trial of the batch left queued."""
    from athena.config import load_settings
    from athena.process.control import ControlExit
    from athena.research.cli import _preflight
    from athena.research.data import DataSpec
    from athena.research.runner import CeleryRunner
    from athena.research.search import SearchConfig, TrialCall

    settings = load_settings(env="test", environ=_env(redis_url, tmp_path), dotenv=False)
    ready = _preflight(settings)
    config = SearchConfig(DataSpec(paths=(str(tmp_path / "not-on-the-worker.jsonl"),)), "ScalperV1", [], 0, 1)
    runner = CeleryRunner(ready, config, timeout=60)
    try:
        with pytest.raises(ControlExit, match="a trial failed on its worker") as exc:
            runner.run([TrialCall({}, (0, 1))] * 6, lambda: None)
    finally:
        runner.close()
    assert exc.value.code == 1 and "not-on-the-worker.jsonl" in str(exc.value)
    r = redis.Redis.from_url(redis_url)
    assert r.llen(QUEUES.research) == 0
    r.close()


def test_recorded_data_goes_by_reference(research_workers: dict[str, str], tmp_path: Path) -> None:
    """Files: the task carries their absolute paths and fingerprint; the workers read them."""
    out = tmp_path / "recorded.json"
    p = _optimize(
        research_workers,
        "--data",
        "athena/data/samples/recorded",
        "--param",
        "cooldown_s=int:5:30",
        "--trials",
        "2",
        "--batch",
        "2",
        "--folds",
        "2",
        "--out",
        str(out),
        "--json",
    )
    assert p.returncode == 0, p.stderr
    assert sum(json.loads(p.stdout)["workers"].values()) == 2 + 2
    doc = json.loads(out.read_text())
    assert (
        doc["data"]["paths"] == [str(ROOT / "athena/data/samples/recorded")]
        and len(doc["data"]["fingerprint"]) == 16
    )
    fold = doc["folds"][0]
    assert fold["best_in_sample"]["events"] > 0 and fold["best_out_of_sample"]["events"] > 0
