"""Issue 20: Athena vs NautilusTrader on the same sim, side by side in one run.

One sim process (bench.simproc --quotes), one market (BTC-USDT-SWAP), both systems subscribed to it:
- Athena as deployed: the stream worker's `StreamService` in this process (public books5 + trades, the
  private channels, the direct stop sender) and a real orders worker process (`celery -A bench.worker_app
  worker -P threads -c 4`); its strategy is bench/vs_nautilus_strategy.py (`QuoteTrigger`, owner 0);
- NautilusTrader 1.231 (`.venv-nautilus`, Python >= 3.12): a TradingNode with the OKX adapter, its strategy
  bench/nautilus_bench_node.py (the same rule, owner 1; quotes from bbo-tbt).
The bench moves the market with the sim's `/sim/price`; the mid's parity says whose round it is, so rounds
interleave (Athena, Nautilus, Athena, ...) and only one system reacts at a time while both receive every push.

Figures (every stamp taken in the sim, CLOCK_MONOTONIC):
- quote -> order: from the sim emitting the quote push (books5 for Athena, bbo-tbt for Nautilus: the
  channel each strategy trades on; both pushes are emitted within microseconds of each other by one
  flush) to the order's arrival at the sim (the REST request's `on_request` / the WebSocket frame's
  `on_ws_message`, both taken as the request comes out of aiohttp's parser). Athena places it over REST
  from the orders worker; Nautilus over the private WebSocket (`op: order`);
- fill -> reaction: from the sim emitting the fill push of a market order to the arrival of the stop that
  answers it (`POST /api/v5/trade/order-algo` for both: Athena's OMS places it from the stream worker's stop
  thread; Nautilus's strategy submits a stop-market in `on_order_filled`, which its adapter sends over REST).

    .venv/bin/python -m bench.bench_vs_nautilus [--n 200] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Stack,
    fmt_stats,
    loadavg,
    print_header,
    quiet_logs,
    stats_ns,
    wait_celery,
    write_json,
)
from bench.simproc import px_key

BTC = "BTC-USDT-SWAP"
KEY, SECRET, PASS = "sim-api-key", "sim-secret-key", "sim-passphrase"  # the sim's default API key
BAND = 100  # ticks: the trigger levels' distance from the start mid
NODE = Path(__file__).with_name("nautilus_bench_node.py")
VENV_SCRIPT = ROOT / "tests" / "conformance" / "nautilus_venv.sh"


def nautilus_python(venv: Path) -> Path:
    from athena import procs

    procs.run(["bash", str(VENV_SCRIPT), str(venv)], cwd=ROOT, timeout=900)
    python = venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(
            f"no NautilusTrader venv at {venv}: run bash {VENV_SCRIPT.relative_to(ROOT)} {venv} "
            "(it needs a Python >= 3.12) and try again."
        )
    return python


class Trigger:
    """Moves the market without waiting for the answer: `/sim/price` is sent on a kept-alive connection and
    its answer read only after the round. Waiting for it would wake this process (which runs Athena's
    stream worker) at the very moment the quote reaches Athena's WebSocket thread, and take the GIL from
    it."""

    def __init__(self, url: str) -> None:
        import http.client
        from urllib.parse import urlsplit

        u = urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=10)
        self.pending = False

    def send(self, inst_id: str, px: Decimal) -> None:
        self.finish()
        body = json.dumps({"instId": inst_id, "px": str(px)})
        self.conn.request("POST", "/sim/price", body, {"Content-Type": "application/json"})
        self.pending = True

    def finish(self) -> dict[str, Any] | None:
        if not self.pending:
            return None
        self.pending = False
        got = json.loads(self.conn.getresponse().read())
        if got.get("code") != "0":
            raise RuntimeError(f"/sim/price refused: {got}")
        return got["data"][0]  # type: ignore[no-any-return]


def wait_notify(r: Any, kind: str, timeout: float) -> bool:
    """Block (no polling, no GIL taken meanwhile) until the sim's stamp writer says a `kind` arrived."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        got = r.blpop("bench:notify", timeout=max(0.01, left))
        if got is not None and got[1].decode() == kind:
            return True
    return False


def wait_for(fn: Any, timeout: float, every: float = 0.003) -> Any:
    """Poll fn() until it returns something truthy; None after timeout. Sleeps between polls: this process
    also runs Athena's stream worker, and a busy poll would take its GIL."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(every)
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="rounds per system and per figure")
    ap.add_argument(
        "--pause", type=float, default=0.05, help="seconds after each round (both systems settle)"
    )
    ap.add_argument("--venv", default=str(ROOT / ".venv-nautilus"), help="NautilusTrader's venv")
    ap.add_argument("--concurrency", type=int, default=4, help="orders worker -c")
    ap.add_argument("--pool", default="threads", help="orders worker -P")
    ap.add_argument(
        "--order-entry",
        choices=("ws", "rest"),
        default="ws",
        help="how the orders worker places orders (okx.order_entry): its private WebSocket or REST",
    )
    ap.add_argument("--name", default="vs_nautilus", help="result name (var/bench/NAME.json)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    quiet_logs()
    py_nautilus = nautilus_python(Path(args.venv))
    h = print_header(
        "vs_nautilus (quote -> order, fill -> stop: Athena vs NautilusTrader, same sim, same run)"
    )
    n = 3 if args.quick else args.n
    warm = 2

    import redis

    from athena.config import RiskProfileSettings, StrategySettings
    from athena.ops.direct_stops import DirectStopSender
    from athena.process.stream_service import StreamService
    from athena.wiring import account, stream_engine
    from workers.app import app, configure
    from workers.sender import CelerySender

    entry = {"ATHENA_ORDER_ENTRY": args.order_entry}
    with Stack(n_instruments=2, sim_process=True, sim_args=["--quotes"], extra_env=entry) as stack:
        r = redis.Redis.from_url(stack.redis.url)
        tick = Decimal("0.1")
        m0 = int(stack.mid(BTC) / tick)
        hi, lo = m0 + BAND, m0 - BAND

        def set_mid(ticks: int) -> Decimal:
            """Move the market: a fresh book around the mid; returns the best bid the pushes carry."""
            got = stack.admin("price", {"instId": BTC, "px": str(ticks * tick)})
            return Decimal(got["bid"])

        strat = StrategySettings(
            name="bench",
            cls="bench.vs_nautilus_strategy:QuoteTrigger",
            instIds=[BTC],
            allocation=Decimal("0.9"),
            params={"hi": hi, "lo": lo, "owner": 0, "sz": "0.01"},
            risk=RiskProfileSettings(
                max_orders_per_minute=100_000, max_position=Decimal(10_000), max_order_notional=Decimal(10**9)
            ),
        )
        settings = stack.settings(strategies=[strat], total_capital=Decimal(10**9))
        configure(app, settings)
        worker = stack.spawn_orders_worker("bench.worker_app", args.concurrency, pool=args.pool)
        events_file, stop_file = stack.tmp / "nautilus.jsonl", stack.tmp / "nautilus.stop"
        node = stack.sup.spawn(
            "nautilus",
            [
                str(py_nautilus),
                str(NODE),
                stack.sim_url,
                stack.sim_ws("public").removesuffix("/ws/v5/public"),
                str(events_file),
                str(stop_file),
                str(hi),
                str(lo),
                "1",
            ],
            extra_env={"OKX_API_KEY": KEY, "OKX_API_SECRET": SECRET, "OKX_API_PASSPHRASE": PASS},
        )
        try:
            wait_celery(app)
        except Exception:
            print(worker.log_tail())
            raise
        sender = DirectStopSender(CelerySender(app))
        handoff_at: dict[str, int] = {}
        send_stop = sender.send_stop

        def timed_send_stop(stop: Any) -> None:  # the stream worker's part of fill -> stop
            handoff_at.setdefault(stop.algoClOrdId, time.monotonic_ns())
            send_stop(stop)

        sender.send_stop = timed_send_stop  # type: ignore[method-assign]
        engine = stream_engine(account(settings), sender)
        sender.bind(lambda: engine)
        svc = StreamService(engine)
        svc.build()
        strategy: Any = svc.strategies[0]
        decided: dict[str, int] = {}  # clOrdId -> ns the strategy's decision entered ctx.buy / ctx.order
        returned: dict[
            str, int
        ] = {}  # ... and ns it returned (risk, reservation, order record + task queued)
        for name in ("buy", "order"):

            def timed(*a: Any, _orig: Any = getattr(strategy.ctx, name), **kw: Any) -> Any:
                t = time.monotonic_ns()
                intent = _orig(*a, **kw)
                returned[intent.clOrdId] = time.monotonic_ns()
                decided[intent.clOrdId] = t
                return intent

            setattr(strategy.ctx, name, timed)
        svc.start()

        def nautilus_events() -> list[dict[str, Any]]:
            if not events_file.exists():
                return []
            return [json.loads(x) for x in events_file.read_text().splitlines() if x.strip()]

        try:
            wait_for(lambda: all(c.connected.is_set() for c in svc.private.connections), 20, 0.05)
            svc.engine.marks.set(BTC, Decimal(m0) * tick)  # the market order's pre-trade notional
            # both ready: Nautilus says so after its first quote; the market moves until then
            ready = False
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and node.alive():
                set_mid(m0 + (1 if ready else 0))
                if any(e["kind"] == "ready" for e in nautilus_events()):
                    ready = True
                    break
                time.sleep(0.5)
            if not ready:
                raise RuntimeError(f"NautilusTrader did not become ready: {node.log_tail()}")
            time.sleep(1.0)
            trigger = Trigger(stack.sim_url)
            lat: dict[str, dict[str, list[int]]] = {
                s: {"quote_to_order": [], "fill_to_stop": []} for s in ("athena", "nautilus")
            }
            parts: dict[str, list[int]] = {
                "quote_to_decision": [],
                "decision_to_task_start": [],
                "   ctx_buy_call": [],
                "   queued_to_task_start": [],
                "task_start_to_wire": [],
                "fill_to_handoff": [],
                "handoff_to_wire": [],
                "books5_minus_bbo_push": [],
            }
            missing: dict[str, int] = {"athena": 0, "nautilus": 0}
            load0 = loadavg()
            for j in range(2 * (n + warm)):
                who = j % 2
                system = ("athena", "nautilus")[who]
                i = j // 2
                measured = i >= warm
                # quote -> order
                set_mid(m0)
                time.sleep(args.pause)
                r.delete("bench:notify")
                bid = (
                    hi + 2 * i + who - 1
                ) * tick  # the sim's book around a mid: bid = mid - 1 tick (spread 2)
                trigger.send(BTC, (hi + 2 * i + who) * tick)
                wait_notify(r, "order", 5)
                got = trigger.finish()
                assert got is not None and Decimal(got["bid"]) == bid, (got, bid)
                want = px_key(bid + 3 * tick)  # one tick above the ask (bid + 2 ticks)
                t_order = wait_for(lambda want=want: r.hget("bench:px", want), 1)
                q = {ch: r.hget(f"bench:quote:{ch}", px_key(bid)) for ch in ("books5", "bbo-tbt")}
                if measured:
                    t_quote = q["books5" if who == 0 else "bbo-tbt"]
                    if t_order is None or t_quote is None:
                        missing[system] += 1
                    else:
                        lat[system]["quote_to_order"].append(int(t_order) - int(t_quote))
                        if q["books5"] and q["bbo-tbt"]:
                            parts["books5_minus_bbo_push"].append(int(q["books5"]) - int(q["bbo-tbt"]))
                        if who == 0:
                            cid = next((c for c, t in decided.items() if t > int(t_quote)), None)
                            start = wait_for(lambda cid=cid: r.hget("bench:start", cid), 1) if cid else None
                            if cid and start:
                                parts["quote_to_decision"].append(decided[cid] - int(t_quote))
                                parts["decision_to_task_start"].append(int(start) - decided[cid])
                                parts["   ctx_buy_call"].append(returned[cid] - decided[cid])
                                parts["   queued_to_task_start"].append(int(start) - returned[cid])
                                parts["task_start_to_wire"].append(int(t_order) - int(start))
                decided.clear()
                returned.clear()
                time.sleep(args.pause)
                # fill -> stop
                set_mid(m0)
                time.sleep(args.pause)
                n_fills, n_algos = r.llen("bench:fills"), r.llen("bench:algos")
                r.delete("bench:notify")
                trigger.send(BTC, (lo - 2 * i - who) * tick)
                wait_notify(r, "algo", 5)
                trigger.finish()
                t_stop = wait_for(lambda n_algos=n_algos: r.lindex("bench:algos", n_algos), 1)
                t_fill = r.lindex("bench:fills", n_fills)
                if measured:
                    if t_stop is None or t_fill is None:
                        missing[system] += 1
                    else:
                        lat[system]["fill_to_stop"].append(int(t_stop) - int(t_fill))
                        if who == 0 and handoff_at:
                            t_h = max(handoff_at.values())
                            parts["fill_to_handoff"].append(t_h - int(t_fill))
                            parts["handoff_to_wire"].append(int(t_stop) - t_h)
                handoff_at.clear()
                time.sleep(args.pause)
            refused = [e for e in nautilus_events() if e["kind"] in ("refused", "error")]
        finally:
            stop_file.touch()
            svc.stop()
            wait_for(lambda: not node.alive(), 15, 0.1)
        athena_refused = list(strategy.refused)
    st = {s: {k: stats_ns(v, "ms") for k, v in d.items()} for s, d in lat.items()}
    # p50 of the first and the last quarter of the rounds: does a figure drift as resting orders pile up?
    drift = {
        f"{s} {k}": [
            stats_ns(v[: len(v) // 4], "ms")["p50_ms"],
            stats_ns(v[-(len(v) // 4) :], "ms")["p50_ms"],
        ]
        for s, d in {**lat, "athena_parts": parts}.items()
        for k, v in d.items()
        if len(v) >= 8
    }
    breakdown = {k: stats_ns(v, "ms") for k, v in parts.items()}
    ratios: dict[str, float | None] = {}
    for fig in ("quote_to_order", "fill_to_stop"):
        for p in ("p50", "p99"):
            a_, n_ = st["athena"][fig][f"{p}_ms"], st["nautilus"][fig][f"{p}_ms"]
            ratios[f"{fig}_{p}_nautilus_over_athena"] = round(n_ / a_, 2) if a_ else None
    print(f"load at start {load0}")
    for s in ("athena", "nautilus"):
        for fig in ("quote_to_order", "fill_to_stop"):
            print(fmt_stats(f"{s:<9} {fig}", st[s][fig], "ms"))
    for k, v in breakdown.items():
        print(fmt_stats(f"   athena {k}", v, "ms"))
    for k, v in ratios.items():
        print(f"   {k:<44} {v}")
    for k, (first, last) in drift.items():
        print(f"   p50 first / last quarter of the rounds: {k:<40} {first} / {last} ms")
    if any(missing.values()) or refused or athena_refused:
        print(
            f"   !! missing rounds {missing}; nautilus refused/errors {refused[:3]}; athena refused "
            f"{athena_refused[:3]}"
        )
    write_json(
        args.name,
        {
            "header": h,
            "n_per_system": n,
            "latency": st,
            "athena_breakdown": breakdown,
            "ratios": ratios,
            "drift_p50_first_last_quarter_ms": drift,
            "missing": missing,
            "loadavg": load0,
            "nautilus_refused": refused[:10],
            "athena_refused": athena_refused[:10],
            "worker_pool": args.pool,
            "order_entry": args.order_entry,
            "worker_concurrency": args.concurrency,
            "nautilus_version": "1.231.0",
            "pid": os.getpid(),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
