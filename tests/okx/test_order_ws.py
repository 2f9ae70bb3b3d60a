"""Order entry over the orders worker's private WebSocket (OkxRestGateway.attach_order_ws), against the
simulator over real HTTP and WebSocket: which transport carried each order, and the same outcomes and
ambiguity rules as REST (a sent frame with no reply is AMBIGUOUS, settled by a query by clOrdId)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest

from athena.domain import OrderRequest, OrderState, OrdType, Side
from athena.okx.errors import OkxAmbiguous, OkxExpired, OkxRejected
from athena.okx.rest import OkxRestGateway
from athena.okx.signing import Credentials
from athena.okx.ws_orders import WsNotSent, WsOrderEntry
from tests.okx.helpers import INST, SIM_CREDS, Sim, cid, limit_req
from tests.waiting import wait_until


class Arrivals:
    """Every order the sim received, by transport: ("rest", clOrdId) or ("ws", clOrdId)."""

    def __init__(self, sim: Sim) -> None:
        self.seen: list[tuple[str, str]] = []
        sim.server.on_request = self._rest
        sim.server.on_ws_message = self._ws

    def _rest(self, path: str, raw: bytes, _ns: int) -> None:
        if path == "/api/v5/trade/order" and raw:  # a GET there (get_order) has no body
            self.seen.append(("rest", str(orjson.loads(raw).get("clOrdId"))))

    def _ws(self, _kind: str, text: str, _ns: int) -> None:
        msg = orjson.loads(text)
        if isinstance(msg, dict) and msg.get("op") == "order":
            self.seen += [("ws", str(a.get("clOrdId"))) for a in msg["args"]]


@pytest.fixture()
def arrivals(clean_sim: Sim) -> Iterator[Arrivals]:
    rec = Arrivals(clean_sim)
    yield rec
    clean_sim.server.on_request = None
    clean_sim.server.on_ws_message = None


def _gateway(sim: Sim, timeout_s: float = 1.0) -> OkxRestGateway:
    gw = OkxRestGateway(base_url=sim.url, credentials=SIM_CREDS, timeout_s=timeout_s)
    gw.attach_order_ws(
        WsOrderEntry(
            sim.ws_url("private"),
            Credentials(*SIM_CREDS),
            clock=gw.clock,
            server_time=gw.server_time,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
        )
    )
    return gw


@pytest.fixture()
def ws_rest(clean_sim: Sim) -> Iterator[OkxRestGateway]:
    gw = _gateway(clean_sim)
    assert gw.order_ws is not None
    assert wait_until(lambda: gw.order_ws is not None and gw.order_ws.ready, 10)
    yield gw
    gw.close()


def _market(prefix: str, sz: str = "0.01") -> OrderRequest:
    return OrderRequest(cid(prefix), INST, Side.BUY, OrdType.MARKET, Decimal(sz))


def test_an_order_goes_over_the_websocket_and_is_acknowledged_like_rest(
    ws_rest: OkxRestGateway, arrivals: Arrivals
) -> None:
    req = limit_req(ws_rest, "wsa")
    ack = ws_rest.place_order(req)
    assert ack.state is OrderState.LIVE and ack.clOrdId == req.clOrdId and ack.ordId
    assert arrivals.seen == [("ws", req.clOrdId)]
    found = ws_rest.get_order(INST, clOrdId=req.clOrdId)
    assert found is not None and found.ordId == ack.ordId and found.px == req.px and found.sz == req.sz
    assert ws_rest.stats["ws_orders"] == 1
    ws_rest.cancel_order(INST, clOrdId=req.clOrdId)


def test_a_refusal_over_the_websocket_is_the_same_typed_rejection(
    ws_rest: OkxRestGateway, clean_sim: Sim, arrivals: Arrivals
) -> None:
    clean_sim.faults(reject_orders=1, reject_code="51008")
    req = _market("wsr")
    with pytest.raises(OkxRejected) as info:
        ws_rest.place_order(req)
    assert info.value.sCode == "51008" and info.value.clOrdId == req.clOrdId
    update = info.value.update
    assert update is not None and update.state is OrderState.REJECTED and update.clOrdId == req.clOrdId
    assert arrivals.seen == [("ws", req.clOrdId)]
    assert ws_rest.get_order(INST, clOrdId=req.clOrdId) is None


def test_without_a_logged_in_websocket_the_order_goes_by_rest(clean_sim: Sim, arrivals: Arrivals) -> None:
    gw = OkxRestGateway(base_url=clean_sim.url, credentials=SIM_CREDS, timeout_s=1.0)
    entry = WsOrderEntry(clean_sim.ws_url("private"), Credentials("bad-key", "bad-secret", "bad-pass"))
    gw.attach_order_ws(entry)  # its login is refused: never ready
    try:
        assert wait_until(lambda: entry.auth_failures >= 1, 10)
        req = limit_req(gw, "wsf")
        assert gw.place_order(req).state is OrderState.LIVE
        assert arrivals.seen == [("rest", req.clOrdId)]
        with pytest.raises(WsNotSent):
            entry.request("order", [req.to_okx()], timeout_s=1.0)
        gw.cancel_order(INST, clOrdId=req.clOrdId)
    finally:
        gw.close()


def test_no_answer_is_ambiguous_and_the_query_by_clordid_settles_it(
    ws_rest: OkxRestGateway, clean_sim: Sim, arrivals: Arrivals
) -> None:
    # the sim places the order and holds every frame to us (acks included) for 3 s: our 1 s passes
    clean_sim.faults(stall_s=3, stall_all=True)
    req = limit_req(ws_rest, "wsn")
    with pytest.raises(OkxAmbiguous) as info:
        ws_rest.place_order(req)
    assert info.value.clOrdId == req.clOrdId and "no answer" in str(info.value)
    assert arrivals.seen == [("ws", req.clOrdId)]  # sent once, never resent by REST
    found = ws_rest.get_order(INST, clOrdId=req.clOrdId)
    assert found is not None and found.state is OrderState.LIVE
    ws_rest.cancel_order(INST, clOrdId=req.clOrdId)


def test_a_connection_lost_before_the_answer_is_ambiguous(
    ws_rest: OkxRestGateway, clean_sim: Sim, arrivals: Arrivals
) -> None:
    entry = ws_rest.order_ws
    assert entry is not None
    clean_sim.faults(stall_s=5, stall_all=True)
    req = _market("wsl")
    threading.Timer(0.3, lambda: clean_sim.faults(ws_down_s=0.5)).start()  # drops the socket mid-wait
    ws_rest.timeout = (ws_rest.timeout[0], 4.0)
    with pytest.raises(OkxAmbiguous) as info:
        ws_rest.place_order(req)
    assert "closed before the answer" in str(info.value) and info.value.clOrdId == req.clOrdId
    assert arrivals.seen == [("ws", req.clOrdId)]
    clean_sim.admin("faults/clear", {})
    found = ws_rest.get_order(INST, clOrdId=req.clOrdId)
    assert found is not None and found.state is OrderState.FILLED
    # the connection comes back and carries the next order
    assert wait_until(lambda: entry.ready, 10)
    again = limit_req(ws_rest, "wsb")
    assert ws_rest.place_order(again).state is OrderState.LIVE
    assert arrivals.seen[-1] == ("ws", again.clOrdId)
    ws_rest.cancel_order(INST, clOrdId=again.clOrdId)


def test_an_expired_request_is_not_executed_and_says_so(
    ws_rest: OkxRestGateway, clean_sim: Sim, arrivals: Arrivals
) -> None:
    ws_rest.clock.offset_ms = -60_000  # our clock a minute behind: expTime already past at the exchange
    req = limit_req(ws_rest, "wse")
    with pytest.raises(OkxExpired) as info:
        ws_rest.place_order(req)
    assert info.value.update is not None and info.value.update.state is OrderState.REJECTED
    assert arrivals.seen == [("ws", req.clOrdId)]
    assert ws_rest.get_order(INST, clOrdId=req.clOrdId) is None  # not executed
    assert abs(ws_rest.clock.offset_ms) < 5_000  # re-measured for the next request


def test_the_same_clordid_twice_is_refused_as_a_duplicate(
    ws_rest: OkxRestGateway, arrivals: Arrivals
) -> None:
    req = limit_req(ws_rest, "wsd")
    ws_rest.place_order(req)
    with pytest.raises(OkxRejected):
        ws_rest.place_order(req)
    assert [u.clOrdId for u in ws_rest.orders_pending(INST)].count(req.clOrdId) == 1
    assert arrivals.seen == [("ws", req.clOrdId), ("ws", req.clOrdId)]
    ws_rest.cancel_order(INST, clOrdId=req.clOrdId)


@pytest.mark.parametrize(
    ("env", "over_ws"),
    [
        ({"OKX_WS_PRIVATE_URL": "private"}, True),
        ({"OKX_WS_PRIVATE_URL": "private", "ATHENA_ORDER_ENTRY": "rest"}, False),
        ({}, False),  # REST's URL set, the WebSocket's derived from the mode: not the same venue for sure
    ],
)
def test_the_orders_worker_places_over_the_websocket_only_on_the_venue_rest_asks(
    clean_sim: Sim, arrivals: Arrivals, redis_url: str, tmp_path: Any, env: dict[str, str], over_ws: bool
) -> None:
    from athena.config import load_settings
    from athena.wiring import orders_rest

    base = {"ATHENA_ENV": "test", "REDIS_URL": redis_url, "OKX_REST_URL": clean_sim.url}
    if "OKX_WS_PRIVATE_URL" in env:
        env = {**env, "OKX_WS_PRIVATE_URL": clean_sim.ws_url("private")}
    gw = orders_rest(load_settings(env="test", environ={**base, **env}, dotenv=False))
    assert isinstance(gw, OkxRestGateway)
    try:
        assert (gw.order_ws is not None) is over_ws
        if over_ws:
            assert wait_until(lambda: gw.order_ws is not None and gw.order_ws.ready, 10)
        req = limit_req(gw, "wsw")
        gw.place_order(req)
        assert arrivals.seen == [("ws" if over_ws else "rest", req.clOrdId)]
        gw.cancel_order(INST, clOrdId=req.clOrdId)
    finally:
        gw.close()
    assert gw.order_ws is None  # closed with the gateway


@pytest.mark.parametrize("executed", [True, False])
def test_an_op_never_answered_is_ambiguous_whether_or_not_it_ran(
    ws_rest: OkxRestGateway, clean_sim: Sim, arrivals: Arrivals, executed: bool
) -> None:
    clean_sim.faults(
        ws_op_timeout={"count": 1, "path": "/api/v5/trade/order"}, ws_op_timeout_execute=executed
    )
    req = limit_req(ws_rest, "wst")
    with pytest.raises(OkxAmbiguous) as info:
        ws_rest.place_order(req)
    assert info.value.clOrdId == req.clOrdId
    assert arrivals.seen == [("ws", req.clOrdId)]
    found = ws_rest.get_order(INST, clOrdId=req.clOrdId)
    assert (found is not None and found.state is OrderState.LIVE) is executed
    assert clean_sim.admin("faults")["fired"]["ws_op_timeout"] >= 1
    if executed:
        ws_rest.cancel_order(INST, clOrdId=req.clOrdId)


@pytest.mark.parametrize(("code", "executed"), [("51149", True), ("51149", False), ("50013", False)])
def test_an_outcome_unknown_code_on_the_websocket_is_ambiguous(
    ws_rest: OkxRestGateway, clean_sim: Sim, arrivals: Arrivals, code: str, executed: bool
) -> None:
    clean_sim.faults(
        ws_op_error={"count": 1, "path": "/api/v5/trade/order"},
        ws_op_error_code=code,
        ws_op_error_execute=executed,
    )
    req = limit_req(ws_rest, "wsc")
    with pytest.raises(OkxAmbiguous) as info:
        ws_rest.place_order(req)
    assert info.value.clOrdId == req.clOrdId and info.value.code == code
    assert arrivals.seen == [("ws", req.clOrdId)]  # never sent again by REST on its own
    found = ws_rest.get_order(INST, clOrdId=req.clOrdId)
    assert (found is not None) is executed
    if executed:
        ws_rest.cancel_order(INST, clOrdId=req.clOrdId)
