"""Fuzzing OkxRestGateway's reply handling: every method against arbitrary HTTP replies (status,
envelope, data items mutated, truncated, wrong-typed, huge, or not JSON at all).

The replies come from a transport adapter mounted on the gateway's own requests.Session, so the real
request building, signing, envelope parsing, error classification and item parsing all run.
Properties: a method returns its domain type or raises an athena.okx.errors.OkxError subclass (never
KeyError/TypeError/...); on a request that creates, changes or cancels orders an unreadable reply is
never a ParseError (the request was sent: the caller must treat it as AMBIGUOUS and query clOrdId);
an accepted placement is attributed to the order that was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from requests.adapters import BaseAdapter

from athena.domain import AlgoOrder, AlgoState, OrderRequest, OrdType, PosSide, Side, TdMode
from athena.okx.errors import OkxError, ParseError
from athena.okx.ratelimit import RateLimiter
from athena.okx.rest import OkxRestGateway
from tests.fuzz import samples as S
from tests.fuzz._fuzz import FUZZ, mutated, tried

REQ = OrderRequest(
    instId=S.INST,
    side=Side.BUY,
    ordType=OrdType.LIMIT,
    sz=Decimal("0.05"),
    px=Decimal("103700"),
    tdMode=TdMode.ISOLATED,
    posSide=PosSide.LONG,
    clOrdId="s1BTCUSDT7",
)
REQ2 = OrderRequest(
    instId=S.INST,
    side=Side.SELL,
    ordType=OrdType.MARKET,
    sz=Decimal("0.05"),
    tdMode=TdMode.ISOLATED,
    posSide=PosSide.LONG,
    reduceOnly=True,
    clOrdId="s1BTCUSDT8",
)
ALGO = AlgoOrder(
    algoClOrdId="sls1BTCUSDT7",
    instId=S.INST,
    side=Side.SELL,
    sz=Decimal("0.05"),
    slTriggerPx=Decimal("95000"),
    state=AlgoState.LIVE,
    posSide=PosSide.LONG,
    tdMode=TdMode.ISOLATED,
    reduceOnly=True,
)
ALGO_ACK = {
    "algoId": "706620792746729472",
    "algoClOrdId": "sls1BTCUSDT7",
    "sCode": "0",
    "sMsg": "",
    "ts": "1695190491421",
}

# method name -> (call, valid data items, is a trade request)
CALLS: dict[str, tuple[Callable[[OkxRestGateway], Any], list[Any], bool]] = {
    "place_order": (lambda g: g.place_order(REQ), [S.ORDER_ACK], True),
    "place_batch": (
        lambda g: g.place_batch([REQ, REQ2]),
        [S.ORDER_ACK, {**S.ORDER_ACK, "clOrdId": "s1BTCUSDT8"}],
        True,
    ),
    "cancel_order": (lambda g: g.cancel_order(S.INST, clOrdId="s1BTCUSDT7"), [S.ORDER_ACK], True),
    "amend_order": (
        lambda g: g.amend_order(S.INST, clOrdId="s1BTCUSDT7", newSz=Decimal("0.1")),
        [{**S.ORDER_ACK, "reqId": "r1"}],
        True,
    ),
    "close_position": (
        lambda g: g.close_position(S.INST, TdMode.ISOLATED, PosSide.LONG, clOrdId="c1"),
        [S.CLOSE_POS],
        True,
    ),
    "place_algo": (lambda g: g.place_algo(ALGO), [ALGO_ACK], True),
    "cancel_algos": (lambda g: g.cancel_algos(S.INST, algoClOrdIds=["sls1BTCUSDT7"]), [ALGO_ACK], True),
    "cancel_all_after": (lambda g: g.cancel_all_after(60), [S.CAA], False),
    "get_order": (lambda g: g.get_order(S.INST, clOrdId="s1BTCUSDT7"), [S.ORDER], False),
    "orders_pending": (lambda g: g.orders_pending(), [S.ORDER], False),
    "orders_history": (lambda g: g.orders_history(), [S.ORDER], False),
    "fills": (lambda g: g.fills(), [S.FILL], False),
    "positions": (lambda g: g.positions(), [S.POSITION], False),
    "balance": (lambda g: g.balance(), [S.BALANCE], False),
    "account_config": (lambda g: g.account_config(), [S.ACCOUNT_CONFIG], False),
    "set_leverage": (lambda g: g.set_leverage(S.INST, 3, TdMode.CROSS, PosSide.LONG), [S.LEVERAGE], False),
    "instruments": (lambda g: g.instruments(), [S.INSTRUMENT], False),
    "ticker": (lambda g: g.ticker(S.INST), [S.TICKER], False),
    "books": (lambda g: g.books(S.INST), [S.BOOK], False),
    "algos_pending": (lambda g: g.algos_pending(), [S.ALGO], False),
    "server_time": (lambda g: g.server_time(), [{"ts": "1597026383085"}], False),
}
CODES = st.sampled_from(
    [
        "0",
        "0",
        "0",
        "1",
        "2",
        "50011",
        "50061",
        "50001",
        "50013",
        "50026",
        "50004",
        "50102",
        "50113",
        "51008",
        "51603",
        "51016",
        "",
        "x",
        "99999",
    ]
)


class Replies(BaseAdapter):
    """The transport: answers every request with the next drawn reply (the last one repeats)."""

    def __init__(self, replies: list[tuple[int, bytes, dict[str, str]]]) -> None:
        super().__init__()
        self.replies = replies
        self.sent = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        status, body, headers = self.replies[min(self.sent, len(self.replies) - 1)]
        self.sent += 1
        resp = requests.Response()
        resp.status_code = status
        resp._content = body
        resp.headers.update(headers)
        resp.url = request.url or ""
        resp.request = request
        return resp

    def close(self) -> None:
        pass


@st.composite
def reply(draw: Any, items: list[Any]) -> tuple[int, bytes, dict[str, str]]:
    status = draw(st.sampled_from([200, 200, 200, 200, 400, 401, 404, 429, 500, 502, 503, 504]))
    headers = draw(
        st.sampled_from(
            [
                {},
                {},
                {"Retry-After": "0"},
                {"Retry-After": "abc"},
                {"Retry-After": "1e9"},
                {"Retry-After": "-1"},
                {"Retry-After": "nan"},
            ]
        )
    )
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return status, draw(st.binary(max_size=120)), headers
    env: dict[str, Any] = {
        "code": draw(CODES),
        "msg": draw(st.sampled_from(["", "error", "fuzz-secret-1234 leaked?"])),
        "data": [dict(i) for i in items],
    }
    for it in env["data"]:
        if draw(st.booleans()) and "sCode" in it:
            it["sCode"] = draw(CODES)
    env = draw(mutated(env)) if kind > 2 else env
    text = json.dumps(env).encode()
    if kind == 1:
        text = text[: draw(st.integers(0, len(text)))]
    return status, text, headers


def _gateway(adapter: Replies) -> OkxRestGateway:
    g = OkxRestGateway(
        base_url="http://fuzz.invalid",
        credentials=("fuzz-key-1234", "fuzz-secret-1234", "fuzz-pass-1234"),
        rate_limiter=RateLimiter(enabled=False),
        rate_limit_backoff_s=0.0,
        max_rate_limit_wait_s=0.0,
        auto_sync_clock=False,
        timeout_s=2.0,
    )
    g.session.mount("http://", adapter)
    return g


@pytest.mark.parametrize("name", sorted(CALLS))
def test_rest_reply_handling(name: str) -> None:
    call, items, trade = CALLS[name]
    # the valid reply works
    g = _gateway(Replies([(200, json.dumps({"code": "0", "msg": "", "data": items}).encode(), {})]))
    assert call(g) is not None or name == "get_order"

    @FUZZ
    @given(replies=st.lists(reply(items), min_size=1, max_size=3))
    def run(replies: list[tuple[int, bytes, dict[str, str]]]) -> None:
        tried(f"okx.rest.{name}")
        gw = _gateway(Replies(replies))
        try:
            out = call(gw)
        except OkxError as exc:
            text = str(exc)
            assert "fuzz-secret-1234" not in text and "fuzz-pass-1234" not in text
            if trade:
                assert not isinstance(exc, ParseError), (
                    f"{name}: unreadable reply to a sent trade request must be AMBIGUOUS: {exc}"
                )
            return
        finally:
            gw.close()
        if name == "place_order":
            assert out.clOrdId == REQ.clOrdId, f"ack for {out.clOrdId!r} attributed to {REQ.clOrdId!r}"
        if name == "place_batch":
            assert [u.clOrdId for u in out] == [REQ.clOrdId, REQ2.clOrdId]

    run()
