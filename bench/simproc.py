"""The sim in its own process for benchmarks, with receive and fill stamps written to Redis.

In the bench's own process the sim's event loop would compete for the GIL with the code being
measured (a 5 ms switch interval shows up as latency). Stamps (CLOCK_MONOTONIC, system-wide, so
comparable with the bench process) go to Redis hashes: `bench:recv` (clOrdId/algoClOrdId -> ns when
the REST request carrying it arrived) and `bench:fill` (clOrdId -> ns when the first fill push for
it was emitted). With `--quotes`, also `bench:px` (px of an order -> ns when the REST request or the
WebSocket `order` op carrying it arrived: one stamp point for both transports) and `bench:quote:<channel>`
(best bid of a books5 / bbo-tbt push -> ns when the sim emitted it), for bench_vs_nautilus.

    python -m bench.simproc --port P --redis URL --instruments N [--tls]
"""

from __future__ import annotations

import argparse
import queue
import signal
import threading
import time
from decimal import Decimal
from typing import Any

import orjson
import redis

from bench.common import synthetic_instruments

STAMPED_PATHS = ("/api/v5/trade/order", "/api/v5/trade/order-algo", "/api/v5/trade/batch-orders")
WS_ORDER_OPS = ('"op":"order"', '"op": "order"', '"op":"batch-orders"', '"op": "batch-orders"')
QUOTE_CHANNELS = ("books5", "bbo-tbt")


class _StampWriter:
    """hsetnx / rpush queued in memory (~1 µs) and written to Redis by a daemon thread, in order."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.q: queue.SimpleQueue[tuple[str, str, Any, Any]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="stamps", daemon=True).start()

    def hsetnx(self, key: str, field: str, value: int) -> bool:
        self.q.put(("hsetnx", key, field, value))
        return True

    def rpush(self, key: str, value: int) -> None:
        self.q.put(("rpush", key, value, None))

    def _run(self) -> None:
        while True:
            op, key, a, b = self.q.get()
            if op == "hsetnx":
                self.r.hsetnx(key, a, b)
            else:
                self.r.rpush(key, a)


def px_key(px: Any) -> str:
    """One spelling of a price whatever the client wrote ("95000.0", "95000", "9.5E+4" -> "95000")."""
    return format(Decimal(str(px)).normalize(), "f")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--redis", required=True)
    ap.add_argument("--instruments", type=int, default=2)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument(
        "--quotes", action="store_true", help="stamp quote pushes and orders by px (bench_vs_nautilus)"
    )
    a = ap.parse_args(argv)
    from athena.sim.server import SimServer

    # Stamps are written to Redis by a thread of their own: a write in the sim's loop would delay the frames
    # and requests it is timing (a quote stamped on one channel would delay the next channel's push).
    r = _StampWriter(redis.Redis.from_url(a.redis))

    def stamp_items(items: Any, t_ns: int) -> None:
        for item in items if isinstance(items, list) else [items]:
            if not isinstance(item, dict):
                continue
            cid = item.get("clOrdId") or item.get("algoClOrdId")
            if cid:
                r.hsetnx("bench:recv", cid, t_ns)
            if a.quotes and item.get("px"):
                r.hsetnx("bench:px", px_key(item["px"]), t_ns)
                r.rpush("bench:notify", "order")  # the bench blocks on this list instead of polling

    def on_request(path: str, raw: bytes, t_ns: int) -> None:
        if path not in STAMPED_PATHS or not raw:
            return
        if a.quotes and path == "/api/v5/trade/order-algo":
            r.rpush("bench:algos", t_ns)  # arrival order: the stop of the round's fill
            r.rpush("bench:notify", "algo")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        stamp_items(body, t_ns)

    def on_ws_message(kind: str, text: str, t_ns: int) -> None:
        if kind != "private" or not any(op in text for op in WS_ORDER_OPS):
            return
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        if isinstance(req, dict) and req.get("op") in ("order", "batch-orders"):
            stamp_items(req.get("args"), t_ns)

    filled: set[str] = set()

    def on_push(channel: str, arg: dict[str, Any], data: list[dict[str, Any]]) -> None:
        if a.quotes and channel in QUOTE_CHANNELS:
            if data and data[0].get("bids"):
                r.hsetnx(f"bench:quote:{channel}", px_key(data[0]["bids"][0][0]), time.monotonic_ns())
            return
        if channel != "orders":
            return
        t = time.monotonic_ns()
        for d in data:
            fill = d.get("clOrdId") and d.get("accFillSz") not in (None, "", "0")
            if fill and d["clOrdId"] not in filled:
                filled.add(d["clOrdId"])
                r.hsetnx("bench:fill", d["clOrdId"], t)
                if a.quotes:
                    r.rpush("bench:fills", t)  # in emission order, whoever's order it was

    srv = SimServer(
        port=a.port,
        tls=a.tls,
        tick_interval_ms=0,
        rate_limits=False,
        instruments=synthetic_instruments(a.instruments),
    )
    srv.on_request = on_request
    srv.on_ws_message = on_ws_message
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
