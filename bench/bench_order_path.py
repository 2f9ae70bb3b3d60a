"""Issue 9 item 2: strategy decision -> order on the wire, through Celery + Redis, with baselines.

A private Redis, the sim in its own process (bench.simproc; its receive stamps are CLOCK_MONOTONIC,
system-wide), and a real orders worker process
(`celery -A bench.worker_app worker -Q orders.<account>,default.<account> -c 2`: the production tasks plus a
probe task). At a paced rate (1, 10, 100 orders/s) this process calls the stream worker's real
`OrderManager.submit` (Redis create, journal, Celery send) with a post-only order that rests (round-robin over
10 instruments: OKX's limit is 30 orders/s per instId); the latency is from the call to the sim receiving the
POST /api/v5/trade/order (SimServer.on_request). The tick -> decision part before it is measured by
bench_tick_path / bench_strategy (tens of µs).

Baselines in the same run: Celery send -> task start (probe task), a signed requests.Session POST
(OkxRestGateway.place_order round trip, and send -> sim receipt), and a raw Redis hand-off
(LPUSH -> BLPOP in another thread).

    .venv/bin/python -m bench.bench_order_path [--rates 1,10,100] [--seconds 10] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from decimal import Decimal
from typing import Any

from bench.common import (
    Stack,
    fmt_stats,
    loadavg,
    print_header,
    quiet_logs,
    stats_ns,
    synthetic_instruments,
    wait_celery,
    write_json,
)


def resting_px(stack: Stack, inst_id: str) -> Decimal:
    """A bid 5% under the market: post-only, rests, never fills."""
    inst = next(si.inst for si in synthetic_instruments(stack.n_instruments) if si.instId == inst_id)
    return inst.px_down(stack.mid(inst_id) * Decimal("0.95"))


def wait_stamps(stack: Stack, ids: list[str], timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        at = stack.stamps("recv")
        if all(i in at for i in ids) or time.monotonic() > deadline:
            return at
        time.sleep(0.05)


def baseline_celery(app: Any, n: int) -> dict[str, Any]:
    from workers.app import queue_of

    out = []
    for _ in range(n):
        t0 = time.monotonic_ns()
        started = app.send_task("bench.stamp", queue=queue_of(app, "athena.place_order")).get(timeout=10)
        out.append(int(started) - t0)
    return stats_ns(out, "ms")


def baseline_rest(stack: Stack, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    from athena.domain import OrderRequest, OrdType, Side
    from athena.okx.ratelimit import RateLimiter
    from athena.okx.rest import OkxRestGateway

    inst_id = stack.symbols[0]
    px = resting_px(stack, inst_id)
    # the client-side OKX limit (60 orders / 2 s per instId) would pace this loop: off, to time the POST
    # itself
    gw = OkxRestGateway(stack.settings(), rate_limiter=RateLimiter(enabled=False))
    gw.server_time()
    rtt, sent = [], {}
    for i in range(n + 5):
        req = OrderRequest(f"blrest{i}", inst_id, Side.BUY, OrdType.POST_ONLY, Decimal("0.01"), px)
        t0 = time.monotonic_ns()
        gw.place_order(req)
        t1 = time.monotonic_ns()
        if i >= 5:  # warm-up: connection, clock sync
            rtt.append(t1 - t0)
            sent[req.clOrdId] = t0
    gw.close()
    at = wait_stamps(stack, list(sent), 10)
    wire = [at[c] - t for c, t in sent.items() if c in at]
    return stats_ns(rtt, "ms"), stats_ns(wire, "ms")


def baseline_redis(url: str, n: int) -> dict[str, Any]:
    import redis

    a, b = redis.Redis.from_url(url), redis.Redis.from_url(url)
    got: list[int] = []
    ready = threading.Event()

    def popper() -> None:
        ready.set()
        for _ in range(n):
            b.blpop(["bench:handoff"], timeout=5)
            got.append(time.monotonic_ns())

    t = threading.Thread(target=popper, daemon=True)
    t.start()
    ready.wait()
    sent = []
    for _ in range(n):
        time.sleep(0.002)  # let the popper block first: a hand-off, not a queue drain
        sent.append(time.monotonic_ns())
        a.lpush("bench:handoff", b"x")
    t.join(10)
    a.close()
    b.close()
    return stats_ns([g - s for g, s in zip(got, sent, strict=False)], "ms")


def run_rate(
    stack: Stack,
    orders: Any,
    rate: float,
    n: int,
    seq: itertools.count[int],
    inst_ids: list[str],
    pxs: dict[str, Decimal],
    ctx: Any = None,
    capital: Any = None,
) -> dict[str, Any]:
    """ctx given: the strategy's own call (StrategyContext.buy: pre-trade check, capital
    reservation, OrderManager.submit); else OrderManager.submit alone, timed after the entry's margin
    is reserved (capital), as a decision leaves it: the orders worker checks an entry without one."""
    from athena.domain import OrderRequest, OrdType, Side

    insts = {si.instId: si.inst for si in synthetic_instruments(stack.n_instruments)}
    sent: dict[str, int] = {}
    submit_ns = []
    refused: dict[str, int] = {}
    load0 = loadavg()
    start = time.monotonic() + 0.05
    for i in range(n):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        inst_id = inst_ids[i % len(inst_ids)]
        if ctx is not None:
            px = pxs[inst_id]
            t0 = time.monotonic_ns()
            intent = ctx.buy(inst_id, Decimal("0.01"), px, post_only=True, stop_loss_px=px * Decimal("0.99"))
            submit_ns.append(time.monotonic_ns() - t0)
            if not intent.ok:
                refused[intent.reason] = refused.get(intent.reason, 0) + 1
                continue
            sent[intent.clOrdId] = t0
            continue
        req = OrderRequest(
            f"bench{rate:g}x{next(seq)}",
            inst_id,
            Side.BUY,
            OrdType.POST_ONLY,
            Decimal("0.01"),
            pxs[inst_id],
            strategy="bench",
        )
        capital.reserve("bench", req.clOrdId, insts[inst_id].notional(req.sz, pxs[inst_id]) / 3, req.sz)
        t0 = time.monotonic_ns()
        orders.submit(req)
        submit_ns.append(time.monotonic_ns() - t0)
        sent[req.clOrdId] = t0
    at = wait_stamps(stack, list(sent), 30)
    lat = [at[c] - t for c, t in sent.items() if c in at]
    starts = stack.stamps("start")  # task_prerun in the worker (bench.worker_app)
    to_start = [starts[c] - t for c, t in sent.items() if c in starts]
    start_to_wire = [at[c] - starts[c] for c in sent if c in starts and c in at]
    return {
        "rate": rate,
        "sent": len(sent),
        "refused": refused,
        "on_wire": len(lat),
        "tick_to_wire": stats_ns(lat, "ms"),
        "submit_call": stats_ns(submit_ns, "ms"),
        "decision_to_task_start": stats_ns(to_start, "ms"),
        "task_start_to_wire": stats_ns(start_to_wire, "ms"),
        "loadavg": load0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="1,10,100")
    ap.add_argument("--seconds", type=float, default=10.0, help="per rate (at least 20 orders each)")
    ap.add_argument("--baseline-n", type=int, default=300)
    ap.add_argument(
        "--via",
        choices=("context", "submit"),
        default="context",
        help="context: StrategyContext.buy (pre-trade check + reservation + submit); submit: "
        "OrderManager.submit "
        "(after the reservation a decision makes)",
    )
    ap.add_argument("--pool", default="threads", help="orders worker -P (the documented deployment: threads)")
    ap.add_argument("--concurrency", type=int, default=4, help="orders worker -c")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = ap.parse_args(argv)
    quiet_logs()
    h = print_header("order_path (decision -> order on the wire via Celery + Redis)")
    rates = [float(r) for r in args.rates.split(",") if r]
    seconds, base_n, min_n = (0.3, 5, 3) if args.quick else (args.seconds, args.baseline_n, 20)
    if args.quick:
        rates = rates[1:2] or rates[:1]

    from athena.config import RiskProfileSettings, StrategySettings
    from athena.process.stream_service import StreamService
    from athena.wiring import account, stream_engine
    from workers.app import app, configure
    from workers.sender import CelerySender

    # 10 instruments, orders spread round-robin: OKX allows 60 orders / 2 s per instId, so 100/s
    # on one instrument would measure the (correct) client-side rate limiter, not the path.
    with Stack(n_instruments=10, sim_process=True) as stack:
        stack.step(3)
        # One strategy on every instrument, with limits that let 100 entries/s through (the point is
        # the path's latency, not the risk profile) and capital for every resting order's margin.
        strat = StrategySettings(
            name="bench",
            cls="ScalperV1",
            instIds=stack.symbols,
            allocation=Decimal("0.9"),
            risk=RiskProfileSettings(
                max_orders_per_minute=100_000, max_position=Decimal(10_000), max_order_notional=Decimal(10**9)
            ),
        )
        settings = stack.settings(strategies=[strat], total_capital=Decimal(10**9))
        configure(app, settings)
        worker = stack.spawn_orders_worker("bench.worker_app", args.concurrency, pool=args.pool)
        try:
            wait_celery(app)
        except Exception:
            print(worker.log_tail())
            raise
        pxs = {i: resting_px(stack, i) for i in stack.symbols}
        svc = StreamService(stream_engine(account(settings), CelerySender(app)))
        svc.build()  # the stream worker's Engine and strategy contexts; its sockets are not needed here
        engine = svc.engine
        ctx = svc.strategies[0].ctx if args.via == "context" else None
        # warm-up: imports, Lua scripts, the worker's Engine, connections
        seq = itertools.count()
        run_rate(stack, engine.orders, 20.0, 10, seq, stack.symbols, pxs, ctx, engine.capital)

        results = []
        for rate in rates:
            n = max(min_n, int(rate * seconds))
            r = run_rate(stack, engine.orders, rate, n, seq, stack.symbols, pxs, ctx, engine.capital)
            results.append(r)
            print(
                fmt_stats(f"decision->wire @ {rate:g}/s (load {r['loadavg'][0]})", r["tick_to_wire"], "ms"),
                flush=True,
            )
            print(
                fmt_stats(
                    f"   {'ctx.buy()' if ctx is not None else 'submit()'} call in the stream worker",
                    r["submit_call"],
                    "ms",
                ),
                flush=True,
            )
            print(
                fmt_stats("   decision -> place_order task start", r["decision_to_task_start"], "ms"),
                flush=True,
            )
            print(fmt_stats("   task start -> order on the wire", r["task_start_to_wire"], "ms"), flush=True)
            if r["refused"]:
                print(f"   !! refused by the strategy context: {r['refused']}", flush=True)
            if r["on_wire"] < r["sent"]:
                print(f"   !! only {r['on_wire']} of {r['sent']} reached the sim", flush=True)

        load_b = loadavg()
        celery = baseline_celery(app, base_n)
        rest_rtt, rest_wire = baseline_rest(stack, base_n)
        handoff = baseline_redis(stack.redis.url, base_n)
        print(fmt_stats(f"baseline: Celery send -> task start (load {load_b[0]})", celery, "ms"))
        print(fmt_stats("baseline: signed POST round trip (OkxRestGateway)", rest_rtt, "ms"))
        print(fmt_stats("baseline: signed POST send -> sim receipt", rest_wire, "ms"))
        print(fmt_stats("baseline: raw Redis hand-off (LPUSH->BLPOP)", handoff, "ms"))
        floor = celery["p50_ms"] + rest_wire["p50_ms"]
        for r in results:
            r["p50_over_floor"] = round(r["tick_to_wire"]["p50_ms"] / floor, 2) if floor else None
        print(
            f"floor (Celery start p50 + POST->receipt p50) = {floor:.3f} ms; "
            + ", ".join(f"@{r['rate']:g}/s p50 = {r['p50_over_floor']}x floor" for r in results)
        )
        engine.close()
    write_json(
        "order_path",
        {
            "header": h,
            "via": args.via,
            "worker_concurrency": args.concurrency,
            "worker_pool": args.pool,
            "rates": results,
            "baselines": {
                "celery_send_to_start": celery,
                "rest_round_trip": rest_rtt,
                "rest_send_to_receipt": rest_wire,
                "redis_handoff": handoff,
                "loadavg": load_b,
            },
            "targets": {"p50_ms": 2.5, "p99_ms": 6.0},
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
