"""Issue 9 item 6: Athena's OKX gateways vs python-okx and ccxt (+ ccxt.pro), in one run, same sim.

The sim runs in its own process (bench.simproc), rate limits off. Figures:
- REST order round trip: a signed post-only order placed and its reply read into the library's
  result type (Athena OkxRestGateway.place_order -> OrderUpdate; python-okx TradeAPI.place_order ->
  dict; ccxt okx.create_order -> unified order). Athena's client-side limiter is off here, as
  ccxt's enableRateLimit is; p50/p99 µs.
- parse: one orders-pending page of 100 rows (raw bytes from the sim) into each library's objects
  (Athena: orjson + parse.order_update with Decimals; ccxt: json + parse_orders; python-okx hands
  back json.loads' dict of strings, so its parse is json.loads; "python-okx+Decimal" also converts
  the numbers Athena converts, i.e. the same usable output). µs per page.
- WS ticker ingest: each client subscribes to `tickers` on 10 instruments, then the sim pushes a
  burst (/sim/step). msgs/s as received (wall), and the CPU the client spent per message in this
  process: 1e6 / cpu_us_per_msg is the ingest capacity of one core, which does not depend on how
  fast the sim produces. Athena: OkxPublicWsGateway -> Ticker objects (Decimal); ccxt.pro:
  watch_tickers -> unified tickers; python-okx: WsPublicAsync -> callback(raw) + json.loads
  (python-okx always passes an SSL context, so its factory is patched to connect to ws:// here;
  "python-okx+Decimal" also converts the 5 numbers Athena's Ticker carries).
Ratios are competitor / Athena for times (>1: Athena faster) and Athena / competitor for rates.

    .venv/bin/python -m bench.bench_peers [--n 300] [--steps 300] [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    write_json,
)

KEY, SECRET, PASS = "sim-api-key", "sim-secret-key", "sim-passphrase"
N_WS_INST = 10


def ccxt_rest(url: str) -> Any:
    import ccxt

    ex = ccxt.okx(
        {"apiKey": KEY, "secret": SECRET, "password": PASS, "enableRateLimit": False, "timeout": 10_000}
    )
    ex.urls["api"]["rest"] = url
    ex.hostname = url.split("://", 1)[1]
    ex.options["fetchMarkets"] = {"types": ["swap"]}
    ex.load_markets()
    return ex


def symbol_of(inst_id: str) -> str:
    base, quote, _ = inst_id.split("-")
    return f"{base}/{quote}:{quote}"


# -- REST ---------------------------------------------------------------------------------------------
def rest_round_trips(stack: Stack, n: int) -> dict[str, dict[str, Any]]:
    import okx.Trade as Trade

    from athena.domain import OrderRequest, OrdType, Side
    from athena.okx.ratelimit import RateLimiter
    from athena.okx.rest import OkxRestGateway

    inst_id = stack.symbols[0]
    inst = synthetic_instruments(stack.n_instruments)[0].inst
    px = inst.px_down(stack.mid(inst_id) * Decimal("0.95"))
    gw = OkxRestGateway(stack.settings(), rate_limiter=RateLimiter(enabled=False))
    gw.server_time()
    pyokx = Trade.TradeAPI(KEY, SECRET, PASS, flag="0", domain=stack.sim_url)
    cx = ccxt_rest(stack.sim_url)
    sym = symbol_of(inst_id)
    clients = {
        "athena": lambda cid: gw.place_order(
            OrderRequest(cid, inst_id, Side.BUY, OrdType.POST_ONLY, Decimal("0.01"), px)
        ),
        "python-okx": lambda cid: pyokx.place_order(
            instId=inst_id,
            tdMode="cross",
            side="buy",
            ordType="post_only",
            sz="0.01",
            px=str(px),
            clOrdId=cid,
        ),
        "ccxt": lambda cid: cx.create_order(
            sym, "limit", "buy", 0.01, float(px), {"postOnly": True, "clOrdId": cid}
        ),
    }
    out: dict[str, list[int]] = {k: [] for k in clients}
    for i in range(n + 10):  # interleaved, so drift in load hits every client alike
        for name, fn in clients.items():
            cid = f"{name.replace('-', '')[:5]}{i}"
            t0 = time.perf_counter_ns()
            r = fn(cid)
            dt = time.perf_counter_ns() - t0
            if name == "python-okx" and r.get("code") != "0":
                raise RuntimeError(f"python-okx order failed: {r}")
            if i >= 10:
                out[name].append(dt)
    gw.close()
    pyokx.close()
    cx.session.close()
    return {k: stats_ns(v, "us") for k, v in out.items()}


def parse_page(stack: Stack, n: int, min_rows: int = 100) -> dict[str, dict[str, Any]]:
    import orjson

    from athena.okx import parse

    raw = stack.client.request("GET", "/api/v5/trade/orders-pending?instType=SWAP&limit=100").content
    rows = orjson.loads(raw)["data"]
    if len(rows) < min_rows:
        raise RuntimeError(f"need {min_rows} pending orders to parse, have {len(rows)}")
    cx = ccxt_rest(stack.sim_url)
    fns = {
        "athena": lambda: [parse.order_update(r, source="rest_query") for r in orjson.loads(raw)["data"]],
        "python-okx": lambda: json.loads(raw)["data"],
        "python-okx+Decimal": lambda: [_decimals(r, ORDER_NUMBERS) for r in json.loads(raw)["data"]],
        "ccxt": lambda: cx.parse_orders(json.loads(raw)["data"]),
    }
    out: dict[str, list[int]] = {k: [] for k in fns}
    for i in range(n + 5):
        for name, fn in fns.items():
            t0 = time.perf_counter_ns()
            fn()
            if i >= 5:
                out[name].append(time.perf_counter_ns() - t0)
    cx.session.close()
    return {k: stats_ns(v, "us") for k, v in out.items()}


# python-okx returns strings; a caller that trades on them converts the same numbers Athena parses.
ORDER_NUMBERS = ("accFillSz", "avgPx", "fillSz", "fillPx", "fee", "sz", "px", "pnl")
TICKER_NUMBERS = ("last", "bidPx", "bidSz", "askPx", "askSz")


def _decimals(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out = dict(row)
    for k in keys:
        v = row.get(k)
        out[k] = Decimal(v) if v else None
    return out


# -- WS ingest ----------------------------------------------------------------------------------------
class Meter:
    def __init__(self) -> None:
        self.count = 0
        self.first = 0
        self.last = 0

    def hit(self) -> None:
        t = time.perf_counter_ns()
        if not self.count:
            self.first = t
        self.count += 1
        self.last = t


def burst(stack: Stack, meter: Meter, steps: int) -> dict[str, Any]:
    """Trigger `steps` market steps in the sim; count until nothing arrived for 0.5 s."""
    time.sleep(0.5)  # subscriptions settle, snapshot pushes arrive
    meter.count = 0
    cpu0 = time.process_time()
    stack.step(steps)
    deadline = time.monotonic() + 60
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.02)
        if meter.count != seen:
            seen, quiet_since = meter.count, time.monotonic()
        elif time.monotonic() - quiet_since > 0.5:
            break
    cpu = time.process_time() - cpu0
    n = meter.count
    wall = (meter.last - meter.first) / 1e9 if n > 1 else 0.0
    cpu_us = cpu * 1e6 / n if n else 0.0
    return {
        "messages": n,
        "msgs_per_s_wall": round(n / wall) if wall else 0,
        "cpu_us_per_msg": round(cpu_us, 2),
        "msgs_per_cpu_s": round(1e6 / cpu_us) if cpu_us else 0,
    }


def ingest_athena(stack: Stack, ids: list[str], steps: int) -> dict[str, Any]:
    from athena.okx.public_ws import OkxPublicWsGateway

    meter = Meter()
    gw = OkxPublicWsGateway(stack.sim_ws("public"), ids, ("tickers",), lambda _obj: meter.hit())
    gw.start()
    try:
        gw.connected.wait(10)
        return burst(stack, meter, steps)
    finally:
        gw.stop()


def _in_loop(make: Any, stack: Stack, meter: Meter, steps: int) -> dict[str, Any]:
    """Run an asyncio client in a thread; the burst is driven from this thread."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    err: list[BaseException] = []

    async def main() -> None:
        try:
            await make(meter, stop, ready)
        except BaseException as exc:  # reported below
            err.append(exc)
            ready.set()

    t = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    t.start()
    ready.wait(20)
    if err:
        raise err[0]
    try:
        return burst(stack, meter, steps)
    finally:
        loop.call_soon_threadsafe(stop.set)
        t.join(10)


def ingest_ccxtpro(stack: Stack, ids: list[str], steps: int) -> dict[str, Any]:
    import ccxt.pro as ccxtpro

    async def make(meter: Meter, stop: asyncio.Event, ready: threading.Event) -> None:
        ex = ccxtpro.okx({"apiKey": KEY, "secret": SECRET, "password": PASS, "enableRateLimit": False})
        ex.urls["api"]["rest"] = stack.sim_url
        ex.urls["api"]["ws"] = f"ws://127.0.0.1:{stack.sim_port}/ws/v5"
        ex.hostname = f"127.0.0.1:{stack.sim_port}"
        ex.options["fetchMarkets"] = {"types": ["swap"]}
        await ex.load_markets()
        original = ex.handle_ticker

        def counted(client: Any, message: Any) -> Any:  # every ticker frame ccxt handles
            meter.hit()
            return original(client, message)

        ex.handle_ticker = counted
        syms = [symbol_of(i) for i in ids]

        async def watch() -> None:
            while not stop.is_set():
                await ex.watch_tickers(syms)

        task = asyncio.ensure_future(watch())
        await asyncio.sleep(0.5)
        ready.set()
        await stop.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ex.close()

    return _in_loop(make, stack, Meter(), steps)


def ingest_pyokx(stack: Stack, ids: list[str], steps: int, decimals: bool = False) -> dict[str, Any]:
    import websockets
    from okx.websocket.WebSocketFactory import WebSocketFactory
    from okx.websocket.WsPublicAsync import WsPublicAsync

    async def plain_connect(self: Any) -> Any:  # python-okx always passes an SSL context
        self.websocket = await websockets.connect(self.url)
        return self.websocket

    async def make(meter: Meter, stop: asyncio.Event, ready: threading.Event) -> None:
        WebSocketFactory.connect = plain_connect  # type: ignore[method-assign]
        ws = WsPublicAsync(stack.sim_ws("public"))

        def callback(message: str) -> None:
            msg = json.loads(message)  # what every python-okx user's callback does first
            if "data" in msg:
                for d in msg["data"]:
                    if decimals:
                        _decimals(d, TICKER_NUMBERS)
                    meter.hit()

        await ws.start()
        await ws.subscribe([{"channel": "tickers", "instId": i} for i in ids], callback)
        await asyncio.sleep(0.5)
        ready.set()
        await stop.wait()
        await ws.stop()

    return _in_loop(make, stack, Meter(), steps)


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="REST orders per client")
    ap.add_argument("--steps", type=int, default=300, help="market steps per WS burst (x10 ticker pushes)")
    ap.add_argument(
        "--rounds", type=int, default=5, help="WS ingest rounds, clients interleaved (median reported)"
    )
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    quiet_logs()
    h = print_header("peers (Athena vs python-okx vs ccxt / ccxt.pro, same sim)")
    n, steps = (3, 5) if args.quick else (args.n, args.steps)
    with Stack(n_instruments=N_WS_INST, sim_process=True) as stack:
        stack.step(2)
        load_rest = loadavg()
        rest = rest_round_trips(
            stack, n if args.quick else max(n, 34)
        )  # >= 100 resting orders for the parse page
        for k, v in rest.items():
            print(fmt_stats(f"REST order round trip: {k}", v, "us"), flush=True)
        load_parse = loadavg()
        parsing = parse_page(stack, n, 1 if args.quick else 100)
        for k, v in parsing.items():
            print(fmt_stats(f"parse 100 pending orders: {k}", v, "us"), flush=True)
        ids = stack.symbols[:N_WS_INST]
        clients: tuple[tuple[str, Any], ...] = (
            ("athena", ingest_athena),
            ("ccxt.pro", ingest_ccxtpro),
            ("python-okx", ingest_pyokx),
            ("python-okx+Decimal", lambda st, i, n: ingest_pyokx(st, i, n, decimals=True)),
        )
        # Rounds interleave the clients (A B C D A B C D ...): a load swing on this shared VM moves one
        # round of every client, not every round of one. Figures: the median round per client.
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in clients}
        for rnd in range(1 if args.quick else args.rounds):
            for name, fn in clients:
                load = loadavg()
                try:
                    r = {**fn(stack, ids, steps), "loadavg": load}
                except Exception as exc:  # a peer that cannot connect is reported, not fatal
                    r = {"error": f"{type(exc).__name__}: {exc}", "loadavg": load}
                runs[name].append(r)
                if "error" in r:
                    print(f"WS ticker ingest (round {rnd + 1}): {name:<11} ERROR {r['error']}", flush=True)
                else:
                    print(
                        f"WS ticker ingest (round {rnd + 1}): {name:<11} {r['messages']:>6} msgs"
                        f"  {r['msgs_per_s_wall']:>7} msgs/s wall  {r['cpu_us_per_msg']:>7.1f} µs CPU/msg"
                        f" = {r['msgs_per_cpu_s']:>7} msgs per CPU-s  (load {load[0]})",
                        flush=True,
                    )
        ws: dict[str, Any] = {}
        for name, rs in runs.items():
            ok = sorted((r for r in rs if "error" not in r), key=lambda r: r["cpu_us_per_msg"])
            ws[name] = {**ok[len(ok) // 2], "rounds": rs} if ok else rs[-1]
            if ok:
                m = ws[name]
                print(
                    f"WS ticker ingest (median of {len(ok)}): {name:<11} {m['cpu_us_per_msg']:>7.1f} "
                    "µs CPU/msg"
                    f" = {m['msgs_per_cpu_s']:>7} msgs per CPU-s, {m['msgs_per_s_wall']:>7} msgs/s wall",
                    flush=True,
                )
    ratios: dict[str, Any] = {}
    for peer in ("python-okx", "ccxt"):
        ratios[f"rest_p50_{peer}_over_athena"] = ratio(rest[peer]["p50_us"], rest["athena"]["p50_us"])
    for peer in ("python-okx", "python-okx+Decimal", "ccxt"):
        ratios[f"parse_p50_{peer}_over_athena"] = ratio(parsing[peer]["p50_us"], parsing["athena"]["p50_us"])
    a = ws.get("athena", {})
    for peer in ("ccxt.pro", "python-okx", "python-okx+Decimal"):
        p = ws.get(peer, {})
        if "msgs_per_cpu_s" in a and "msgs_per_cpu_s" in p:
            ratios[f"ws_capacity_athena_over_{peer}"] = ratio(a["msgs_per_cpu_s"], p["msgs_per_cpu_s"])
    print("ratios (>1 = Athena ahead): " + ", ".join(f"{k} {v}" for k, v in ratios.items()), flush=True)
    write_json(
        "peers",
        {
            "header": h,
            "rest_round_trip": rest,
            "rest_loadavg": load_rest,
            "parse_100_pending": parsing,
            "parse_loadavg": load_parse,
            "ws_ticker_ingest": ws,
            "ratios": ratios,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
