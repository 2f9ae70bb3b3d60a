"""Issue 18 item 2: `athena record` runs for days with flat memory.

The sim runs in its own process with its synthetic market stepping every 100 ms on all five
instruments; `athena record` (its own process, as in production) records books, bbo-tbt, trades,
funding-rate and mark-price for all of them into files rotated every `--rotate-minutes`. Every
`--drop-every` seconds the sim drops every WebSocket (the recorder reconnects into the same file)
and loses one `books` update (the recorder sees the seqId gap and resyncs). Every `--every` seconds
this samples the recorder's RSS and PSS. Figures: peak, and drift = (mean over the last 10% of the
run) / (mean over 10%-20%, after warm-up) - 1; messages per second; compressed bytes per message;
and a check that every file decompresses to as many lines as its summary counts.

    .venv/bin/python -m bench.bench_recorder [--duration 1800] [--every 5] [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import requests

from bench.common import PY, ROOT, loadavg, mem_mb_tree, print_header, write_json

INSTS = "BTC-USDT-SWAP,ETH-USDT-SWAP,SOL-USDT-SWAP,DOGE-USDT-SWAP,XRP-USDT-SWAP"
CHANNELS = "books,bbo-tbt,trades,funding-rate,mark-price"


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def count_lines(path: Path) -> tuple[int, bool]:
    """Lines in a gzip file, and whether it ended cleanly."""
    n = 0
    try:
        with gzip.open(path, "rb") as fh:
            for _ in fh:
                n += 1
        return n, True
    except (EOFError, zlib.error, OSError):
        return n, False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=1800.0, help="seconds of recording (default 1800)")
    ap.add_argument("--every", type=float, default=5.0, help="RSS sample interval, s")
    ap.add_argument("--rotate-minutes", type=float, default=5.0)
    ap.add_argument("--drop-every", type=float, default=300.0, help="drop every WS + lose a books update, s")
    ap.add_argument("--tick-ms", type=int, default=100, help="the sim's market step")
    ap.add_argument("--name", default="recorder", help="result name (var/bench/<name>.json)")
    ap.add_argument("--quick", action="store_true", help="a 12-second smoke run")
    ap.add_argument(
        "--keep", action="store_true", help="keep the recording (a temp dir) for a look or a backtest"
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.every, args.rotate_minutes, args.drop_every = 12.0, 1.0, 0.1, 5.0
    h = print_header("recorder (RSS of `athena record` over a long run)")

    from athena.procs import Supervisor, wait_until
    from athena.testing.redis_server import free_port

    work = Path(tempfile.mkdtemp(prefix="athena-bench-rec-"))
    out = work / "recorded"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    http = requests.Session()
    samples: list[dict[str, float]] = []
    drops = 0
    load0 = loadavg()
    sup = Supervisor(
        work / "logs", env={"PYTHONPATH": str(ROOT), "PATH": str(Path(PY).parent) + ":/usr/bin:/bin"}
    )
    with sup.running():
        sim = sup.spawn(
            "sim", [PY, "-m", "athena.cli", "sim", "--port", str(port), "--tick-ms", str(args.tick_ms)]
        )

        def sim_up() -> bool:
            try:
                return http.get(f"{base}/api/v5/public/time", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        if not wait_until(sim_up, 30):
            print("sim did not start:\n" + sim.log_tail(), file=sys.stderr)
            return 1
        rec = sup.spawn(
            "recorder",
            [
                PY,
                "-m",
                "athena.cli",
                "record",
                "--url",
                f"ws://127.0.0.1:{port}/ws/v5/public",
                "--instIds",
                INSTS,
                "--channels",
                CHANNELS,
                "--out",
                str(out),
                "--rotate-minutes",
                str(args.rotate_minutes),
                "--flush-s",
                "5",
                "--quiet",
            ],
        )
        status = out / "recorder.status.json"

        def lines() -> int:
            try:
                return int(json.loads(status.read_text())["lines"])
            except (OSError, ValueError, KeyError):
                return 0

        if not wait_until(lambda: lines() > 0, 30):
            print("recorder did not start:\n" + rec.log_tail(), file=sys.stderr)
            return 1
        t0 = time.monotonic()
        next_drop = t0 + args.drop_every
        next_print = t0
        while (now := time.monotonic()) - t0 < args.duration:
            if not rec.alive():
                print("recorder died:\n" + rec.log_tail(), file=sys.stderr)
                return 1
            rss, pss = mem_mb_tree(rec.pid or 0)
            row = {"t": now - t0, "rss": rss, "pss": pss, "lines": float(lines())}
            samples.append(row)
            if now >= next_drop:
                next_drop += args.drop_every
                http.post(f"{base}/sim/faults", json={"books_gap": 1}, timeout=5)
                time.sleep(0.5)  # the lost update shows as a resync before the drop
                http.post(f"{base}/sim/ws/drop", json={}, timeout=5)
                drops += 1
            if now >= next_print:
                next_print = now + max(10.0, args.duration / 12)
                print(
                    f"t={row['t']:7.1f}s  recorder RSS {rss:6.1f} MiB  PSS {pss:6.1f}  lines "
                    f"{int(row['lines'])}"
                    f"  load {loadavg()[0]}",
                    flush=True,
                )
            time.sleep(max(0.0, args.every - (time.monotonic() - now)))
        elapsed = time.monotonic() - t0
        rc = rec.stop(30)
    files = sorted(out.glob("*.jsonl.gz"))
    summaries = [json.loads(p.read_text()) for p in sorted(out.glob("*.summary.json"))]
    counted = {p.name: count_lines(p) for p in files}
    mismatched = [s["file"] for s in summaries if counted.get(s["file"], (-1, False))[0] != s["lines"]]
    unclean = [name for name, (_, clean) in counted.items() if not clean]
    total_lines = sum(s["lines"] for s in summaries)
    total_bytes = sum(p.stat().st_size for p in files)
    n = len(samples)
    warm = samples[n // 10 : max(n // 10 + 1, n // 5)]
    last = samples[-max(1, n // 10) :]
    peak = {k: round(max(s[k] for s in samples), 1) for k in ("rss", "pss")}
    drift = {
        k: round((mean([s[k] for s in last]) / mean([s[k] for s in warm]) - 1) * 100, 2)
        for k in ("rss", "pss")
    }
    doc: dict[str, Any] = {
        "header": h,
        "duration_s": round(elapsed, 1),
        "samples": n,
        "exit_code": rc,
        "peak_mib": peak,
        "drift_pct": drift,
        "rss_mib_after_warmup": round(mean([s["rss"] for s in warm]), 1),
        "rss_mib_at_end": round(mean([s["rss"] for s in last]), 1),
        "lines": total_lines,
        "msgs_per_s": round(total_lines / max(1.0, elapsed), 1),
        "files": len(files),
        "compressed_bytes": total_bytes,
        "bytes_per_msg": round(total_bytes / max(1, total_lines), 1),
        "drops": drops,
        "reconnects": sum(s["reconnects"] for s in summaries),
        "resyncs": sum(len(s["resyncs"]) for s in summaries),
        "checksums_checked": sum(s["checksums_checked"] for s in summaries),
        "checksum_failures": sum(s["checksum_failures"] for s in summaries),
        "files_with_line_count_mismatch": mismatched,
        "files_not_cleanly_closed": unclean,
        "loadavg_start": load0,
        "series": [{k: round(v, 1) for k, v in s.items()} for s in samples[:: max(1, n // 200)]],
    }
    print(
        f"peak RSS {peak['rss']} MiB  PSS {peak['pss']} MiB   drift (last 10% vs 10-20%): RSS "
        f"{drift['rss']:+.2f}%"
        f"  PSS {drift['pss']:+.2f}%"
    )
    print(
        f"{total_lines} lines in {len(files)} files over {elapsed:.0f} s ({doc['msgs_per_s']}/s), "
        f"{doc['bytes_per_msg']} compressed bytes per line; {drops} drops -> {doc['reconnects']} reconnects, "
        f"{doc['resyncs']} resyncs, {doc['checksums_checked']} checksums ok, "
        f"{doc['checksum_failures']} failed; "
        f"line counts {'all match' if not mismatched else 'MISMATCH ' + str(mismatched)}; "
        f"{'all files closed cleanly' if not unclean else 'UNCLEAN ' + str(unclean)}  load {load0} -> "
        f"{loadavg()}"
    )
    write_json(args.name, doc)
    if args.keep:
        print(f"recording kept in {out}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if not mismatched and not unclean and rc == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
