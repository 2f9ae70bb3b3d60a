"""Simulator throughput: is athena.sim ever the bottleneck?

    .venv/bin/python -m bench.bench_sim [--seconds 3] [--clients 2] [--readers 4]

Figures (each with the load average it was taken under; this 2-core machine is shared):
- engine orders/s: place + cancel of a post-only order through the in-process matching engine
  (`Exchange`, no sockets), with an empty book and with 200 resting orders, and with an `orders`
  subscriber (every place and cancel builds its push).
- REST orders/s: place + cancel (two signed HTTP requests per order) over keep-alive connections
  (http.client; one connection per client process) against `athena sim` running in its own
  process, rate limits off. Reported for 1 client and for --clients client processes.
- private pushes/s: `orders` pushes (live + canceled per order) delivered to one websocket-client
  reader, produced by a second connection sending WS `batch-orders` / `batch-cancel-orders` ops.
- public pushes/s: `tickers` pushes delivered to websocket-client readers while the synthetic market
  steps as fast as it can (/sim/step); 1 reader, then --readers readers on one connection each
  (fan-out: every step is pushed to each reader).
Writes var/bench/sim.json. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import PY, ROOT, loadavg, print_header, write_json

KEY, SECRET, PASS = "sim-api-key", "sim-secret-key", "sim-passphrase"
BTC = "BTC-USDT-SWAP"
FAR_PX = "50000.0"  # a post-only buy far below the market: rests, never fills


# -- the sim in its own process ------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sim(port: int) -> subprocess.Popen[bytes]:
    code = ("import signal,threading;from athena.sim.server import SimServer;"
            f"s=SimServer(port={port},tick_interval_ms=0,rate_limits=False,idle_timeout_s=3600).start();"
            "s.limiter.enabled=False;e=threading.Event();"
            "signal.signal(signal.SIGTERM,lambda *a:e.set());print('ready',flush=True);e.wait();s.stop()")
    proc = subprocess.Popen([PY, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise RuntimeError("sim did not start")
    return proc


def stop_sim(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def admin(port: int, path: str, body: Any = None) -> Any:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST" if body is not None else "GET", f"/sim/{path}", body=json.dumps(body) if body is not None else None)
    out = json.loads(c.getresponse().read())
    c.close()
    return out["data"][0]


# -- REST client (signed, keep-alive) ------------------------------------------------------------
class Signed:
    """A minimal signed OKX client on one persistent http.client connection (cheap per request)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.secret = SECRET.encode()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        raw = json.dumps(body, separators=(",", ":"))
        now = dt.datetime.now(dt.UTC)
        ts = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        sig = base64.b64encode(hmac.new(self.secret, (ts + "POST" + path + raw).encode(), hashlib.sha256).digest())
        self.conn.request("POST", path, body=raw, headers={
            "OK-ACCESS-KEY": KEY, "OK-ACCESS-SIGN": sig.decode(), "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": PASS, "Content-Type": "application/json"})
        return json.loads(self.conn.getresponse().read())  # type: ignore[no-any-return]


def rest_client(port: int, seconds: float, start_at: float, out: Any) -> None:
    cli = Signed(port)
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    n = bad = 0
    while time.time() < end:
        r = cli.post("/api/v5/trade/order", {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "post_only",
                                             "sz": "0.01", "px": FAR_PX})
        oid = r["data"][0]["ordId"] if r.get("code") == "0" else ""
        c = cli.post("/api/v5/trade/cancel-order", {"instId": BTC, "ordId": oid}) if oid else {}
        if not oid or c.get("code") != "0":
            bad += 1
        n += 1
    out.put((n, bad))


def cpu_s(pid: int) -> float:
    """user + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_rest(port: int, clients: int, seconds: float, sim_pid: int) -> dict[str, Any]:
    q: Any = mp.get_context("fork").Queue()
    start_at = time.time() + 0.5
    procs = [mp.get_context("fork").Process(target=rest_client, args=(port, seconds, start_at, q)) for _ in range(clients)]
    for p in procs:
        p.start()
    while time.time() < start_at:
        time.sleep(0.001)
    cpu0 = cpu_s(sim_pid)
    res = [q.get(timeout=seconds + 60) for _ in procs]
    sim_cpu = cpu_s(sim_pid) - cpu0
    for p in procs:
        p.join(10)
    n, bad = sum(r[0] for r in res), sum(r[1] for r in res)
    per_order_us = sim_cpu / n * 1e6 if n else 0.0
    return {"clients": clients, "orders": n, "errors": bad, "seconds": seconds,
            "orders_per_s": round(n / seconds), "requests_per_s": round(2 * n / seconds),
            "sim_cpu_s": round(sim_cpu, 3), "sim_cpu_us_per_order": round(per_order_us, 1),
            "sim_capacity_orders_per_cpu_s": round(1e6 / per_order_us) if per_order_us else 0, "loadavg": loadavg()}


# -- in-process engine ---------------------------------------------------------------------------
def bench_engine(seconds: float, resting: int, subscriber: bool) -> dict[str, Any]:
    from athena.sim.exchange import Exchange

    ex = Exchange()
    sink: list[Any] = []
    if subscriber:  # what the WS hub does per push: keep the payload (serialising is the hub's cost)
        ex.add_listener(lambda ch, arg, data: sink.append(data))
        ex.set_wants(lambda ch, inst: ch == "orders")
    for i in range(resting):
        ex.place_order({"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "post_only", "sz": "0.01",
                        "px": str(Decimal("40000") + i)})
    body = {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "post_only", "sz": "0.01", "px": FAR_PX}
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while True:
        for _ in range(200):
            r = ex.place_order(body)
            c = ex.cancel_order({"instId": BTC, "ordId": r["ordId"]})
            assert c["sCode"] == "0"
        n += 200
        sink.clear()
        if time.perf_counter() >= end:
            break
    dt_s = time.perf_counter() - t0
    return {"resting_orders": resting, "orders_subscriber": subscriber, "orders": n,
            "orders_per_s": round(n / dt_s), "loadavg": loadavg()}


# -- WebSocket pushes ----------------------------------------------------------------------------
def _login(ws: Any) -> None:
    ts = str(int(time.time()))
    sig = base64.b64encode(hmac.new(SECRET.encode(), (ts + "GET/users/self/verify").encode(), hashlib.sha256).digest())
    ws.send(json.dumps({"op": "login", "args": [{"apiKey": KEY, "passphrase": PASS, "timestamp": ts,
                                                   "sign": sig.decode()}]}))
    assert json.loads(ws.recv())["code"] == "0"


def _reader(url: str, sub: dict[str, Any], login: bool, match: str, ready: Any, stop: Any, count: Any) -> None:
    """Runs in its own process: subscribe, then count matching data frames until told to stop."""
    import websocket

    ws = websocket.create_connection(url, timeout=30, skip_utf8_validation=True)
    if login:
        _login(ws)
    ws.send(json.dumps({"op": "subscribe", "args": [sub]}))
    ws.settimeout(0.2)
    ready.set()
    needle = match.encode()
    n = 0
    while not stop.is_set():
        try:
            _, data = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            count.value = n
            continue
        if needle in data:
            n += 1
            if not n % 256:
                count.value = n
    count.value = n
    ws.close()


class Readers:
    """websocket-client readers, one process each (so the bench's producer never shares their GIL)."""

    def __init__(self, n: int, url: str, sub: dict[str, Any], login: bool, match: str) -> None:
        ctx = mp.get_context("fork")
        self.stop = ctx.Event()
        self.counts = [ctx.Value("q", 0) for _ in range(n)]
        self.procs = []
        for c in self.counts:
            ready = ctx.Event()
            p = ctx.Process(target=_reader, args=(url, sub, login, match, ready, self.stop, c), daemon=True)
            p.start()
            if not ready.wait(20):
                raise RuntimeError("reader did not start")
            self.procs.append(p)
        time.sleep(0.3)  # subscribe acks and snapshots are in

    def total(self) -> int:
        return sum(int(c.value) for c in self.counts)

    def settle(self, expect: int | None = None, timeout: float = 30.0) -> int:
        """Wait until `expect` frames arrived (or, without one, until the count stops growing)."""
        end = time.monotonic() + timeout
        last = -1
        while time.monotonic() < end:
            cur = self.total()
            if (expect is not None and cur >= expect) or (expect is None and cur == last):
                break
            last = cur
            time.sleep(0.01 if expect is not None else 0.3)
        return self.total()

    def close(self) -> None:
        self.stop.set()
        for p in self.procs:
            p.join(5)


def bench_private_pushes(port: int, seconds: float) -> dict[str, Any]:
    """orders pushes to one reader, driven by WS batch-orders / batch-cancel-orders from another connection.

    The producer pipelines pre-encoded frames (cancel by clOrdId, so it never waits for a reply) and drains
    the op replies on a thread: what is measured is the sim's delivery, not the producer's JSON work.
    """
    import websocket

    url = f"ws://127.0.0.1:{port}/ws/v5/private"
    rd = Readers(1, url, {"channel": "orders", "instType": "SWAP"}, True, '"channel":"orders"')
    w = websocket.create_connection(url, timeout=60, skip_utf8_validation=True)
    _login(w)
    cls = [f"bp{i}" for i in range(20)]
    place = json.dumps({"id": "1", "op": "batch-orders", "args": [
        {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "post_only", "sz": "0.01", "px": FAR_PX,
         "clOrdId": c} for c in cls]})
    cancel = json.dumps({"id": "2", "op": "batch-cancel-orders", "args": [{"instId": BTC, "clOrdId": c} for c in cls]})
    replies = {"ok": 0, "bad": 0}
    stop = [False]

    def drain() -> None:
        while not stop[0] or replies["ok"] + replies["bad"] < sent[0]:
            try:
                r = w.recv()
            except websocket.WebSocketTimeoutException:
                continue
            replies["ok" if '"code":"0"' in r else "bad"] += 1

    sent = [0]
    th = threading.Thread(target=drain, daemon=True)
    th.start()
    c0 = rd.total()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(10):
            w.send(place)
            w.send(cancel)
        sent[0] += 20
        while sent[0] - (replies["ok"] + replies["bad"]) > 200:  # bounded pipeline
            time.sleep(0.0005)
    stop[0] = True
    th.join(60)
    orders = 20 * sent[0] // 2
    got = rd.settle(c0 + 2 * orders) - c0
    dt_s = time.perf_counter() - t0
    w.close()
    rd.close()
    return {"orders": orders, "pushes": got, "expected": 2 * orders, "op_errors": replies["bad"],
            "seconds": round(dt_s, 3), "pushes_per_s": round(got / dt_s), "loadavg": loadavg()}


def bench_public_pushes(port: int, seconds: float, readers: int) -> dict[str, Any]:
    """tickers pushes (BTC-USDT-SWAP) to `readers` connections while the market steps via /sim/step."""
    url = f"ws://127.0.0.1:{port}/ws/v5/public"
    rd = Readers(readers, url, {"channel": "tickers", "instId": BTC}, False, '"channel":"tickers"')
    c0 = rd.total()
    steps0 = admin(port, "step", {"n": 1})["steps"]
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        steps = admin(port, "step", {"n": 1000})["steps"]
    got = rd.settle() - c0  # a step pushes 1 or 2 tickers (book change, then any trades): count what arrives
    dt_s = time.perf_counter() - t0 - 0.3  # settle() idles 0.3 s once the count stops growing
    rd.close()
    return {"readers": readers, "steps": steps - steps0, "pushes": got, "seconds": round(dt_s, 3),
            "pushes_per_s": round(got / dt_s), "loadavg": loadavg()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--readers", type=int, default=4)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    print_header("bench_sim")
    doc: dict[str, Any] = {"seconds": a.seconds, "engine": [], "rest": [], "targets": {"orders_per_s": 2000,
                                                                                        "pushes_per_s": 50000}}
    for resting, sub in ((0, False), (0, True), (200, True)):
        r = bench_engine(a.seconds, resting, sub)
        doc["engine"].append(r)
        print(f"engine place+cancel  resting={resting:<4} orders-subscriber={sub!s:<5}  "
              f"{r['orders_per_s']:>9,} orders/s   load {r['loadavg']}", flush=True)
    port = free_port()
    proc = start_sim(port)
    try:
        for clients in sorted({1, a.clients}):
            r = bench_rest(port, clients, a.seconds, proc.pid)
            doc["rest"].append(r)
            print(f"REST place+cancel    clients={clients}  {r['orders_per_s']:>9,} orders/s "
                  f"({r['requests_per_s']:,} signed requests/s, errors {r['errors']}); sim CPU "
                  f"{r['sim_cpu_us_per_order']} us/order = {r['sim_capacity_orders_per_cpu_s']:,} orders per sim-CPU-s"
                  f"   load {r['loadavg']}", flush=True)
        r = bench_private_pushes(port, a.seconds)
        doc["private_pushes"] = r
        print(f"WS orders pushes     1 reader   {r['pushes_per_s']:>9,} pushes/s "
              f"({r['pushes']:,}/{r['expected']:,} delivered)   load {r['loadavg']}", flush=True)
        doc["public_pushes"] = []
        for readers in sorted({1, a.readers}):
            r = bench_public_pushes(port, a.seconds, readers)
            doc["public_pushes"].append(r)
            print(f"WS tickers pushes    {readers} reader{'s' if readers > 1 else ' '}  {r['pushes_per_s']:>9,} pushes/s "
                  f"({r['steps']:,} market steps)   load {r['loadavg']}", flush=True)
    finally:
        stop_sim(proc)
    write_json("sim", doc, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
