"""WsConnection and the gateways against a tiny aiohttp WS server (no simulator needed)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from athena.domain import BookTop, OrderState, OrderUpdate, Trade
from athena.okx.errors import OkxAuthError, OkxError
from athena.okx.private_ws import OkxPrivateWsGateway
from athena.okx.public_ws import OkxPublicWsGateway
from athena.okx.signing import Credentials
from athena.okx.types import PrivateResync
from tests.okx.fake_ws import FakeOkxWs
from tests.okx.helpers import FAST_WS
from tests.okx.samples import load
from tests.waiting import wait_until


@pytest.fixture()
def server() -> Iterator[FakeOkxWs]:
    s = FakeOkxWs().start()
    yield s
    s.stop()


@pytest.fixture()
def events() -> list[Any]:
    return []


def public(
    server: FakeOkxWs, events: list[Any], channels: tuple[str, ...] = ("books5", "trades"), **kw: Any
) -> OkxPublicWsGateway:
    # the fake server streams no market data: only the frame (pong) watchdog applies here
    gw = OkxPublicWsGateway(
        server.url(), ["BTC-USDT-SWAP"], channels, events.append, **{**FAST_WS, "data_watchdog": False, **kw}
    )
    gw.start()
    return gw


def test_subscribes_once_and_dispatches(server: FakeOkxWs, events: list[Any]) -> None:
    gw = public(server, events)
    try:
        assert wait_until(lambda: gw.stats.sub_acks == 2)
        (conn,) = server.conns
        assert conn.sub_args() == [
            {"channel": "books5", "instId": "BTC-USDT-SWAP"},
            {"channel": "trades", "instId": "BTC-USDT-SWAP"},
        ]
        books5 = load("okx_docs_examples.json")
        push = next(v for k, v in books5.items() if k.startswith("ws_books5_push"))
        server.push(push)
        server.push(load("nautilus_ws_trades.json"))
        assert wait_until(lambda: len(events) == 2)
        assert isinstance(events[0], BookTop) and events[0].best_bid.px == Decimal("111.05")
        assert isinstance(events[1], Trade) and events[1].px == Decimal("42219.9")
        gw.subscribe([{"channel": "trades", "instId": "BTC-USDT-SWAP"}])  # already there: nothing sent
        fence = {"channel": "tickers", "instId": "BTC-USDT-SWAP"}
        gw.subscribe([fence])  # a new one is sent, after anything the call above might have sent
        assert wait_until(lambda: len(conn.ops("subscribe")) >= 2)
        assert len(conn.ops("subscribe")) == 2 and conn.ops("subscribe")[1]["args"] == [fence]
    finally:
        gw.stop()
    assert not gw.running


def test_idle_ping_and_stall_watchdog(server: FakeOkxWs, events: list[Any]) -> None:
    gw = public(server, events)
    try:
        assert wait_until(lambda: gw.stats.pongs >= 2, timeout=30)
        assert gw.stats.reconnects == 0  # pongs keep the connection alive
        assert "ping" in server.conns[0].received
        server.stalled = True  # silence: no pong, no data
        assert wait_until(lambda: gw.stats.stalls >= 1 and gw.stats.reconnects >= 1, timeout=30)
        server.stalled = False
        assert wait_until(lambda: len(server.open_conns) == 1 and gw.stats.sub_acks >= 4, timeout=30)
        new = server.open_conns[0]
        assert len(new.sub_args()) == 2  # resubscribed exactly once on the new connection
    finally:
        gw.stop()


def test_drop_reconnects_and_resubscribes_without_duplicates(server: FakeOkxWs, events: list[Any]) -> None:
    gw = public(server, events, channels=("tickers",))
    try:
        for n in (1, 2, 3):
            assert wait_until(lambda n=n: gw.stats.sub_acks == n and len(server.open_conns) == 1, timeout=30)
            server.drop()
        assert wait_until(lambda: gw.stats.reconnects == 3 and gw.stats.sub_acks == 4, timeout=30)
        for conn in server.conns:
            assert conn.sub_args() == [{"channel": "tickers", "instId": "BTC-USDT-SWAP"}]
    finally:
        gw.stop()


def test_malformed_frames_are_counted_and_logged_once(
    server: FakeOkxWs, events: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    gw = public(server, events)
    caplog.set_level(logging.WARNING, logger="athena.okx.ws")
    try:
        assert wait_until(lambda: gw.stats.sub_acks == 2)
        for _ in range(3):
            server.push("{not json" + "x" * 500)
        server.push({"arg": {"channel": "trades", "instId": "BTC-USDT-SWAP"}, "data": [{"px": "1"}]})
        server.push({"arg": {"channel": "nope"}, "data": []})
        server.push({"event": "surprise"})
        server.push(load("nautilus_ws_trades.json"))
        assert wait_until(lambda: len(events) == 1)
        m = gw.stats.malformed
        assert m["json"] == 3 and m["trades"] == 1 and m["unknown_channel"] == 1 and m["unexpected"] == 1
        json_logs = [r for r in caplog.records if "malformed json" in r.getMessage()]
        assert len(json_logs) == 1 and len(json_logs[0].getMessage()) < 320  # raw text cut to ~200
        assert gw.running
    finally:
        gw.stop()


def test_failing_callback_does_not_kill_thread(server: FakeOkxWs) -> None:
    seen: list[Any] = []

    def boom(obj: Any) -> None:
        seen.append(obj)
        raise RuntimeError("strategy bug")

    gw = OkxPublicWsGateway(server.url(), ["BTC-USDT-SWAP"], ("trades",), boom, **FAST_WS)
    gw.start()
    try:
        assert wait_until(lambda: gw.stats.sub_acks == 1)
        server.push(load("nautilus_ws_trades.json"))
        server.push(load("nautilus_ws_trades.json"))
        assert wait_until(lambda: len(seen) == 2)
        assert gw.stats.malformed["handler:RuntimeError"] == 2 and gw.running
    finally:
        gw.stop()


def test_backoff_is_not_a_tight_loop() -> None:
    gw = OkxPublicWsGateway(
        "ws://127.0.0.1:1/ws/v5/public",
        ["X"],
        ("trades",),
        None,
        ping_interval_s=0.2,
        stall_timeout_s=1,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    delays = [gw.backoff_delay(a) for a in range(1, 12)]
    assert all(0.05 <= d <= 0.2 for d in delays) and max(delays) > 0.1
    # the waits before attempts 2..5 are at least 0.8 x (0.1, 0.2, 0.2, 0.2) s: five refused attempts
    # cannot come sooner than that after the start, however fast (or slow) the machine is
    least = 0.8 * (0.1 + 0.2 + 0.2 + 0.2)
    t0 = time.monotonic()
    gw.start()
    try:
        assert wait_until(lambda: gw.stats.connect_failures >= 5, timeout=30, interval=0.005)
        assert time.monotonic() - t0 >= least
    finally:
        gw.stop()
    assert not gw.running


def test_books_gap_resubscribes(server: FakeOkxWs, events: list[Any]) -> None:
    gw = public(server, events, channels=("books",))
    arg = {"channel": "books", "instId": "BTC-USDT-SWAP"}

    def lv(px: str, sz: str) -> list[str]:
        return [px, sz, "0", "1"]

    def books(action: str, seq: int, prev: int, bids: list[Any], asks: list[Any]) -> dict[str, Any]:
        return {
            "arg": arg,
            "action": action,
            "data": [{"bids": bids, "asks": asks, "ts": "1", "seqId": seq, "prevSeqId": prev, "checksum": 0}],
        }

    try:
        assert wait_until(lambda: gw.stats.sub_acks == 1)
        conn = server.conns[0]
        server.push(books("snapshot", 10, -1, [lv("100", "1")], [lv("101", "1")]))
        server.push(books("update", 11, 10, [lv("100.5", "2")], []))
        server.push(books("update", 11, 11, [], []))  # keep-alive: no event
        assert wait_until(lambda: len(events) == 2)
        assert events[-1].best_bid.px == Decimal("100.5")
        server.push(books("update", 14, 12, [lv("99", "1")], []))  # gap
        assert wait_until(lambda: len(conn.ops("unsubscribe")) == 1 and len(conn.ops("subscribe")) == 2)
        assert conn.sub_args("unsubscribe") == [arg] and gw.resyncs == 1
        server.push(books("update", 15, 14, [lv("98", "1")], []))  # dropped until the snapshot
        server.push(books("snapshot", 20, -1, [lv("97", "1")], [lv("98", "3")]))
        assert wait_until(lambda: len(events) == 3)
        assert events[-1].best_bid.px == Decimal(97) and events[-1].seqId == 20 and len(events[-1].bids) == 1
    finally:
        gw.stop()


# -- private ------------------------------------------------------------------------------------
CREDS = Credentials("k-abcdef", "s-abcdef", "p-abcdef")


def private(server: FakeOkxWs, events: list[Any], errors: list[OkxError], **kw: Any) -> OkxPrivateWsGateway:
    gw = OkxPrivateWsGateway(
        server.url("private"),
        on_event=events.append,
        credentials=CREDS,
        on_error=errors.append,
        business_url=server.url("business"),
        **{**FAST_WS, **kw},
    )
    gw.start()
    return gw


def test_private_login_subscribe_and_relogin(server: FakeOkxWs, events: list[Any]) -> None:
    errors: list[OkxError] = []
    gw = private(server, events, errors)
    try:
        assert wait_until(lambda: gw.ready and all(c.stats.sub_acks for c in gw.connections))
        priv = next(c for c in server.conns if c.path.endswith("private"))
        biz = next(c for c in server.conns if c.path.endswith("business"))
        assert len(priv.ops("login")) == 1 and priv.received[0].startswith('{"op":"login"')  # login first
        assert [a["channel"] for a in priv.sub_args()] == ["orders", "positions", "account"]
        assert biz.sub_args() == [{"channel": "orders-algo", "instType": "SWAP"}]
        assert wait_until(
            lambda: (
                sorted(e.connection for e in events if isinstance(e, PrivateResync))
                == ["okx-business", "okx-private"]
            )
        )
        assert all(e.gap_ms is None and not e.reconnected for e in events)  # first login: nothing missed yet
        events.clear()
        server.push(load("nautilus_ws_orders.json"), priv)
        server.push(load("nautilus_ws_orders_algo.json"), biz)
        assert wait_until(lambda: len(events) == 6)
        assert isinstance(events[0], OrderUpdate) or isinstance(events[-1], OrderUpdate)
        server.drop()
        assert wait_until(
            lambda: gw.private.logins == 2 and gw.business is not None and gw.business.logins == 2, timeout=30
        )
        assert wait_until(lambda: len(server.open_conns) == 2 and gw.ready)
        assert wait_until(lambda: len([e for e in events if isinstance(e, PrivateResync)]) == 2)
        resyncs = [e for e in events if isinstance(e, PrivateResync)]
        assert all(e.reconnected and e.gap_ms is not None and e.gap_ms >= 0 for e in resyncs)
        for c in server.open_conns:
            assert len(c.ops("login")) == 1 and len(c.ops("subscribe")) == 1
        assert errors == []
    finally:
        gw.stop()
    assert gw.state == "stopped"


def test_an_order_push_in_a_state_athena_does_not_know_still_delivers_its_fill(
    server: FakeOkxWs, events: list[Any]
) -> None:
    errors: list[OkxError] = []
    gw = private(server, events, errors)
    try:
        assert wait_until(lambda: gw.ready and all(c.stats.sub_acks for c in gw.connections))
        priv = next(c for c in server.conns if c.path.endswith("private"))
        msg = load("nautilus_ws_orders.json")
        row = msg["data"][0]
        part = dict(row, state="mmp_paused", accFillSz="0.01", fillSz="0.01", tradeId="1518905528")
        server.push({**msg, "data": [part, dict(row, state="mmp_paused")]}, priv)
        assert wait_until(lambda: len([e for e in events if isinstance(e, OrderUpdate)]) == 2)
        got = [e for e in events if isinstance(e, OrderUpdate)]
        assert [(u.state, u.accFillSz, u.tradeId) for u in got] == [
            (OrderState.PARTIALLY_FILLED, Decimal("0.01"), "1518905528"),
            (OrderState.FILLED, Decimal("0.03"), "1518905529"),
        ]
        assert sum(gw.private.stats.malformed.values()) == 0
    finally:
        gw.stop()


def test_private_login_failure_surfaces_and_halts(
    server: FakeOkxWs, events: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    server.login_ok = False
    errors: list[OkxError] = []
    caplog.set_level(logging.DEBUG)
    gw = private(server, events, errors, max_auth_failures=3)
    try:
        assert wait_until(lambda: gw.state == "auth_failed", timeout=30)
        assert wait_until(
            lambda: not any(c.running for c in gw.connections)
        )  # halted: no thread left to retry
        assert gw.private.auth_failures == 3 and all(c.state == "auth_failed" for c in gw.connections)
        assert all(isinstance(e, OkxAuthError) and e.code == "60009" for e in errors) and len(errors) >= 3
        for c in server.conns:
            assert c.ops("subscribe") == []  # never subscribed without a login
        text = caplog.text + " ".join(map(str, errors)) + repr(gw)
        assert "s-abcdef" not in text and "p-abcdef" not in text
    finally:
        gw.stop()
