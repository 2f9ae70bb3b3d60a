"""OkxRestGateway error classes against the simulator's fault injection: 5xx codes, 5xx on trade requests
(AMBIGUOUS), expTime, definite rejections, auth codes, and paging."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from athena.domain import AlgoOrder, OrderRequest, OrderState, OrdType, Side
from athena.okx.errors import (
    OkxAmbiguous,
    OkxAuthError,
    OkxDuplicateAlgoClOrdId,
    OkxDuplicateClOrdId,
    OkxOrderNotPending,
    OkxRejected,
    OkxTransient,
)
from athena.okx.rest import OkxRestGateway
from tests.okx.helpers import INST, SIM_CREDS, Sim, cid, limit_req
from tests.waiting import wait_until


@pytest.mark.parametrize("code", ["50001", "50013", "50026"])
def test_5xx_codes_on_reads_are_transient(rest: OkxRestGateway, clean_sim: Sim, code: str) -> None:
    clean_sim.faults(rest_5xx={"count": 1, "path": "/api/v5/account/balance"}, rest_5xx_code=code)
    with pytest.raises(OkxTransient) as info:
        rest.balance()
    assert info.value.code == code and info.value.http_status == 503
    assert not isinstance(info.value, OkxAmbiguous)
    assert rest.balance().totalEq is not None  # nothing happened: a retry is fine


def test_5xx_on_place_is_ambiguous_and_found_by_clordid(rest: OkxRestGateway, clean_sim: Sim) -> None:
    # the exchange executed the order, then answered 503: the order exists
    clean_sim.faults(rest_5xx={"count": 1, "path": "/api/v5/trade/order"}, rest_5xx_execute=True)
    req = limit_req(rest, "x5a")
    with pytest.raises(OkxAmbiguous) as info:
        rest.place_order(req)
    assert info.value.clOrdId == req.clOrdId and info.value.http_status == 503
    found = rest.get_order(INST, clOrdId=req.clOrdId)
    assert found is not None and found.state is OrderState.LIVE and found.sz == req.sz
    rest.cancel_order(INST, clOrdId=req.clOrdId)
    # a 503 without execution: still ambiguous to the client; the query proves absence, a resend is safe
    clean_sim.faults(rest_5xx={"count": 1, "path": "/api/v5/trade/order"}, rest_5xx_execute=False)
    req2 = limit_req(rest, "x5b")
    with pytest.raises(OkxAmbiguous):
        rest.place_order(req2)
    assert rest.get_order(INST, clOrdId=req2.clOrdId) is None
    assert rest.place_order(req2).state is OrderState.LIVE  # same clOrdId, exactly one order
    assert [u.clOrdId for u in rest.orders_pending(INST)].count(req2.clOrdId) == 1
    rest.cancel_order(INST, clOrdId=req2.clOrdId)


def test_5xx_on_cancel_is_ambiguous(rest: OkxRestGateway, clean_sim: Sim) -> None:
    req = limit_req(rest, "x5c")
    rest.place_order(req)
    clean_sim.faults(rest_5xx={"count": 1, "path": "/api/v5/trade/cancel-order"}, rest_5xx_execute=True)
    with pytest.raises(OkxAmbiguous):
        rest.cancel_order(INST, clOrdId=req.clOrdId)
    assert wait_until(lambda: rest.get_order(INST, clOrdId=req.clOrdId).state is OrderState.CANCELED, 30)  # type: ignore[union-attr]


def test_exptime_header_only_on_place_and_amend(rest: OkxRestGateway) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    real = rest.session.request

    def spy(method: str, url: str, **kw: Any) -> Any:
        seen.append((url.split("?")[0].rsplit("/api/v5", 1)[-1], dict(kw.get("headers") or {})))
        return real(method, url, **kw)

    rest.session.request = spy  # type: ignore[method-assign]
    req = limit_req(rest, "xt")
    rest.place_batch([limit_req(rest, "xtb")])
    rest.place_order(req)
    rest.amend_order(INST, clOrdId=req.clOrdId, newSz=Decimal("0.02"))
    rest.cancel_order(INST, clOrdId=req.clOrdId)
    exp = {path: h.get("expTime") for path, h in seen}
    now = rest.clock.now_ms()
    for path in ("/trade/order", "/trade/batch-orders", "/trade/amend-order"):
        assert exp[path] is not None and now < int(exp[path]) <= now + 3000 + 50  # default: the read timeout
    assert exp["/trade/cancel-order"] is None and exp["/market/ticker"] is None
    with OkxRestGateway(base_url=rest.base_url, credentials=SIM_CREDS, timeout_s=3.0, exp_time_ms=1500) as gw:
        assert gw.exp_time_ms == 1500
    with OkxRestGateway(base_url=rest.base_url, credentials=SIM_CREDS, exp_time_ms=0) as gw:
        assert gw.exp_time_ms == 0  # disabled


def test_late_order_is_rejected_by_exptime_not_executed(clean_sim: Sim) -> None:
    # the request is held 1 s "in the network"; its deadline is 0.3 s: the exchange drops it
    clean_sim.faults(rest_timeout={"count": 1, "path": "/api/v5/trade/order"}, rest_timeout_hold_s=1.0)
    with OkxRestGateway(base_url=clean_sim.url, credentials=SIM_CREDS, timeout_s=3.0, exp_time_ms=300) as gw:
        req = limit_req(gw, "xe")
        with pytest.raises(OkxRejected) as info:
            gw.place_order(req)
        assert info.value.code == "50102" and info.value.update.state is OrderState.REJECTED
        assert gw.stats["expired"] == 1
        assert gw.get_order(INST, clOrdId=req.clOrdId) is None  # definitely not executed, never resent
        assert gw.place_order(limit_req(gw, "xf")).state is OrderState.LIVE  # the next order goes through


def test_late_amend_is_rejected_by_exptime(clean_sim: Sim) -> None:
    with OkxRestGateway(base_url=clean_sim.url, credentials=SIM_CREDS, timeout_s=3.0, exp_time_ms=300) as gw:
        req = limit_req(gw, "xam")
        gw.place_order(req)
        clean_sim.faults(
            rest_timeout={"count": 1, "path": "/api/v5/trade/amend-order"}, rest_timeout_hold_s=1.0
        )
        with pytest.raises(OkxRejected) as info:
            gw.amend_order(INST, clOrdId=req.clOrdId, newPx=req.px - 1)  # type: ignore[operator]
        assert info.value.code == "50102"
        got = gw.get_order(INST, clOrdId=req.clOrdId)
        assert got is not None and got.px == req.px  # unchanged
        gw.cancel_order(INST, clOrdId=req.clOrdId)


def test_ambiguous_timeout_with_exptime_leaves_no_late_order(clean_sim: Sim) -> None:
    # client timeout 0.4 s, expTime = timeout (default): the held request can no longer execute
    clean_sim.faults(rest_timeout={"count": 2, "path": "/api/v5/trade/order"}, rest_timeout_hold_s=2.0)
    with (
        OkxRestGateway(base_url=clean_sim.url, credentials=SIM_CREDS, timeout_s=0.4) as gw,
        OkxRestGateway(
            base_url=clean_sim.url, credentials=SIM_CREDS, timeout_s=0.4, exp_time_ms=60_000
        ) as patient,
    ):
        patient.sync_clock()
        req = limit_req(gw, "xn")
        with pytest.raises(OkxAmbiguous):
            gw.place_order(req)
        assert wait_until(lambda: clean_sim.admin("faults")["rest_timeout"]["count"] == 1)  # its hold began
        # a fence: the same hold, begun later and with a far deadline, so it executes; the sim releases
        # held requests in order, so once the fence's order exists the first request has been decided
        fence = limit_req(patient, "xf")
        with pytest.raises(OkxAmbiguous):
            patient.place_order(fence)
        assert wait_until(lambda: patient.get_order(INST, clOrdId=fence.clOrdId) is not None, timeout=30)
        assert gw.get_order(INST, clOrdId=req.clOrdId) is None  # reached the engine late: dropped
        patient.cancel_order(INST, clOrdId=fence.clOrdId)


def test_definite_rejections(rest: OkxRestGateway) -> None:
    bad = limit_req(rest, "xr", sz="0.015")  # not a lotSz multiple
    with pytest.raises(OkxRejected) as info:
        rest.place_order(bad)
    assert info.value.sCode == "51121" and info.value.update.state is OrderState.REJECTED
    assert rest.get_order(INST, clOrdId=bad.clOrdId) is None
    with pytest.raises(OkxRejected) as info:
        rest.amend_order(INST, clOrdId="neverplaced2", newSz=Decimal("0.02"))
    assert "51503" in (info.value.code, info.value.sCode)
    with pytest.raises(OkxRejected) as info:
        rest.cancel_order(INST, clOrdId="neverplaced3")
    assert {info.value.code, info.value.sCode} & {"51400", "51603"}


@pytest.mark.parametrize(
    ("creds", "code"),
    [
        (("wrong-key", "sim-secret-key", "sim-passphrase"), "50111"),
        (("sim-api-key", "sim-secret-key", "wrong-pass"), "50105"),
    ],
)
def test_auth_codes(clean_sim: Sim, creds: tuple[str, str, str], code: str) -> None:
    with OkxRestGateway(base_url=clean_sim.url, credentials=creds) as gw, pytest.raises(OkxAuthError) as info:
        gw.positions()
    assert info.value.code == code and "wrong-pass" not in str(info.value)
    assert gw.stats["requests"] == 2  # /public/time + the call: an auth error is never retried


def test_orders_pending_pages_past_100(rest: OkxRestGateway) -> None:
    inst = "SOL-USDT-SWAP"
    placed: list[str] = []
    px = limit_req(rest, "pg", inst).px
    for _ in range(6):
        reqs = [
            OrderRequest(cid("pg"), inst, Side.BUY, OrdType.LIMIT, Decimal("0.01"), px) for _ in range(18)
        ]
        out = rest.place_batch(reqs)
        assert all(u.state is OrderState.LIVE for u in out)
        placed += [r.clOrdId for r in reqs]
    pending = rest.orders_pending(inst)
    ids = [u.clOrdId for u in pending]
    assert len(ids) == len(set(ids)) and set(placed) <= set(ids) and len(placed) == 108


# -- 51149 "Order timed out": OKX may or may not have placed it --------------------------------------


@pytest.mark.parametrize("executed", [True, False])
def test_51149_on_place_is_ambiguous_never_rejected(
    rest: OkxRestGateway, clean_sim: Sim, executed: bool
) -> None:
    clean_sim.faults(rest_scode={"count": 1, "path": "/api/v5/trade/order"}, rest_scode_execute=executed)
    req = limit_req(rest, "t51")
    with pytest.raises(OkxAmbiguous) as info:
        rest.place_order(req)
    assert info.value.code == "51149" and info.value.clOrdId == req.clOrdId
    found = rest.get_order(INST, clOrdId=req.clOrdId)  # the query settles it, either way
    assert (found is not None) is executed
    if found is not None:
        assert found.state is OrderState.LIVE
        rest.cancel_order(INST, clOrdId=req.clOrdId)


def test_51149_on_a_batch_item_is_ambiguous_not_rejected(rest: OkxRestGateway, clean_sim: Sim) -> None:
    clean_sim.faults(rest_scode={"count": 1, "path": "/api/v5/trade/batch-orders"}, rest_scode_execute=True)
    reqs = [limit_req(rest, "t5b"), limit_req(rest, "t5c")]
    out = rest.place_batch(reqs)
    assert [(u.clOrdId, u.state, u.sCode) for u in out] == [
        (r.clOrdId, OrderState.AMBIGUOUS, "51149") for r in reqs
    ]
    for r in reqs:  # they do exist: a REJECTED here would have forgotten two live orders
        assert rest.get_order(INST, clOrdId=r.clOrdId) is not None
        rest.cancel_order(INST, clOrdId=r.clOrdId)


def test_51149_on_order_algo_is_ambiguous_and_the_retry_meets_the_duplicate(
    rest: OkxRestGateway, clean_sim: Sim
) -> None:
    clean_sim.faults(rest_scode={"count": 1, "path": "/api/v5/trade/order-algo"}, rest_scode_execute=True)
    px = limit_req(rest, "t5a").px
    assert px is not None
    algo = AlgoOrder(algoClOrdId=cid("t5s"), instId=INST, side=Side.SELL, sz=Decimal("0.01"), slTriggerPx=px)
    with pytest.raises(OkxAmbiguous) as info:
        rest.place_algo(algo)
    assert info.value.clOrdId == algo.algoClOrdId
    with pytest.raises(OkxDuplicateAlgoClOrdId):  # the same algoClOrdId again: it exists
        rest.place_algo(algo)
    assert [a.algoClOrdId for a in rest.algos_pending(INST)].count(algo.algoClOrdId) == 1
    rest.cancel_algos(INST, algoClOrdIds=[algo.algoClOrdId])


def test_an_outcome_unknown_item_on_cancel_is_ambiguous(rest: OkxRestGateway, clean_sim: Sim) -> None:
    req = limit_req(rest, "t5x")
    rest.place_order(req)
    clean_sim.faults(rest_scode={"count": 1, "path": "/api/v5/trade/cancel-order"}, rest_scode_code="50026")
    with pytest.raises(OkxAmbiguous):
        rest.cancel_order(INST, clOrdId=req.clOrdId)
    px = limit_req(rest, "t5y").px
    assert px is not None
    algo = rest.place_algo(
        AlgoOrder(algoClOrdId=cid("t5z"), instId=INST, side=Side.SELL, sz=Decimal("0.01"), slTriggerPx=px)
    )
    clean_sim.faults(rest_scode={"count": 1, "path": "/api/v5/trade/cancel-algos"}, rest_scode_code="51149")
    (ack,) = rest.cancel_algos(INST, algoClOrdIds=[algo.algoClOrdId])
    assert not ack.ok and ack.outcome_unknown  # neither cancelled nor refused
    rest.cancel_order(INST, clOrdId=req.clOrdId)
    rest.cancel_algos(INST, algoClOrdIds=[algo.algoClOrdId])


def test_typed_rejections_from_the_exchange(rest: OkxRestGateway) -> None:
    req = limit_req(rest, "t5d")
    rest.place_order(req)
    with pytest.raises(OkxDuplicateClOrdId):
        rest.place_order(req)
    rest.cancel_order(INST, clOrdId=req.clOrdId)
    with pytest.raises(OkxOrderNotPending):
        rest.amend_order(INST, clOrdId="neverplaced4", newSz=Decimal("0.02"))
    assert rest.get_order(INST, clOrdId="neverplaced5") is None  # OkxOrderNotFound, answered as None
