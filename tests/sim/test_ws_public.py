"""Public WS over a real socket (websocket-client): every channel, acks, errors, ping, idle close."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from decimal import Decimal

import websocket

from athena.sim.book import L2Book, checksum
from athena.sim.server import SimServer
from tests.sim.helpers import BTC, Ws, channel


def test_subscribe_acks_once_per_arg_with_conn_id(sim: SimServer, ws_factory: Callable[[str], Ws]) -> None:
    w = ws_factory(sim.ws_url("public"))
    args = [{"channel": "tickers", "instId": BTC}, {"channel": "trades", "instId": BTC}]
    w.send({"id": "7", "op": "subscribe", "args": args})
    acks = [w.wait(lambda m, a=a: m.get("event") == "subscribe" and m["arg"] == a) for a in args]
    assert all(a["id"] == "7" and len(a["connId"]) == 8 for a in acks)
    w.send({"op": "unsubscribe", "args": [args[1]]})
    assert w.wait(lambda m: m.get("event") == "unsubscribe")["arg"] == args[1]


def test_tickers_books5_bbo_trades_push(sim: SimServer, ws_factory: Callable[[str], Ws]) -> None:
    w = ws_factory(sim.ws_url("public"))
    chans = ["tickers", "books5", "bbo-tbt", "trades", "mark-price"]
    w.send({"op": "subscribe", "args": [{"channel": c, "instId": BTC} for c in chans]})
    t = w.wait(channel("tickers"))["data"][0]
    assert t["instId"] == BTC and Decimal(t["askPx"]) > Decimal(t["bidPx"])
    for _ in range(3):
        sim.call(sim.market.step)
    b5 = w.wait(channel("books5"))
    d = b5["data"][0]
    assert len(d["asks"]) == 5 and len(d["bids"]) == 5 and d["instId"] == BTC and "action" not in b5
    bbo = w.wait(channel("bbo-tbt"))["data"][0]
    assert len(bbo["asks"]) == 1 and len(bbo["bids"]) == 1 and "seqId" in bbo
    sim.call(sim.exchange.set_price, BTC, Decimal("99000"))
    tr = w.wait(lambda m: channel("trades")(m) and m["data"][0]["px"] == "99000.0")["data"][0]
    assert tr["side"] in ("buy", "sell") and tr["tradeId"].isdigit() and tr["sz"]
    assert w.wait(channel("mark-price"))["data"][0]["markPx"]


def test_books_snapshot_then_chained_updates_with_checksum(
    sim: SimServer, ws_factory: Callable[[str], Ws]
) -> None:
    w = ws_factory(sim.ws_url("public"))
    w.send({"op": "subscribe", "args": [{"channel": "books", "instId": BTC}]})
    snap = w.wait(channel("books"))
    assert snap["action"] == "snapshot" and snap["data"][0]["prevSeqId"] == -1
    book = L2Book()
    book.apply(snap["data"][0], True)
    last = snap["data"][0]["seqId"]
    for _ in range(20):
        sim.call(sim.market.step)
    target = sim.call(lambda: sim.exchange.markets[BTC].seq)
    n = 0
    end = time.monotonic() + 5
    while last != target and time.monotonic() < end:
        m = w.wait(channel("books"))
        d = m["data"][0]
        assert m["action"] == "update" and d["prevSeqId"] == last
        last = d["seqId"]
        book.apply(d, False)
        bids = [[str(p), str(book.bids[p])] for p in sorted(book.bids, reverse=True)]
        asks = [[str(p), str(book.asks[p])] for p in sorted(book.asks)]
        assert d["checksum"] == checksum(bids, asks)
        n += 1
    assert n >= 10
    truth = sim.call(sim.exchange.books_json, BTC, 400)
    assert [Decimal(x[0]) for x in truth["bids"]] == sorted(book.bids, reverse=True)


def test_checksum_matches_okx_examples() -> None:
    assert checksum([["3366.1", "7"], ["3366", "6"]], [["3366.8", "9"], ["3368", "8"]]) == -1881014294
    assert checksum([["3366.1", "7"]], [["3366.8", "9"], ["3368", "8"], ["3372", "8"]]) == 831078360
    assert zlib.crc32(b"x") > 0


def test_ping_pong_and_errors(sim: SimServer, ws_factory: Callable[[str], Ws]) -> None:
    w = ws_factory(sim.ws_url("public"))
    w.send("ping")
    assert w.wait(lambda m: m == "pong") == "pong"
    w.send({"op": "subscribe", "args": [{"channel": "tickers", "instId": "NOPE-SWAP"}]})
    assert w.wait(lambda m: m.get("event") == "error")["code"] == "60018"
    w.send({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]})
    assert w.wait(lambda m: m.get("event") == "error")["code"] == "60018"
    w.send("{not json")
    assert w.wait(lambda m: m.get("event") == "error")["code"] == "60012"
    w.send({"op": "fly", "args": []})
    assert w.wait(lambda m: m.get("event") == "error")["code"] == "60019"


def test_idle_connection_closed_4004() -> None:
    idle_s = 2.0
    srv = SimServer(tick_interval_ms=0, idle_timeout_s=idle_s).start()
    try:
        t0 = time.monotonic()
        ws = websocket.create_connection(srv.ws_url("public") + "?brokerId=9999", timeout=60)
        ws2 = websocket.create_connection(srv.ws_url("public"), timeout=60)
        ws.settimeout(0.05)
        closed: tuple[int, bytes] | None = None
        while closed is None:  # pings (~every 0.05 s, 40 per idle period) keep ws2 alive meanwhile
            ws2.send("ping")
            assert ws2.recv() == "pong"
            try:
                closed = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                assert time.monotonic() - t0 < 60, "the quiet connection was never closed"
        op, data = closed
        assert op == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 4004
        assert time.monotonic() - t0 >= idle_s  # not before the idle period
        ws2.send("ping")
        assert ws2.recv() == "pong"  # the pinged one is still open
        ws2.close()
    finally:
        srv.stop()
