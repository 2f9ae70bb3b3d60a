"""Simulator throughput: is athena.sim ever the bottleneck?

    .venv/bin/python -m bench.bench_sim [--seconds 3] [--clients 2] [--readers 4]

Figures (each with the load average it was taken under; this 2-core machine is shared, so every socket
figure also carries the sim process's own CPU per order / per push, read from /proc/<pid>/stat: that
one does not depend on how busy the other core is):
- engine orders/s: place + cancel of a post-only order through the in-process matching engine
  (`Exchange`, no sockets), with an empty book and with 200 resting orders, and with an `orders`
  subscriber (every place and cancel builds its push).
- REST orders/s: place + cancel (two signed HTTP requests per order) over keep-alive connections
  against `athena sim` running in its own process, rate limits off. The client is a raw-socket
  HTTP/1.1 client (http.client's header parsing cost more CPU than the sim's handling and made the
  client the bottleneck). Reported for 1 client and for --clients client processes.
- private pushes/s: `orders` pushes (live + canceled per order) delivered to one reader, produced by
  a second connection sending WS `batch-orders` / `batch-cancel-orders` ops.
- public pushes/s: pushes delivered to reader processes while the synthetic market steps as fast as
  it can (/sim/step). `tickers` BTC to 1 reader (bounded by the market generator: each step moves all
  5 instruments and yields ~2 BTC tickers), then --readers readers each subscribed to tickers,
  bbo-tbt, books5 and trades of every instrument (fan-out). Also the sim CPU per market step with no
  subscriber, so the delivery cost per push can be told apart from the generator's.
Readers are raw-socket frame counters in their own processes (websocket-client for the handshake and
subscribe only; frames are counted by header, never JSON-parsed), so they are not the bottleneck.
Writes var/bench/sim.json. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import base64
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

from athena import procs
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
    code = (
        "import signal,threading;from athena.sim.server import SimServer;"
        f"s=SimServer(port={port},tick_interval_ms=0,rate_limits=False,idle_timeout_s=3600).start();"
        "s.limiter.enabled=False;e=threading.Event();"
        "signal.signal(signal.SIGTERM,lambda *a:e.set());print('ready',flush=True);e.wait();s.stop()"
    )
    proc = procs.popen(
        [PY, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
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
    c.request(
        "POST" if body is not None else "GET",
        f"/sim/{path}",
        body=json.dumps(body) if body is not None else None,
    )
    out = json.loads(c.getresponse().read())
    c.close()
    return out["data"][0]


# -- REST client (signed, keep-alive) ------------------------------------------------------------
class Signed:
    """A minimal signed OKX client on one persistent raw socket: HTTP/1.1 request bytes built by hand and
    the reply read by Content-Length (http.client's email-based header parsing cost more CPU per request
    than the sim spends serving it, so the client, not the sim, set the pace)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.secret = SECRET.encode()
        self.buf = b""

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        raw = json.dumps(body, separators=(",", ":")).encode()
        now = time.time()
        ts = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}Z"
        sig = base64.b64encode(
            hmac.digest(self.secret, ts.encode() + b"POST" + path.encode() + raw, "sha256")
        )
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nOK-ACCESS-KEY: {KEY}\r\nOK-ACCESS-SIGN: "
            f"{sig.decode()}\r\n"
            f"OK-ACCESS-TIMESTAMP: {ts}\r\nOK-ACCESS-PASSPHRASE: {PASS}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + raw)
        return json.loads(self._read())  # type: ignore[no-any-return]

    def _read(self) -> bytes:
        while (i := self.buf.find(b"\r\n\r\n")) < 0:
            self._more()
        head, rest = self.buf[:i], self.buf[i + 4 :]
        j = head.lower().find(b"content-length:")
        if j < 0:
            raise RuntimeError(f"no Content-Length in {head[:200]!r}")
        n = int(head[j + 15 :].split(b"\r\n", 1)[0])
        self.buf = rest
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return body

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("sim closed the connection")
        self.buf += chunk


def rest_client(port: int, seconds: float, start_at: float, out: Any) -> None:
    cli = Signed(port)
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    n = bad = 0
    while time.time() < end:
        r = cli.post(
            "/api/v5/trade/order",
            {
                "instId": BTC,
                "tdMode": "cross",
                "side": "buy",
                "ordType": "post_only",
                "sz": "0.01",
                "px": FAR_PX,
            },
        )
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
    procs = [
        mp.get_context("fork").Process(target=rest_client, args=(port, seconds, start_at, q))
        for _ in range(clients)
    ]
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
    return {
        "clients": clients,
        "orders": n,
        "errors": bad,
        "seconds": seconds,
        "orders_per_s": round(n / seconds),
        "requests_per_s": round(2 * n / seconds),
        "sim_cpu_s": round(sim_cpu, 3),
        "sim_cpu_us_per_order": round(per_order_us, 1),
        "sim_capacity_orders_per_cpu_s": round(1e6 / per_order_us) if per_order_us else 0,
        "loadavg": loadavg(),
    }


# -- in-process engine ---------------------------------------------------------------------------
def bench_engine(seconds: float, resting: int, subscriber: bool) -> dict[str, Any]:
    from athena.sim.exchange import Exchange

    ex = Exchange()
    sink: list[Any] = []
    if subscriber:  # what the WS hub does per push: keep the payload (serialising is the hub's cost)
        ex.add_listener(lambda ch, arg, data: sink.append(data))
        ex.set_wants(lambda ch, inst: ch == "orders")
    for i in range(resting):
        ex.place_order(
            {
                "instId": BTC,
                "tdMode": "cross",
                "side": "buy",
                "ordType": "post_only",
                "sz": "0.01",
                "px": str(Decimal("40000") + i),
            }
        )
    body = {
        "instId": BTC,
        "tdMode": "cross",
        "side": "buy",
        "ordType": "post_only",
        "sz": "0.01",
        "px": FAR_PX,
    }
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
    return {
        "resting_orders": resting,
        "orders_subscriber": subscriber,
        "orders": n,
        "orders_per_s": round(n / dt_s),
        "loadavg": loadavg(),
    }


# -- WebSocket pushes ----------------------------------------------------------------------------
def _login(ws: Any) -> None:
    ts = str(int(time.time()))
    sig = base64.b64encode(
        hmac.new(SECRET.encode(), (ts + "GET/users/self/verify").encode(), hashlib.sha256).digest()
    )
    ws.send(
        json.dumps(
            {
                "op": "login",
                "args": [{"apiKey": KEY, "passphrase": PASS, "timestamp": ts, "sign": sig.decode()}],
            }
        )
    )
    assert json.loads(ws.recv())["code"] == "0"


def _reader(
    url: str,
    subs: list[dict[str, Any]],
    login: bool,
    match: str,
    ready: Any,
    stop: Any,
    count: Any,
    last: Any,
) -> None:
    """Runs in its own process: subscribe, then count data frames (payload contains `match`) until told to
    stop. websocket-client does the handshake, login and subscribe; then frames are cut from the raw socket
    by their headers (server frames are unmasked) and never JSON-parsed, so a reader costs ~1 us per frame."""
    import websocket

    ws = websocket.create_connection(url, timeout=30, skip_utf8_validation=True)
    if login:
        _login(ws)
    ws.send(json.dumps({"op": "subscribe", "args": subs}))
    sock = ws.sock  # websocket-client reads exact frame sizes: nothing past the login reply is buffered
    sock.settimeout(0.2)
    ready.set()
    needle = match.encode()
    buf = bytearray()
    n = 0
    while not stop.is_set():
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            continue
        if not chunk:
            break
        buf += chunk
        pos, end_buf, got = 0, len(buf), n
        while end_buf - pos >= 2:
            ln, hl = buf[pos + 1] & 0x7F, 2
            if ln == 126:
                if end_buf - pos < 4:
                    break
                ln, hl = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif ln == 127:
                if end_buf - pos < 10:
                    break
                ln, hl = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            end = pos + hl + ln
            if end > end_buf:
                break
            if buf.find(needle, pos + hl, end) >= 0:
                n += 1
            pos = end
        del buf[:pos]
        if n != got:
            count.value = n
            last.value = time.time()
    sock.close()


class Readers:
    """Frame-counting readers, one process each (so neither the bench's producer nor another reader shares
    their GIL)."""

    def __init__(self, n: int, url: str, subs: list[dict[str, Any]], login: bool, match: str) -> None:
        ctx = mp.get_context("fork")
        self.stop = ctx.Event()
        self.counts = [ctx.Value("q", 0, lock=False) for _ in range(n)]
        self.lasts = [ctx.Value("d", 0.0, lock=False) for _ in range(n)]
        self.procs = []
        for c, last in zip(self.counts, self.lasts, strict=True):
            ready = ctx.Event()
            p = ctx.Process(
                target=_reader, args=(url, subs, login, match, ready, self.stop, c, last), daemon=True
            )
            p.start()
            if not ready.wait(20):
                raise RuntimeError("reader did not start")
            self.procs.append(p)
        time.sleep(0.3)  # subscribe acks and snapshots are in

    def total(self) -> int:
        return sum(int(c.value) for c in self.counts)

    def last_frame(self) -> float:
        """Wall time the last counted frame arrived (any reader)."""
        return max(float(x.value) for x in self.lasts)

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
            if p.is_alive():
                p.kill()


def _push_figures(
    got: int, t0: float, rd: Readers, sim_pid: int, cpu0: float, cpu_after: float
) -> dict[str, Any]:
    """pushes/s over [t0, last frame] and the sim's CPU per delivered push over the same work."""
    dt_s = max(1e-6, rd.last_frame() - t0)
    sim_cpu = cpu_after - cpu0
    return {
        "pushes": got,
        "seconds": round(dt_s, 3),
        "pushes_per_s": round(got / dt_s),
        "sim_cpu_s": round(sim_cpu, 3),
        "sim_cpu_us_per_push": round(sim_cpu / got * 1e6, 2) if got else 0.0,
        "sim_capacity_pushes_per_cpu_s": round(got / sim_cpu) if sim_cpu > 0 else 0,
        "loadavg": loadavg(),
    }


def bench_private_pushes(port: int, seconds: float, sim_pid: int) -> dict[str, Any]:
    """orders pushes to one reader, driven by WS batch-orders / batch-cancel-orders from another connection.

    The producer pipelines pre-encoded frames (cancel by clOrdId, so it never waits for a reply) and drains
    the op replies on a thread: what is measured is the sim's delivery, not the producer's JSON work. The
    sim CPU per push includes the matching engine's place / cancel work (two pushes per order).
    """
    import websocket

    url = f"ws://127.0.0.1:{port}/ws/v5/private"
    rd = Readers(1, url, [{"channel": "orders", "instType": "SWAP"}], True, '"channel":"orders"')
    w = websocket.create_connection(url, timeout=60, skip_utf8_validation=True)
    _login(w)
    cls = [f"bp{i}" for i in range(20)]
    place = json.dumps(
        {
            "id": "1",
            "op": "batch-orders",
            "args": [
                {
                    "instId": BTC,
                    "tdMode": "cross",
                    "side": "buy",
                    "ordType": "post_only",
                    "sz": "0.01",
                    "px": FAR_PX,
                    "clOrdId": c,
                }
                for c in cls
            ],
        }
    )
    cancel = json.dumps(
        {"id": "2", "op": "batch-cancel-orders", "args": [{"instId": BTC, "clOrdId": c} for c in cls]}
    )
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
    cpu0 = cpu_s(sim_pid)
    t0 = time.time()
    while time.time() - t0 < seconds:
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
    cpu1 = cpu_s(sim_pid)
    w.close()
    rd.close()
    return {
        "orders": orders,
        "expected": 2 * orders,
        "op_errors": replies["bad"],
        **_push_figures(got, t0, rd, sim_pid, cpu0, cpu1),
    }


def bench_market_steps(port: int, seconds: float, sim_pid: int) -> dict[str, Any]:
    """The synthetic generator alone (no subscriber): market steps/s and sim CPU per step."""
    n0 = admin(port, "step", {"n": 1})["steps"]
    cpu0 = cpu_s(sim_pid)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n = admin(port, "step", {"n": 200})["steps"]
    dt_s = time.perf_counter() - t0
    cpu = cpu_s(sim_pid) - cpu0
    return {
        "steps": n - n0,
        "steps_per_s": round((n - n0) / dt_s),
        "sim_cpu_us_per_step": round(cpu / (n - n0) * 1e6, 1),
        "loadavg": loadavg(),
    }


FANOUT_CHANNELS = ("tickers", "bbo-tbt", "books5", "trades")


def bench_public_pushes(
    port: int, seconds: float, readers: int, sim_pid: int, fanout: bool
) -> dict[str, Any]:
    """Public pushes to `readers` connections while the market steps via /sim/step: `tickers` BTC only, or
    (fanout) tickers / bbo-tbt / books5 / trades of every instrument on each connection."""
    url = f"ws://127.0.0.1:{port}/ws/v5/public"
    if fanout:
        subs = [
            {"channel": ch, "instId": i} for i in admin(port, "state")["markets"] for ch in FANOUT_CHANNELS
        ]
    else:
        subs = [{"channel": "tickers", "instId": BTC}]
    rd = Readers(readers, url, subs, False, '"data":')
    steps0 = admin(port, "step", {"n": 1})["steps"]
    rd.settle()
    c0 = rd.total()
    cpu0 = cpu_s(sim_pid)
    t0 = time.time()
    batch = 100 if fanout else 500  # steps per /sim/step call: bounds the frames queued per call
    while time.time() - t0 < seconds:
        steps = admin(port, "step", {"n": batch})["steps"]
    got = rd.settle() - c0  # a step pushes per instrument and channel 1 or more frames: count what arrives
    cpu1 = cpu_s(sim_pid)
    rd.close()
    return {
        "readers": readers,
        "subs_per_reader": len(subs),
        "steps": steps - steps0,
        **_push_figures(got, t0, rd, sim_pid, cpu0, cpu1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--readers", type=int, default=4)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    print_header("bench_sim")
    doc: dict[str, Any] = {
        "seconds": a.seconds,
        "engine": [],
        "rest": [],
        "targets": {"orders_per_s": 2000, "pushes_per_s": 50000},
    }
    for resting, sub in ((0, False), (0, True), (200, True)):
        r = bench_engine(a.seconds, resting, sub)
        doc["engine"].append(r)
        print(
            f"engine place+cancel  resting={resting:<4} orders-subscriber={sub!s:<5}  "
            f"{r['orders_per_s']:>9,} orders/s   load {r['loadavg']}",
            flush=True,
        )
    port = free_port()
    proc = start_sim(port)
    try:
        for clients in sorted({1, a.clients}):
            r = bench_rest(port, clients, a.seconds, proc.pid)
            doc["rest"].append(r)
            print(
                f"REST place+cancel    clients={clients}  {r['orders_per_s']:>9,} orders/s "
                f"({r['requests_per_s']:,} signed requests/s, errors {r['errors']}); sim CPU "
                f"{r['sim_cpu_us_per_order']} us/order = {r['sim_capacity_orders_per_cpu_s']:,} orders "
                "per sim-CPU-s"
                f"   load {r['loadavg']}",
                flush=True,
            )
        r = bench_private_pushes(port, a.seconds, proc.pid)
        doc["private_pushes"] = r
        print(
            f"WS orders pushes     1 reader   {r['pushes_per_s']:>9,} pushes/s "
            f"({r['pushes']:,}/{r['expected']:,} delivered); sim CPU {r['sim_cpu_us_per_push']} "
            "us/push incl. "
            f"matching   load {r['loadavg']}",
            flush=True,
        )
        r = bench_market_steps(port, a.seconds, proc.pid)
        doc["market_steps"] = r
        print(
            f"market generator     no subs    {r['steps_per_s']:>9,} steps/s (5 instruments each); "
            f"sim CPU {r['sim_cpu_us_per_step']} us/step   load {r['loadavg']}",
            flush=True,
        )
        doc["public_pushes"] = []
        for readers, fanout in ((1, False), (a.readers, False), (a.readers, True)):
            r = bench_public_pushes(port, a.seconds, readers, proc.pid, fanout)
            r["fanout"] = fanout
            doc["public_pushes"].append(r)
            what = f"{r['subs_per_reader']} subs each" if fanout else "tickers BTC"
            print(
                f"WS public pushes     {readers} reader{'s' if readers > 1 else ' '} {what:<14} "
                f"{r['pushes_per_s']:>9,} pushes/s ({r['steps']:,} market steps); sim CPU "
                f"{r['sim_cpu_us_per_push']} us/push incl. generator   load {r['loadavg']}",
                flush=True,
            )
    finally:
        stop_sim(proc)
    write_json("sim", doc, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
