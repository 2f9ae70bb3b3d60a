"""Run every benchmark (`make bench`), each in its own subprocess, and print one summary table.

Each bench is a module bench/bench_<name>.py with a main(); a failing or hanging bench is reported
and the others still run. Their JSON results (var/bench/*.json, and bench/results/*.json for benches
that write there) written during this run are collected into var/bench/summary.json.

    .venv/bin/python -m bench.run_all [--only order_path,peers] [--skip memory] [--quick] [--timeout 900]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from athena import procs
from bench.common import OUT_DIR, PY, ROOT, header, loadavg, write_json

RESULT_DIRS = (OUT_DIR, ROOT / "bench" / "results")
# Cheap and independent first; the long memory run last.
PREFERRED = (
    "strategy",
    "gateway",
    "sim",
    "tick_path",
    "order_path",
    "stop_path",
    "reconcile",
    "peers",
    "memory",
    "recorder",
)
# Benches whose default is a long run done by hand (figures in bench/README.md): `make bench` takes a shorter
# sample.
MAKE_BENCH_ARGS = {"recorder": ["--duration", "600"]}
# Leaf keys worth a line in the summary table.
FIGURE_KEYS = (
    "p50",
    "p99",
    "max_",
    "msgs_per",
    "per_s",
    "seconds",
    "peak",
    "drift",
    "ratio",
    "_over_",
    "rate",
)


def discover() -> list[str]:
    names = [p.stem.removeprefix("bench_") for p in sorted((ROOT / "bench").glob("bench_*.py"))]
    return sorted(names, key=lambda n: (PREFERRED.index(n) if n in PREFERRED else len(PREFERRED), n))


def has_flag(name: str, flag: str) -> bool:
    try:
        return flag in (ROOT / "bench" / f"bench_{name}.py").read_text()
    except OSError:
        return False


def figures(doc: Any, prefix: str = "", out: list[tuple[str, Any]] | None = None) -> list[tuple[str, Any]]:
    """(path, value) of the numeric leaves whose key looks like a figure."""
    out = [] if out is None else out
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in ("header", "series", "machine", "loadavg", "loadavg_end", "date", "python", "commit"):
                continue
            figures(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(doc, list) and doc and all(isinstance(x, dict) for x in doc):
        for i, x in enumerate(doc):
            label = x.get("rate") or x.get("instruments") or i
            figures(x, f"{prefix}[{label}]", out)
    elif isinstance(doc, int | float) and not isinstance(doc, bool):
        leaf = prefix.rsplit(".", 1)[-1]
        if any(k in leaf for k in FIGURE_KEYS):
            out.append((prefix, doc))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated bench names (default: all)")
    ap.add_argument("--skip", default="", help="comma-separated bench names to leave out")
    ap.add_argument(
        "--quick", action="store_true", help="pass --quick to every bench that has it (smoke run)"
    )
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per bench")
    args = ap.parse_args(argv)
    names = discover()
    if args.only:
        wanted = {n.strip() for n in args.only.split(",") if n.strip()}
        names = [n for n in names if n in wanted]
    skip = {n.strip() for n in args.skip.split(",") if n.strip()}
    names = [n for n in names if n not in skip]
    h = header()
    print(
        f"== make bench  {h['date']}  {h['machine']}  py{h['python']}  commit {h['commit']}  load "
        f"{h['loadavg']}"
    )
    print(f"   benches: {', '.join(names)}", flush=True)

    runs: list[dict[str, Any]] = []
    for name in names:
        cmd = [PY, "-m", f"bench.bench_{name}"]
        if args.quick and has_flag(name, '"--quick"'):
            cmd.append("--quick")
        else:
            cmd += MAKE_BENCH_ARGS.get(name, [])
        started = time.time()
        load = loadavg()
        print(f"\n-- {name}: {' '.join(cmd[1:])}  (load {load})", flush=True)
        try:
            rc = procs.run(cmd, cwd=ROOT, timeout=args.timeout).returncode
            status = "ok" if rc == 0 else f"failed (exit {rc})"
        except subprocess.TimeoutExpired:
            status = f"timed out after {args.timeout:.0f} s"
        took = time.time() - started
        results = {}
        for d in RESULT_DIRS:
            for path in sorted(d.glob("*.json")) if d.exists() else []:
                if path.name != "summary.json" and path.stat().st_mtime >= started:
                    try:
                        results[str(path.relative_to(ROOT))] = json.loads(path.read_text())
                    except (OSError, json.JSONDecodeError):
                        pass
        runs.append(
            {"bench": name, "status": status, "seconds": round(took, 1), "loadavg": load, "results": results}
        )

    print("\n== summary" + " " * 30 + f"(load now {loadavg()})")
    for r in runs:
        print(
            f"{r['bench']:<12} {r['status']:<24} {r['seconds']:>7.1f} s  load "
            f"{r['loadavg'][0] if r['loadavg'] else '?'}"
        )
        for path, doc in r["results"].items():
            for key, value in figures(doc)[:40]:
                print(f"{'':14}{key:<70} {value}")
            print(f"{'':14}({path})")
    write_json("summary", {"header": h, "runs": [{k: v for k, v in r.items()} for r in runs]})
    return 0 if all(r["status"] == "ok" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
