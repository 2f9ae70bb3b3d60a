"""Issue 9 item 1 (extension of bench_strategy): the tick path through the real stream service.

bench_strategy times ScalperV1's on_tick inside the backtest. This one goes through what the stream
worker runs: the sim (own process) pushes books5 + trades over a real WebSocket ->
OkxPublicWsGateway (websocket-client thread: frame -> orjson -> domain object) -> the inbox ->
StreamService's one dispatcher thread (mark price, EventBus TICK) -> StrategyRunner -> ScalperV1's
decision (including PreTradeCheck + OrderManager.submit over Redis when it decides to trade; the
order goes to a no-op sender: the Celery hop is bench_order_path).

Latency: from the frame leaving websocket-client (our on_message entered) to StreamService.handle()
returning for the event it produced, p50/p99 µs, with the market stepping at a realistic pace
(--pace-ms). Split into frame -> put in the inbox (parse, WebSocket thread), put -> taken by the
dispatcher (the thread hand-off) and taken -> decision (handle). Throughput: a burst of market steps;
sustained msgs/s = handled events / time between the first and the last handled. Both with ScalperV1 on 1 and
on 10 instruments.

    .venv/bin/python -m bench.bench_tick_path [--steps 400] [--burst 1500] [--quick]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench.common import Stack, fmt_stats, loadavg, print_header, quiet_logs, stats_ns, write_json


@dataclass(slots=True)
class Stamped:
    t: int
    obj: Any
    put: int = 0


class NullSender:
    def __init__(self) -> None:
        self.orders = 0

    def send_order(self, req: Any) -> None:
        self.orders += 1

    def send_cancel(self, instId: str, clOrdId: str) -> None:
        pass

    def send_stop(self, stop: Any) -> None:
        pass

    def send_cancel_stop(self, instId: str, algoClOrdId: str) -> None:
        pass


def run(n_inst: int, steps: int, pace_ms: float, burst: int) -> dict[str, Any]:
    from athena.config import StrategySettings
    from athena.process.stream_service import StreamService
    from athena.wiring import account, stream_engine

    with Stack(n_instruments=n_inst, sim_process=True, account=f"tick{n_inst}") as stack:
        stack.step(3)
        ids = stack.symbols
        strat = StrategySettings(name="scalp", cls="ScalperV1", instIds=ids, allocation=Decimal("0.9"))
        settings = stack.settings(strategies=[strat], symbols=ids)
        sender = NullSender()
        svc = StreamService(stream_engine(account(settings), sender))
        svc.build()
        gw = svc.public
        lat: list[int] = []
        parts: dict[str, list[int]] = {"frame_to_put": [], "put_to_take": [], "take_to_decision": []}
        handled: list[int] = []
        current = [0]
        on_message, put, handle = gw.on_message, svc.inbox.put, svc.handle

        def stamped_message(raw: bytes) -> None:
            current[0] = time.perf_counter_ns()
            on_message(raw)

        def timed_handle(item: Any) -> None:
            if type(item) is Stamped:
                taken = time.perf_counter_ns()
                handle(item.obj)
                t = time.perf_counter_ns()
                lat.append(t - item.t)
                parts["frame_to_put"].append(item.put - item.t)
                parts["put_to_take"].append(taken - item.put)
                parts["take_to_decision"].append(t - taken)
                handled.append(t)
            else:
                handle(item)

        gw.on_message = stamped_message
        gw.on_event = lambda obj: put(Stamped(current[0], obj, time.perf_counter_ns()))
        svc.handle = timed_handle  # type: ignore[method-assign]
        svc.start()
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not gw.connected.is_set():
                time.sleep(0.05)
            time.sleep(1.0)  # subscriptions, snapshots, warm-up ticks
            stack.step(20)
            time.sleep(1.0)
            lat.clear()
            for v in parts.values():
                v.clear()
            load_lat = loadavg()
            for _ in range(steps):  # paced: each step is one books5 + a few trades per instrument
                stack.step(1)
                time.sleep(pace_ms / 1000)
            time.sleep(0.5)
            paced = list(lat)
            split = {k: stats_ns(v, "us") for k, v in parts.items()}
            handled.clear()
            load_burst = loadavg()
            stack.step(burst)
            seen, quiet = -1, time.monotonic()
            while time.monotonic() - quiet < 1.0:
                time.sleep(0.05)
                if len(handled) != seen:
                    seen, quiet = len(handled), time.monotonic()
            n = len(handled)
            rate = round((n - 1) / ((handled[-1] - handled[0]) / 1e9)) if n > 1 else 0
        finally:
            svc.stop()
    return {
        "instruments": n_inst,
        "strategy": "ScalperV1 x1 on all instruments",
        "channels": ["books5", "trades"],
        "frame_to_decision": stats_ns(paced, "us"),
        "frame_to_decision_split": split,
        "paced_steps": steps,
        "pace_ms": pace_ms,
        "loadavg_latency": load_lat,
        "burst_events": n,
        "sustained_msgs_per_s": rate,
        "loadavg_burst": load_burst,
        "orders_decided": sender.orders,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=400, help="paced market steps for the latency figure")
    ap.add_argument("--pace-ms", type=float, default=20.0)
    ap.add_argument("--burst", type=int, default=1500, help="market steps in the throughput burst")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    quiet_logs()
    h = print_header("tick_path (WS frame -> parse -> dispatcher -> ScalperV1 decision)")
    steps, burst = (10, 30) if args.quick else (args.steps, args.burst)
    results = []
    for n_inst in (1, 10):
        r = run(n_inst, steps, args.pace_ms, burst if n_inst == 1 else max(1, burst // 5))
        results.append(r)
        print(
            fmt_stats(
                f"{n_inst:>2} instrument(s): frame -> decision (load {r['loadavg_latency'][0]})",
                r["frame_to_decision"],
                "us",
            ),
            flush=True,
        )
        for k, v in r["frame_to_decision_split"].items():
            print(fmt_stats(f"   {k}", v, "us"), flush=True)
        print(
            f"{n_inst:>2} instrument(s): sustained {r['sustained_msgs_per_s']} msgs/s over "
            f"{r['burst_events']} events"
            f" (load {r['loadavg_burst'][0]}); orders decided {r['orders_decided']}",
            flush=True,
        )
    write_json("tick_path", {"header": h, "runs": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
