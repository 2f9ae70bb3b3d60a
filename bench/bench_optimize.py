"""Trials/s of `athena optimize` with 1 and with 2 research workers, side by side in one run (issue 19
item 3).

A private redis-server, real `celery -A workers.research worker` processes (solo pool, -c 1: one
trial at a time each, so "workers" here = CPUs used) and the real `athena optimize` command. Two
deployments side by side on the one Redis: account benchone with one research worker, benchtwo with
two. The same search (the seeded synthetic market, the same seed) runs on each in turn, alternated
--reps times (a shared host changes speed within minutes: alternating spreads that over both), after
one warm-up search each (a worker reads the data once per process). The figure: trials / the
search's own seconds (sending, the trials on the workers, the results back; not the command's
start-up nor its reading of the data); the best run of each. Every run must give the same result
file (the search is reproducible whatever the number of workers); the bench says whether it did.

    .venv/bin/python -m bench.bench_optimize [--duration 600] [--trials 16] [--batch 8] [--folds 3] [--reps 2]

Writes var/bench/optimize.json. Never asserts timing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import PY, loadavg, print_header, write_json  # noqa: E402

ACCOUNTS = {1: "benchone", 2: "benchtwo"}  # one deployment per configuration, side by side on one Redis


def _env(redis_url: str, tmp: Path, account: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATHENA_", "OKX_", "REDIS_"))}
    env.update(
        {
            "ATHENA_ENV": "test",
            "REDIS_URL": redis_url,
            "ATHENA_DB_URL": f"sqlite:///{tmp}/a.db",
            "PYTHONPATH": str(ROOT),
            "ATHENA_ACCOUNT": account,
            "ATHENA_LOG_LEVEL": "WARNING",
        }
    )
    return env


def _start_worker(env: dict[str, str], account: str, n: int, tmp: Path) -> subprocess.Popen[bytes]:
    from athena import procs
    from athena.queues import AccountQueues

    log = (tmp / f"worker-{account}-{n}.log").open("w")
    # solo with -c 1: one trial at a time and one reserved (solo's default -c, the CPU count, sets
    # its prefetch)
    return procs.popen(
        [
            PY,
            "-m",
            "celery",
            "-A",
            "workers.research",
            "worker",
            "-Q",
            AccountQueues(account).research,
            "-P",
            "solo",
            "-c",
            "1",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"research{n}-{account}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_workers(
    redis_url: str,
    account: str,
    n: int,
    procs_: list[subprocess.Popen[bytes]],
    tmp: Path,
    timeout: float = 90,
) -> None:
    import redis

    from athena.queues import AccountQueues
    from athena.state.workers import WorkerRegistry

    r = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while len(WorkerRegistry(r).entries([AccountQueues(account).research])) < n:
        dead = [i + 1 for i, w in enumerate(procs_) if w.poll() is not None]
        if dead:
            raise SystemExit(f"bench_optimize: a research worker exited: see the logs in {tmp}")
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_optimize: {n} research worker(s) did not start within {timeout:g} s")
        time.sleep(0.2)
    r.close()


def _search(env: dict[str, str], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    cmd = [
        PY,
        "-m",
        "athena.cli",
        "optimize",
        "--synthetic",
        "--duration",
        str(args.duration),
        "--param",
        "take_profit_bps=float:1:10:0.5",
        "--param",
        "imbalance_threshold=float:0.1:0.6",
        "--param",
        "cooldown_s=int:1:30",
        "--trials",
        str(args.trials),
        "--batch",
        str(args.batch),
        "--folds",
        str(args.folds),
        "--seed",
        "7",
        "--out",
        str(out),
        "--json",
    ]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise SystemExit(f"bench_optimize: athena optimize failed: {p.stderr.strip()}")
    doc = json.loads(p.stdout)
    trials = sum(doc["workers"].values())
    return {
        "trials": trials,
        "seconds": doc["seconds"],
        "trials_per_s": round(trials / doc["seconds"], 3),
        "per_worker": doc["workers"],
        "loadavg": loadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_optimize", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=600, help="synthetic seconds (default 600)")
    p.add_argument("--trials", type=int, default=16, help="trials per fold (default 16)")
    p.add_argument("--batch", type=int, default=8, help="trials in flight (default 8)")
    p.add_argument("--folds", type=int, default=3, help="walk-forward windows (default 3)")
    p.add_argument("--reps", type=int, default=2, help="runs of each configuration, alternated (default 2)")
    p.add_argument("--quick", action="store_true", help="smoke sizes")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.trials, args.batch, args.folds, args.reps = 60, 2, 2, 2, 1
    head = print_header("optimize")
    from athena.testing.redis_server import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix="bench-optimize-"))
    server = RedisServer().start()
    envs = {n: _env(server.url, tmp, account) for n, account in ACCOUNTS.items()}
    workers: list[subprocess.Popen[bytes]] = []
    samples: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    try:
        for n, account in ACCOUNTS.items():
            workers += [_start_worker(envs[n], account, i, tmp) for i in range(1, n + 1)]
        for n, account in ACCOUNTS.items():
            _wait_workers(server.url, account, n, workers, tmp)
            _search(envs[n], args, tmp / f"warm{n}.json")  # each worker reads the data once per process
        # alternated, so a change of the shared host's speed hits both configurations alike
        for rep in range(args.reps):
            for n in ACCOUNTS:
                samples[n].append(_search(envs[n], args, tmp / f"run{n}-{rep}.json"))
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
        server.stop()
    files = {(tmp / f"run{n}-{rep}.json").read_text() for n in ACCOUNTS for rep in range(args.reps)}
    same = len(files) == 1
    runs = {
        f"{n}_worker{'s' if n > 1 else ''}": max(samples[n], key=lambda r: r["trials_per_s"])
        for n in ACCOUNTS
    }
    one, two = runs["1_worker"], runs["2_workers"]
    speedup = round(two["trials_per_s"] / one["trials_per_s"], 2) if one["trials_per_s"] else 0.0
    print(
        f"search: synthetic {args.duration} s, {args.folds} folds, {args.trials} trials/fold, batch "
        f"{args.batch} "
        f"({one['trials']} backtests incl. out-of-sample); {args.reps} runs each, alternated; best of each"
    )
    for n in ACCOUNTS:
        for r in samples[n]:
            print(
                f"  {n} worker(s) {r['trials_per_s']:>7.2f} trials/s  ({r['trials']} in "
                f"{r['seconds']:.2f} s; "
                f"per worker {sorted(r['per_worker'].values())}; load {r['loadavg']})"
            )
    print(
        f"  best: 1 worker {one['trials_per_s']:.2f}/s, 2 workers {two['trials_per_s']:.2f}/s, "
        f"speed-up {speedup}x; "
        f"every run the same result file: {same}"
    )
    write_json(
        "optimize",
        {
            "header": head,
            "config": vars(args),
            "runs": runs,
            "samples": samples,
            "speedup": speedup,
            "same_result": same,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
