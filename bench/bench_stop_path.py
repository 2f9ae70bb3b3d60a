"""Issue 9 item 3: fill push -> stop-loss order on the wire.

The real stream service (athena.process.stream_service.StreamService: private WebSocket -> inbox -> the one
dispatcher thread -> OrderManager.on_update -> ensure_stop -> the stream worker's sender), as the stream
worker builds it: `--via direct` (the default, workers.stream.build_service) places the stop from the stream
worker's stop thread (athena.ops.direct_stops), `--via celery` sends the Celery task `submit_stop_loss` to a
real orders worker process (`celery -A bench.worker_app worker -Q orders.<account>,default.<account>`),
against the sim in its own process (bench.simproc). Each round decides a marketable entry carrying its stop
price (a strategy's context: pre-trade check, reservation, OrderManager.submit); the sim fills it and pushes
the fill. Latency: from the sim emitting the fill push (an Exchange listener, before the frame is written) to
the sim receiving POST /api/v5/trade/order-algo for that entry's stop (SimServer.on_request). Both stamps are
taken in the sim, on CLOCK_MONOTONIC.

    .venv/bin/python -m bench.bench_stop_path [--n 100] [--quick]
"""

from __future__ import annotations

import argparse
import re
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


def wait_key(r: Any, key: str, field: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not r.hexists(key, field) and time.monotonic() < deadline:
        time.sleep(0.002)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="entries (each fills and gets a stop)")
    ap.add_argument(
        "--pause", type=float, default=0.25, help="seconds between entries (order-algo limit: 10/s)"
    )
    ap.add_argument("--pool", default="threads", help="orders worker -P (the documented deployment: threads)")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument(
        "--via",
        choices=("direct", "celery"),
        default="direct",
        help="direct: the stream worker places the stop (production); celery: submit_stop_loss task",
    )
    ap.add_argument(
        "--journal-now",
        action="store_true",
        help="journal every order update on the dispatcher at once (before #20: for A/B runs)",
    )
    ap.add_argument("--name", default="stop_path", help="result name (var/bench/NAME.json)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    quiet_logs()
    h = print_header("stop_path (fill push -> stop-loss order on the wire)")
    n = 3 if args.quick else args.n

    import redis

    from athena.config import RiskProfileSettings, StrategySettings
    from athena.domain import Side
    from athena.oms.stops import stop_id_for
    from athena.process.stream_service import StreamService
    from athena.wiring import account, stream_engine
    from workers.app import app, configure
    from workers.sender import CelerySender

    with Stack(n_instruments=2, sim_process=True) as stack:
        inst_id = stack.symbols[0]
        stack.step(3)
        r = redis.Redis.from_url(stack.redis.url)
        # The entries are decided through a strategy's context (pre-trade check and capital reservation in
        # this process, as in production; the orders worker checks an entry only when no decision did).
        # The strategy trades the other instrument and needs more trades than its flow window holds
        # before a signal: it never enters by itself, and the entries' fills are no position of its own.
        strat = StrategySettings(
            name="bench",
            cls="ScalperV1",
            instIds=[stack.symbols[1]],
            allocation=Decimal("0.9"),
            params={"min_trades": 100_000},
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
        from athena.ops.direct_stops import DirectStopSender

        sender: Any = DirectStopSender(CelerySender(app)) if args.via == "direct" else CelerySender(app)
        sent_at: dict[str, int] = {}
        send_stop = sender.send_stop

        def timed_send_stop(stop: Any) -> None:  # split the latency: stream worker part / Celery + REST part
            sent_at.setdefault(stop.algoClOrdId, time.monotonic_ns())
            send_stop(stop)

        sender.send_stop = timed_send_stop  # type: ignore[method-assign]
        engine = stream_engine(account(settings), sender)
        if args.via == "direct":
            sender.bind(lambda: engine)
        svc = StreamService(engine)
        svc.build()
        # breakdown stamps: the fill's frame arriving on the private socket, its OrderUpdate put in the
        # inbox, the dispatcher taking it; and every handle() interval, to tell the time the fill
        # waited behind earlier events (busy_ahead) from the hand-off itself
        frame_at: dict[str, int] = {}
        put_at: dict[str, int] = {}
        handle_at: dict[str, int] = {}
        busy: list[tuple[int, int]] = []
        for conn in svc.private.connections:

            def stamped_put(obj: Any, _orig: Any = conn.on_event) -> None:
                cid = getattr(obj, "clOrdId", None)
                if cid and getattr(obj, "accFillSz", None):
                    put_at.setdefault(cid, time.monotonic_ns())
                _orig(obj)

            conn.on_event = stamped_put

            def stamped(raw: bytes, _orig: Any = conn.on_message) -> None:
                t = time.monotonic_ns()
                if b'"orders"' in raw and b'"accFillSz":"0"' not in raw:
                    for cid in re.findall(rb'"clOrdId":"(stp\d+)"', raw):
                        frame_at.setdefault(cid.decode(), t)
                _orig(raw)

            conn.on_message = stamped  # type: ignore[method-assign]
        handle = svc.handle

        def timed_handle(item: Any) -> None:
            t = time.monotonic_ns()
            cid = getattr(item, "clOrdId", None)
            if cid and getattr(item, "accFillSz", None):
                handle_at.setdefault(cid, t)
            try:
                handle(item)
            finally:
                busy.append((t, time.monotonic_ns()))

        svc.handle = timed_handle  # type: ignore[method-assign]
        svc.start()
        if args.journal_now:  # undo the dispatcher's deferral once it has set it up
            deadline = time.monotonic() + 5
            while engine.orders.defer_journal is None and time.monotonic() < deadline:
                time.sleep(0.01)
            engine.orders.defer_journal = None
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not all(
                c.connected.is_set() for c in svc.private.connections
            ):
                time.sleep(0.05)
            time.sleep(0.5)  # login + subscriptions
            ctx, marks = svc.strategies[0].ctx, svc.engine.marks
            inst = synthetic_instruments(2)[0].inst
            lat: list[int] = []
            to_send: list[int] = []
            parts: dict[str, list[int]] = {
                "push_to_frame": [],
                "frame_to_dispatch": [],
                "dispatch_to_send": [],
                "frame_to_put": [],
                "put_to_take": [],
                "busy_ahead": [],
                "handoff_wait": [],
            }
            missing = 0
            load0 = loadavg()
            for i in range(n + 3):
                mid = stack.mid(inst_id)
                side = Side.BUY if i % 2 == 0 else Side.SELL  # alternate: the net position stays small
                sl = (
                    inst.px_down(Decimal(mid) * Decimal("0.98"))
                    if side is Side.BUY
                    else inst.px_up(Decimal(mid) * Decimal("1.02"))
                )
                cid = f"stp{i}"
                marks.set(
                    inst_id, Decimal(mid)
                )  # the market order is priced by it (the stream worker keeps it too)
                intent = ctx.order(inst_id, side, Decimal("0.01"), stop_loss_px=sl, clOrdId=cid)
                if not intent.ok:
                    raise RuntimeError(f"entry {cid} refused: {intent.reason}")
                wait_key(r, "bench:recv", stop_id_for(cid), 10)
                if i >= 3:  # warm-up rounds
                    fills, stops = stack.stamps("fill"), stack.stamps("recv")
                    t0, t1 = fills.get(cid), stops.get(stop_id_for(cid))
                    if t0 is None or t1 is None:
                        missing += 1
                    else:
                        lat.append(t1 - t0)
                        if stop_id_for(cid) in sent_at:
                            to_send.append(sent_at[stop_id_for(cid)] - t0)
                            if cid in frame_at and cid in handle_at:
                                parts["push_to_frame"].append(frame_at[cid] - t0)
                                parts["frame_to_dispatch"].append(handle_at[cid] - frame_at[cid])
                                parts["dispatch_to_send"].append(sent_at[stop_id_for(cid)] - handle_at[cid])
                                if cid in put_at:  # frame_to_dispatch = frame_to_put + put_to_take
                                    p0, p1 = put_at[cid], handle_at[cid]
                                    ahead = sum(max(0, min(e, p1) - max(b, p0)) for b, e in busy[-200:])
                                    parts["frame_to_put"].append(p0 - frame_at[cid])
                                    parts["put_to_take"].append(p1 - p0)
                                    parts["busy_ahead"].append(ahead)  # handling earlier events
                                    parts["handoff_wait"].append(p1 - p0 - ahead)  # GIL / CPU wake-up
                time.sleep(args.pause)
        finally:
            svc.stop()
        stack_starts, stops_at = stack.stamps("start"), stack.stamps("recv")
    st = stats_ns(lat, "ms")
    st_send = stats_ns(to_send, "ms")
    print(fmt_stats(f"fill push -> stop on the wire (load {load0[0]})", st, "ms"))
    hop = "Celery send" if args.via == "celery" else "stop thread hand-off"
    print(fmt_stats(f"   of which fill push -> {hop} (stream)", st_send, "ms"))
    starts = stack_starts
    send_to_start = [starts[s] - sent_at[s] for s in sent_at if s in starts]
    start_to_wire = [stops_at[s] - starts[s] for s in sent_at if s in starts and s in stops_at]
    if args.via == "celery":
        worker = {
            "celery_send_to_task_start": stats_ns(send_to_start, "ms"),
            "task_start_to_wire": stats_ns(start_to_wire, "ms"),
        }
    else:
        worker = {
            "handoff_to_wire": stats_ns([stops_at[s] - sent_at[s] for s in sent_at if s in stops_at], "ms")
        }
    for k, v in worker.items():
        print(fmt_stats(f"   {k}", v, "ms"))
    breakdown = {k: stats_ns(v, "ms") for k, v in parts.items()}
    for k, v in breakdown.items():
        print(fmt_stats(f"      {k}", v, "ms"))
    if missing:
        print(f"   !! {missing} of {n} rounds had no fill or no stop within 10 s")
    write_json(
        args.name,
        {
            "header": h,
            "journal_now": args.journal_now,
            "fill_to_stop_wire": st,
            "fill_to_celery_send": st_send,
            "stream_breakdown": breakdown,
            "worker_breakdown": worker,
            "missing": missing,
            "loadavg": load0,
            "worker_concurrency": args.concurrency,
            "worker_pool": args.pool,
            "via": args.via,
            "target": {"p99_ms": 6.0},
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
