"""OKX gateway figures against the simulator (run in its own process, so it does not share our GIL).

1. Public WS ingest: OkxPublicWsGateway subscribed to tickers + books5 on N instruments of a sim
   stepping its market every --tick-ms; each message's parse + dispatch (on_message: orjson, parser,
   Tick object, put into a SimpleQueue inbox as the stream service does) is timed; msgs/s is what the
   gateway actually ingested from the socket during the window (bounded by what the sim sends).
2. Replay ceiling: the frames captured in (1) fed straight to on_message in a loop: parse + dispatch
   throughput with no socket and no sim, i.e. what one gateway thread can take at most.
3. REST place-order round trip: OkxRestGateway.place_order (signing, expTime, HTTP keep-alive, sim
   processing, parsing the ack) of far-from-market limit orders, one after another.

    .venv/bin/python -m bench.bench_gateway [--seconds 10] [--instruments 5] [--tick-ms 1] [--orders 500]

Prints p50/p99 and writes var/bench/gateway.json. Never asserts timing.
"""

from __future__ import annotations

import argparse
import itertools
import queue
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from typing import Any

from athena import procs
from bench.common import PY, fmt_stats, print_header, quiet_logs, stats_ns, write_json

SIM_CREDS = ("sim-api-key", "sim-secret-key", "sim-passphrase")
INSTS = ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "DOGE-USDT-SWAP", "XRP-USDT-SWAP"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sim(port: int, tick_ms: int) -> subprocess.Popen[bytes]:
    code = "import sys; from athena.sim.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = procs.popen(
        [
            PY,
            "-c",
            code,
            "--port",
            str(port),
            "--tick-ms",
            str(tick_ms),
            "--no-rate-limits",
            "--idle-s",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("sim did not start")


def ingest(port: int, insts: list[str], seconds: float) -> tuple[dict[str, Any], list[bytes]]:
    from athena.okx.public_ws import OkxPublicWsGateway

    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    gw = OkxPublicWsGateway(f"ws://127.0.0.1:{port}/ws/v5/public", insts, ("tickers", "books5"), inbox.put)
    samples: list[int] = []
    captured: list[bytes] = []
    measuring = threading.Event()
    handler = gw.on_message
    clock = time.perf_counter_ns

    def timed(raw: bytes) -> None:
        t0 = clock()
        handler(raw)
        if measuring.is_set():
            samples.append(clock() - t0)
            if len(captured) < 20_000:
                captured.append(raw)

    gw.on_message = timed  # type: ignore[method-assign]
    stop = threading.Event()
    consumed = [0]

    def consumer() -> None:  # the stream service's dispatcher, reduced to taking items out
        get = inbox.get
        while not stop.is_set():
            try:
                get(timeout=0.2)
                consumed[0] += 1
            except queue.Empty:
                pass

    th = threading.Thread(target=consumer, daemon=True)
    th.start()
    gw.start()
    end = time.monotonic() + 10
    while gw.stats.sub_acks < 2 * len(insts) and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(1.0)  # warm-up
    m0, c0 = gw.stats.messages, consumed[0]
    t0 = time.monotonic()
    measuring.set()
    time.sleep(seconds)
    measuring.clear()
    dt = time.monotonic() - t0
    m1, c1 = gw.stats.messages, consumed[0]
    gw.stop()
    stop.set()
    th.join(2)
    out = {
        "parse_dispatch": stats_ns(samples),
        "msgs": m1 - m0,
        "seconds": round(dt, 3),
        "msgs_per_s": round((m1 - m0) / dt, 1),
        "events_per_s": round((c1 - c0) / dt, 1),
        "malformed": dict(gw.stats.malformed),
        "reconnects": gw.stats.reconnects,
    }
    return out, captured


def replay(frames: list[bytes], seconds: float = 3.0) -> dict[str, Any]:
    from athena.okx.public_ws import OkxPublicWsGateway

    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    gw = OkxPublicWsGateway("ws://127.0.0.1:1/ws/v5/public", INSTS, ("tickers", "books5"), inbox.put)
    on_message = gw.on_message
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        for raw in frames:
            on_message(raw)
        n += len(frames)
        while not inbox.empty():  # keep memory flat; not timed separately
            inbox.get_nowait()
    dt = time.perf_counter() - t0
    return {
        "msgs": n,
        "seconds": round(dt, 3),
        "msgs_per_s": round(n / dt, 1),
        "us_per_msg": round(dt / n * 1e6, 3),
        "malformed": dict(gw.stats.malformed),
    }


def rest_round_trip(port: int, n: int) -> dict[str, Any]:
    from athena.domain import OrderRequest, OrdType, Side
    from athena.okx.ratelimit import Limit, RateLimiter
    from athena.okx.rest import OkxRestGateway

    limiter = RateLimiter(
        limits={"/trade/order": Limit(1_000_000, 1, True)}
    )  # measure latency, not the limiter
    gw = OkxRestGateway(
        base_url=f"http://127.0.0.1:{port}", credentials=SIM_CREDS, timeout_s=5.0, rate_limiter=limiter
    )
    bid = gw.ticker("BTC-USDT-SWAP").bidPx
    assert bid is not None
    px = (bid * Decimal("0.7")).quantize(Decimal("0.1"))
    ids = itertools.count()
    samples: list[int] = []
    for i in range(n + 20):
        req = OrderRequest(
            f"bg{time.time_ns() % 10**9}n{next(ids)}",
            "BTC-USDT-SWAP",
            Side.BUY,
            OrdType.LIMIT,
            Decimal("0.01"),
            px,
        )
        t0 = time.perf_counter_ns()
        gw.place_order(req)
        if i >= 20:  # warm-up: connection, clock sync
            samples.append(time.perf_counter_ns() - t0)
    gw.close()
    return {"place_order": stats_ns(samples, "ms")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--instruments", type=int, default=5, choices=range(1, 6))
    ap.add_argument("--tick-ms", type=int, default=1, help="sim market step interval (push rate)")
    ap.add_argument("--orders", type=int, default=500)
    a = ap.parse_args(argv)
    quiet_logs()
    head = print_header("bench_gateway")
    port = free_port()
    sim = start_sim(port, a.tick_ms)
    try:
        insts = INSTS[: a.instruments]
        live, frames = ingest(port, insts, a.seconds)
        print(
            fmt_stats(f"public WS parse+dispatch ({len(insts)} inst, tickers+books5)", live["parse_dispatch"])
        )
        print(
            f"public WS ingest: {live['msgs_per_s']:.0f} msgs/s from the sim (tick {a.tick_ms} ms), "
            f"{live['events_per_s']:.0f} events/s dispatched, malformed {live['malformed']}, "
            f"reconnects {live['reconnects']}"
        )
        ceiling = replay(frames) if frames else {}
        if ceiling:
            print(
                f"replay ceiling (no socket): {ceiling['msgs_per_s']:.0f} msgs/s, "
                f"{ceiling['us_per_msg']:.2f} us/msg "
                f"over {len(frames)} captured frames"
            )
        rest = rest_round_trip(port, a.orders)
        print(fmt_stats("REST place_order round trip", rest["place_order"], "ms"))
    finally:
        sim.terminate()
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
    doc = {**head, "params": vars(a), "public_ws": live, "replay": ceiling, "rest": rest}
    write_json("gateway", doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
