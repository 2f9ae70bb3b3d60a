"""The WebSocket gateways against the real simulator: drops, stalls, seq gaps, lost private pushes.

"Exactly once" is checked on the server side: /sim/stats lists every open connection with its logins
and the number of subscribe requests per channel it received (duplicates included).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from athena.domain import BookTop, OrderRequest, OrderState, OrderUpdate, OrdType, Side, Ticker
from athena.okx.private_ws import OkxPrivateWsGateway
from athena.okx.public_ws import OkxPublicWsGateway
from athena.okx.rest import OkxRestGateway
from athena.okx.signing import Credentials
from athena.okx.types import PrivateResync
from athena.okx.ws import WsConnection
from tests.okx.helpers import FAST_WS, SIM_CREDS, Sim
from tests.waiting import wait_until

INST = "BTC-USDT-SWAP"
PUB_KEYS = {"channel=books5|instId=BTC-USDT-SWAP", "channel=tickers|instId=BTC-USDT-SWAP"}
PRIV_KEYS = {"channel=orders|instType=SWAP", "channel=positions|instType=SWAP", "channel=account"}
BIZ_KEYS = {"channel=orders-algo|instType=SWAP"}
# short watchdog for the stall tests; elsewhere a roomier one so a busy machine never trips it
CALM_WS = {**FAST_WS, "stall_timeout_s": 3.0}


def conns(idle_sim: Sim, kind: str) -> list[dict[str, Any]]:
    return [c for c in idle_sim.admin("stats")["conns"] if c["kind"] == kind]


def exactly_once(idle_sim: Sim, kind: str, keys: set[str], logins: int) -> bool:
    """One open connection of `kind`, logged in `logins` times, each channel requested exactly once."""
    cs = conns(idle_sim, kind)
    return len(cs) == 1 and cs[0]["sub_requests"] == dict.fromkeys(keys, 1) and cs[0]["logins"] == logins


@pytest.fixture()
def events() -> list[Any]:
    return []


@pytest.fixture()
def idle_sim(clean_sim: Sim) -> Iterator[Sim]:
    assert wait_until(
        lambda: clean_sim.admin("stats")["conns"] == [], 30
    )  # nothing left from an earlier test
    yield clean_sim
    clean_sim.admin("market", {"running": True})


def public(
    idle_sim: Sim, events: list[Any], channels: tuple[str, ...] = ("tickers", "books5"), **kw: Any
) -> OkxPublicWsGateway:
    gw = OkxPublicWsGateway(idle_sim.ws_url("public"), [INST], channels, events.append, **{**CALM_WS, **kw})
    gw.start()
    return gw


def private(idle_sim: Sim, events: list[Any], **kw: Any) -> OkxPrivateWsGateway:
    gw = OkxPrivateWsGateway(
        idle_sim.ws_url("private"),
        on_event=events.append,
        credentials=Credentials(*SIM_CREDS),
        business_url=idle_sim.ws_url("business"),
        **{**CALM_WS, **kw},
    )
    gw.start()
    return gw


def n_ticks(events: list[Any]) -> int:
    return sum(1 for e in events if isinstance(e, (Ticker, BookTop)))


def test_public_drop_reconnects_and_resubscribes_once(idle_sim: Sim, events: list[Any]) -> None:
    gw = public(idle_sim, events)
    try:
        assert wait_until(lambda: n_ticks(events) >= 5 and exactly_once(idle_sim, "public", PUB_KEYS, 0))
        for n in (1, 2):
            assert idle_sim.admin("ws/drop", {})["dropped"] == 1
            assert wait_until(
                lambda n=n: gw.stats.reconnects >= n and exactly_once(idle_sim, "public", PUB_KEYS, 0)
            )
            before = n_ticks(events)
            assert wait_until(lambda before=before: n_ticks(events) >= before + 5)  # data flows again
        assert gw.stats.subscribes_sent == 2 * (gw.stats.connects)  # 2 channels per connection, never more
        assert gw.running and gw.stats.malformed == {}
    finally:
        gw.stop()


def test_public_feed_stall_reconnects_and_resubscribes_once(idle_sim: Sim, events: list[Any]) -> None:
    gw = public(idle_sim, events, stall_timeout_s=0.8)
    try:
        assert wait_until(lambda: n_ticks(events) >= 5 and exactly_once(idle_sim, "public", PUB_KEYS, 0))
        idle_sim.faults(stall_s=60)  # market data held back (until lifted below); pongs and acks still flow
        assert wait_until(lambda: gw.stats.stalls >= 1 and gw.stats.reconnects >= 1, 30)
        assert gw.stats.pongs >= 1  # the socket was alive: the data watchdog caught the silent feed
        idle_sim.faults(stall_s=0)
        assert wait_until(lambda: exactly_once(idle_sim, "public", PUB_KEYS, 0), 30)
        before = n_ticks(events)
        assert wait_until(lambda: n_ticks(events) >= before + 5, 30)
    finally:
        gw.stop()


def test_private_drop_relogs_in_and_resubscribes_once(idle_sim: Sim, events: list[Any]) -> None:
    gw = private(idle_sim, events)
    try:
        assert wait_until(
            lambda: (
                gw.ready
                and exactly_once(idle_sim, "private", PRIV_KEYS, 1)
                and exactly_once(idle_sim, "business", BIZ_KEYS, 1)
            )
        )
        idle_sim.admin("ws/drop", {})
        assert wait_until(
            lambda: gw.private.logins == 2 and gw.business is not None and gw.business.logins == 2
        )
        assert wait_until(
            lambda: (
                gw.ready
                and exactly_once(idle_sim, "private", PRIV_KEYS, 1)
                and exactly_once(idle_sim, "business", BIZ_KEYS, 1)
            )
        )
        assert wait_until(lambda: sum(isinstance(e, PrivateResync) and e.reconnected for e in events) == 2)
    finally:
        gw.stop()


def test_private_black_hole_stall_relogs_in(idle_sim: Sim, events: list[Any]) -> None:
    gw = private(idle_sim, events, stall_timeout_s=0.8)
    try:
        assert wait_until(lambda: gw.ready and exactly_once(idle_sim, "private", PRIV_KEYS, 1))
        idle_sim.faults(stall_s=60, stall_all=True)  # nothing at all comes back, not even pong (until lifted)
        assert wait_until(lambda: gw.private.stats.stalls >= 1, 30)
        idle_sim.faults(stall_s=0)
        assert wait_until(lambda: gw.private.logins >= 2, 30)
        assert wait_until(
            lambda: (
                gw.ready
                and exactly_once(idle_sim, "private", PRIV_KEYS, 1)
                and exactly_once(idle_sim, "business", BIZ_KEYS, 1)
            )
        )
    finally:
        gw.stop()


def test_default_watchdog_is_okx_30s_with_one_real_stall(idle_sim: Sim, events: list[Any]) -> None:
    """The suite's one real 30 s stall: default settings on both gateways, a black-holed connection."""
    pub = OkxPublicWsGateway(idle_sim.ws_url("public"), [INST], ("tickers", "books5"), events.append)
    priv = OkxPrivateWsGateway(
        idle_sim.ws_url("private"), on_event=events.append, credentials=Credentials(*SIM_CREDS)
    )
    assert pub.stall_timeout_s == 30.0 and priv.private.stall_timeout_s == 30.0
    assert WsConnection("ws://x").stall_timeout_s == 30.0 and pub.ping_interval_s < 30
    assert (pub.backoff_initial_s, pub.backoff_max_s) == (1.0, 60.0)
    pub.start()
    priv.start()
    try:
        assert wait_until(
            lambda: (
                priv.ready
                and n_ticks(events) >= 3
                and exactly_once(idle_sim, "public", PUB_KEYS, 0)
                and exactly_once(idle_sim, "private", PRIV_KEYS, 1)
            ),
            10,
        )
        t0 = time.monotonic()
        idle_sim.faults(stall_s=31, stall_all=True)
        assert wait_until(lambda: pub.stats.stalls == 1 and priv.private.stats.stalls == 1, 40, 0.05)
        waited = time.monotonic() - t0
        assert 29.0 <= waited <= 33.0, waited  # not earlier than OKX's 30 s (1 s poll granularity)
        assert wait_until(
            lambda: (
                priv.private.logins == 2
                and priv.ready
                and exactly_once(idle_sim, "public", PUB_KEYS, 0)
                and exactly_once(idle_sim, "private", PRIV_KEYS, 1)
            ),
            10,
        )
        before = n_ticks(events)
        assert wait_until(lambda: n_ticks(events) > before, 30)
        assert pub.stats.reconnects == 1 and priv.private.stats.reconnects == 1
    finally:
        pub.stop()
        priv.stop()


def test_books_seq_gap_resyncs_from_a_new_snapshot(idle_sim: Sim, events: list[Any]) -> None:
    gw = public(idle_sim, events, channels=("books",))
    key = "channel=books|instId=BTC-USDT-SWAP"
    try:
        assert wait_until(lambda: gw.books[INST].valid and len(events) >= 5)
        idle_sim.faults(books_gap=1)  # one update is lost on the way
        assert wait_until(lambda: gw.resyncs == 1 and gw.books[INST].valid, 30)
        n = len(events)
        assert wait_until(lambda: len(events) >= n + 5)
        (c,) = conns(idle_sim, "public")
        if gw.stats.reconnects == 0:  # unsubscribe + subscribe on the same connection, nothing duplicated
            assert c["sub_requests"] == {key: 2} and c["subs"] == [key]
        # the rebuilt book matches the exchange once the market stops
        idle_sim.admin("market", {"running": False})
        truth = idle_sim.admin("state")["markets"][INST]
        assert wait_until(lambda: gw.books[INST].seqId == truth["seqId"], 30)
        top = gw.books[INST].top()
        assert top.best_bid.px == Decimal(truth["bid"]) and top.best_ask.px == Decimal(truth["ask"])
        assert gw.resyncs == 1 and gw.stats.malformed == {}
    finally:
        gw.stop()


def test_error_event_is_counted_and_the_thread_survives(idle_sim: Sim, events: list[Any]) -> None:
    gw = OkxPublicWsGateway(
        idle_sim.ws_url("public"), [INST, "NOPE-USDT-SWAP"], ("tickers",), events.append, **CALM_WS
    )
    gw.start()
    try:
        assert wait_until(lambda: gw.stats.errors["60018"] == 1 and n_ticks(events) >= 3)
        assert gw.running and all(e.instId == INST for e in events)
    finally:
        gw.stop()


def test_lost_private_push_is_recovered_by_rest_resync_after_relogin(
    idle_sim: Sim, events: list[Any]
) -> None:
    """Pushes sent while the connection is down are lost; PrivateResync after the re-login tells the
    consumer to reconcile by REST, which finds the order's real state."""
    gw = private(idle_sim, events)
    rest = OkxRestGateway(base_url=idle_sim.url, credentials=SIM_CREDS, timeout_s=3.0)
    try:
        assert wait_until(lambda: gw.ready and any(isinstance(e, PrivateResync) for e in events))
        bid = rest.ticker(INST).bidPx
        assert bid is not None
        req = OrderRequest(
            f"lost{int(time.time() * 1000) % 10**9}",
            INST,
            Side.BUY,
            OrdType.LIMIT,
            Decimal("0.01"),
            (bid * Decimal("0.8")).quantize(Decimal("0.1")),
        )

        def ws_states() -> list[OrderState]:
            return [e.state for e in events if isinstance(e, OrderUpdate) and e.clOrdId == req.clOrdId]

        rest.place_order(req)
        assert wait_until(lambda: OrderState.LIVE in ws_states())
        idle_sim.faults(stall_s=10)  # the cancel's push is held on this connection ...
        rest.cancel_order(INST, clOrdId=req.clOrdId)
        assert rest.get_order(INST, clOrdId=req.clOrdId).state is OrderState.CANCELED  # type: ignore[union-attr]
        idle_sim.admin("ws/drop", {})  # ... and lost with it
        idle_sim.admin("faults/clear", {})
        assert wait_until(
            lambda: any(
                isinstance(e, PrivateResync) and e.connection == "okx-private" and e.reconnected
                for e in events
            )
        )
        assert OrderState.CANCELED not in ws_states()  # no push will ever bring it
        # the consumer's resync: every order it believes working, by clOrdId
        working = {u.clOrdId for u in events if isinstance(u, OrderUpdate) and u.state is OrderState.LIVE}
        assert req.clOrdId in working
        found = {c: rest.get_order(INST, clOrdId=c) for c in working}
        assert found[req.clOrdId] is not None and found[req.clOrdId].state is OrderState.CANCELED  # type: ignore[union-attr]
        resync = next(
            e for e in reversed(events) if isinstance(e, PrivateResync) and e.connection == "okx-private"
        )
        assert (
            resync.gap_ms is not None
            and resync.logins == 2
            and set(resync.channels) == {"orders", "positions", "account"}
        )
    finally:
        gw.stop()
        rest.close()


def test_backoff_schedule_1s_to_60s_with_jitter() -> None:
    conn = WsConnection("ws://127.0.0.1:1/ws/v5/public")
    for attempt, base in enumerate([1, 2, 4, 8, 16, 32, 60, 60, 60, 60]):
        delays = [conn.backoff_delay(attempt) for _ in range(200)]
        assert all(0.8 * base <= d <= base for d in delays), (attempt, min(delays), max(delays))
        assert max(delays) - min(delays) > 0.05 * base  # jitter: not everyone reconnects in step
    assert conn.backoff_delay(10_000) <= 60.0
    with pytest.raises(ValueError):
        WsConnection("ws://x", ping_interval_s=30, stall_timeout_s=30)  # ping must come before the watchdog


def test_service_upgrade_notice_reconnects_at_once_both_gateways(idle_sim: Sim, events: list[Any]) -> None:
    # A long backoff: a reconnect that waited for it (abort + backoff) would miss the deadline below.
    slow = {"backoff_initial_s": 30.0, "backoff_max_s": 60.0}
    pub = public(idle_sim, events, **slow)
    priv = private(idle_sim, events, **slow)
    try:
        assert wait_until(lambda: n_ticks(events) >= 1 and exactly_once(idle_sim, "public", PUB_KEYS, 0))
        assert wait_until(lambda: priv.ready and exactly_once(idle_sim, "private", PRIV_KEYS, 1))
        assert idle_sim.admin("ws/notice", {})["noticed"] == 3  # public, private, business
        assert wait_until(
            lambda: (
                pub.stats.reconnects == 1
                and priv.private.logins == 2
                and priv.business is not None
                and priv.business.logins == 2
            ),
            10,
        )
        assert (pub.stats.notices, priv.private.stats.notices) == (1, 1)
        assert wait_until(
            lambda: (
                exactly_once(idle_sim, "public", PUB_KEYS, 0)
                and exactly_once(idle_sim, "private", PRIV_KEYS, 1)
            ),
            10,
        )
        assert wait_until(
            lambda: sum(isinstance(e, PrivateResync) and e.reconnected for e in events) == 2, 10
        )
    finally:
        pub.stop()
        priv.stop()
