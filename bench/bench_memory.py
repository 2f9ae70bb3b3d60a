"""Issue 9 item 5: memory of the whole stack, and its drift over a run.

athena.process.launch.Stack starts the real processes (Redis, sim, stream worker, orders worker -c 2,
beat) with the default strategies (ScalperV1 on BTC and ETH) trading against the sim's synthetic
market (a step every 100 ms). Every `--every` seconds this samples the RSS of each role, a
Celery worker's pool children included (psutil, process tree), and its PSS (shared pages split
between the processes sharing them: a prefork worker's children share most of their parent's
pages, which RSS counts once per process). Figures: the peak per role, the peak
of the sum of stream + orders + beat (the Athena stack; target < 300 MB), Redis beside it, and the
drift = (mean RSS over the last 10% of the run) / (mean RSS over 10%-20% of the run, after warm-up)
- 1 (target < 5% over 30 minutes).

    .venv/bin/python -m bench.bench_memory [--duration 60] [--every 1.0]      # 30 min: --duration 1800
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import loadavg, mem_mb_tree, print_header, quiet_logs, write_json

ROLES = ("stream", "orders", "beat")


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--duration", type=float, default=60.0, help="seconds of sampling after the stack is ready"
    )
    ap.add_argument("--every", type=float, default=1.0)
    ap.add_argument("--name", default="memory", help="result name (var/bench/<name>.json)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    quiet_logs()
    h = print_header("memory (RSS of the stack, drift over the run)")
    duration = 5.0 if args.quick else args.duration

    from athena.process.launch import Stack, StackConfig

    samples: list[dict[str, float]] = []
    var = Path(tempfile.mkdtemp(prefix="athena-bench-mem-"))
    load0 = loadavg()
    with Stack(StackConfig(var_dir=var, log_level="WARNING", env_name="test")) as stack:
        stats_before = stack.stream_status() or {}
        t0 = time.monotonic()
        next_print = t0
        while (now := time.monotonic()) - t0 < duration:
            row: dict[str, float] = {"t": now - t0}
            for r in (*ROLES, "redis"):
                row[r], row[f"{r}_pss"] = mem_mb_tree(stack.child(r).pid or 0)
            row["stack"] = sum(row[r] for r in ROLES)
            row["stack_pss"] = sum(row[f"{r}_pss"] for r in ROLES)
            samples.append(row)
            if now >= next_print:
                next_print = now + max(10.0, duration / 10)
                print(
                    f"t={row['t']:7.1f}s  "
                    + "  ".join(f"{r} {row[r]:6.1f}" for r in (*ROLES, "stack", "redis"))
                    + f" MiB RSS  (stack PSS {row['stack_pss']:6.1f})  load {loadavg()[0]}",
                    flush=True,
                )
            time.sleep(max(0.0, args.every - (time.monotonic() - now)))
        stats_after = stack.stream_status() or {}
    n = len(samples)
    warm = samples[n // 10 : max(n // 10 + 1, n // 5)]
    last = samples[-max(1, n // 10) :]
    keys = [k for k in samples[0] if k != "t"]
    peak = {k: round(max(s[k] for s in samples), 1) for k in keys}
    drift = {
        k: round((mean([s[k] for s in last]) / mean([s[k] for s in warm]) - 1) * 100, 2)
        if mean([s[k] for s in warm])
        else None
        for k in keys
        if k.split("_")[0] != "redis"
    }
    ticks = (stats_after.get("ticks") or 0) - (stats_before.get("ticks") or 0)
    print(
        "peak RSS MiB: "
        + "  ".join(f"{r} {peak[r]}" for r in (*ROLES, "stack", "redis"))
        + "   (target: stack < 300)"
    )
    print("peak PSS MiB: " + "  ".join(f"{r} {peak[r + '_pss']}" for r in (*ROLES, "stack", "redis")))
    print(
        f"drift over {duration:.0f} s (last 10% vs 10-20%): "
        + "  ".join(f"{r} {drift[r]:+.2f}%" for r in (*ROLES, "stack", "stack_pss"))
        + f"   ticks handled {ticks}   load {load0} -> {loadavg()}"
    )
    doc: dict[str, Any] = {
        "header": h,
        "duration_s": duration,
        "samples": n,
        "peak_mib": peak,
        "drift_pct": drift,
        "ticks_during_run": ticks,
        "loadavg_start": load0,
        "series": [{k: round(v, 1) for k, v in s.items()} for s in samples[:: max(1, n // 200)]],
    }
    write_json(args.name, doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
