"""The sim in its own process for benchmarks, with receive and fill stamps written to Redis.

In the bench's own process the sim's event loop would compete for the GIL with the code being
measured (a 5 ms switch interval shows up as latency). Stamps (CLOCK_MONOTONIC, system-wide, so
comparable with the bench process) go to Redis hashes: `bench:recv` (clOrdId/algoClOrdId -> ns when
the REST request carrying it arrived) and `bench:fill` (clOrdId -> ns when the first fill push for
it was emitted).

    python -m bench.simproc --port P --redis URL --instruments N [--tls]
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import Any

import orjson
import redis

from bench.common import synthetic_instruments

STAMPED_PATHS = ("/api/v5/trade/order", "/api/v5/trade/order-algo", "/api/v5/trade/batch-orders")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--redis", required=True)
    ap.add_argument("--instruments", type=int, default=2)
    ap.add_argument("--tls", action="store_true")
    a = ap.parse_args(argv)
    from athena.sim.server import SimServer

    r = redis.Redis.from_url(a.redis)

    def on_request(path: str, raw: bytes, t_ns: int) -> None:
        if path not in STAMPED_PATHS or not raw:
            return
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        for item in body if isinstance(body, list) else [body]:
            cid = item.get("clOrdId") or item.get("algoClOrdId") if isinstance(item, dict) else None
            if cid:
                r.hsetnx("bench:recv", cid, t_ns)

    def on_push(channel: str, arg: dict[str, Any], data: list[dict[str, Any]]) -> None:
        if channel != "orders":
            return
        t = time.monotonic_ns()
        for d in data:
            if d.get("clOrdId") and d.get("accFillSz") not in (None, "", "0"):
                r.hsetnx("bench:fill", d["clOrdId"], t)

    srv = SimServer(port=a.port, tls=a.tls, tick_interval_ms=0, rate_limits=False,
                    instruments=synthetic_instruments(a.instruments))
    srv.on_request = on_request
    srv.exchange.add_listener(on_push)
    srv.start()
    print(f"sim ready {srv.url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
