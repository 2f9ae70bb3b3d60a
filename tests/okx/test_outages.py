"""The chaos soak's newer faults, each on its own against the simulator and the real clients: a batch
that partly fails, REST down while the WebSocket stays up and the reverse, 50001/50013 drawn at random
on trade requests, and clock skew (REST and the private WebSocket's login recover once they re-measure
the exchange's clock)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from athena.domain import AlgoOrder, OrderState, Side
from athena.okx.errors import OkxAmbiguous, OkxExpired, OkxTransient
from athena.okx.private_ws import OkxPrivateWsGateway
from athena.okx.rest import OkxRestGateway
from athena.okx.signing import Credentials
from tests.okx.helpers import FAST_WS, INST, SIM_CREDS, Sim, cid, limit_req
from tests.waiting import wait_until

CALM_WS = {**FAST_WS, "stall_timeout_s": 3.0}


@pytest.fixture()
def idle_sim(clean_sim: Sim) -> Iterator[Sim]:
    assert wait_until(
        lambda: clean_sim.admin("stats")["conns"] == [], 30
    )  # nothing left from an earlier test
    yield clean_sim


def private(sim: Sim, events: list[Any], **kw: Any) -> OkxPrivateWsGateway:
    gw = OkxPrivateWsGateway(
        sim.ws_url("private"),
        on_event=events.append,
        credentials=Credentials(*SIM_CREDS),
        business_url=sim.ws_url("business"),
        **{**CALM_WS, **kw},
    )
    gw.start()
    return gw


def test_a_partly_failed_batch_places_some_and_names_the_others(rest: OkxRestGateway, clean_sim: Sim) -> None:
    reqs = [limit_req(rest, "pb") for _ in range(6)]
    clean_sim.faults(batch_partial={"count": 1}, batch_partial_code="50013")
    out = rest.place_batch(reqs)
    assert [u.clOrdId for u in out] == [r.clOrdId for r in reqs]
    failed = [u for u in out if u.state is not OrderState.LIVE]
    assert failed and all(
        u.state is OrderState.AMBIGUOUS and u.sCode == "50013" for u in failed
    )  # never REJECTED
    for u in out:  # the exchange holds exactly the items it accepted; a query settles each failed one
        assert (rest.get_order(INST, clOrdId=u.clOrdId) is not None) is (u.state is OrderState.LIVE)
    assert clean_sim.admin("faults")["fired"]["batch_partial"] == 1
    for u in out:
        if u.state is OrderState.LIVE:
            rest.cancel_order(INST, clOrdId=u.clOrdId)


def test_a_partly_failed_cancel_algos_says_which_stops_still_work(
    rest: OkxRestGateway, clean_sim: Sim
) -> None:
    px = limit_req(rest, "pa").px
    assert px is not None
    ids = [cid("pas") for _ in range(6)]
    for i in ids:
        rest.place_algo(
            AlgoOrder(algoClOrdId=i, instId=INST, side=Side.SELL, sz=Decimal("0.01"), slTriggerPx=px)
        )
    clean_sim.faults(
        batch_partial={"count": 1, "path": "/api/v5/trade/cancel-algos"}, batch_partial_code="51149"
    )
    acks = rest.cancel_algos(INST, algoClOrdIds=ids)
    unknown = {a.algoClOrdId for a in acks if a.outcome_unknown}
    assert unknown and {a.algoClOrdId for a in acks if a.ok} == set(ids) - unknown
    assert {a.algoClOrdId for a in rest.algos_pending(INST)} & set(ids) == unknown  # those still work
    rest.cancel_algos(INST, algoClOrdIds=sorted(unknown))


def test_5xx_codes_drawn_at_random_some_executed(rest: OkxRestGateway, clean_sim: Sim) -> None:
    clean_sim.faults(
        rest_5xx={"count": 12, "path": "/api/v5/trade/order"},
        rest_5xx_code="50001,50013",
        rest_5xx_execute_rate=0.5,
    )
    reqs = [limit_req(rest, "r5") for _ in range(12)]
    codes = set()
    for r in reqs:
        with pytest.raises(
            OkxAmbiguous
        ) as info:  # a trade request answered 503: outcome unknown, whatever code
            rest.place_order(r)
        codes.add(info.value.code)
    assert codes == {"50001", "50013"}
    found = [r for r in reqs if rest.get_order(INST, clOrdId=r.clOrdId) is not None]
    fired = clean_sim.admin("faults")["fired"]
    assert 0 < len(found) < len(reqs) and fired["rest_5xx_executed"] >= len(found)
    for r in found:
        rest.cancel_order(INST, clOrdId=r.clOrdId)


def test_rest_down_while_the_websocket_stays_up(rest: OkxRestGateway, idle_sim: Sim) -> None:
    sim = idle_sim
    events: list[Any] = []
    gw = private(sim, events)
    try:
        assert wait_until(lambda: gw.ready)
        sim.faults(rest_down_s=30)
        with pytest.raises(OkxTransient):
            rest.balance()
        with pytest.raises(OkxAmbiguous):  # a POST whose answer never came: unknown, and in fact not executed
            rest.place_algo(
                AlgoOrder(
                    algoClOrdId=cid("rd"),
                    instId=INST,
                    side=Side.SELL,
                    sz=Decimal("0.01"),
                    slTriggerPx=Decimal("1000"),
                )
            )
        assert gw.ready and gw.private.logins == 1  # the WebSocket never noticed
        sim.faults(rest_down_s=0)
        assert rest.balance().totalEq is not None
        assert not [a for a in rest.algos_pending(INST) if a.algoClOrdId.startswith("rd")]
    finally:
        gw.stop()


def test_websocket_down_while_rest_stays_up(rest: OkxRestGateway, idle_sim: Sim) -> None:
    sim = idle_sim
    events: list[Any] = []
    gw = private(sim, events)
    try:
        assert wait_until(lambda: gw.ready and gw.private.logins == 1)
        sim.faults(ws_down_s=3)  # open connections dropped, new ones refused for 3 s
        assert wait_until(lambda: not gw.ready, 10)
        assert rest.balance().totalEq is not None  # REST works meanwhile
        assert sim.admin("stats")["conns"] == []
        assert wait_until(lambda: gw.ready and gw.private.logins == 2, 30)  # back after the outage
    finally:
        gw.stop()


def test_private_login_under_clock_skew_resyncs_and_logs_in(rest: OkxRestGateway, idle_sim: Sim) -> None:
    sim = idle_sim
    events: list[Any] = []
    sim.admin("skew", {"seconds": 90})  # the exchange's clock 90 s ahead of ours: 60006 on login
    gw = private(sim, events, server_time=rest.server_time)
    try:
        assert wait_until(lambda: gw.ready, 20), gw.state
        assert sum(c.clock_resyncs for c in gw.connections) >= 1 and gw.private.auth_failures == 0
        assert abs(gw.private.clock.offset_ms - 90_000) < 2_000
    finally:
        gw.stop()
    # without a way to read the exchange's clock the login keeps failing: halted after its auth failures
    plain = private(sim, events, max_auth_failures=2)
    try:
        assert wait_until(lambda: plain.state == "auth_failed", 20)
    finally:
        plain.stop()


def test_rest_under_clock_skew_recovers_after_resync(rest: OkxRestGateway, clean_sim: Sim) -> None:
    assert rest.balance().totalEq is not None  # synced once at the first signed call (offset ~0)
    clean_sim.admin("skew", {"seconds": 45})
    assert rest.balance().totalEq is not None  # 50102, re-measured, retried once: the read never fails
    clean_sim.admin("skew", {"seconds": -45})
    req = limit_req(rest, "sk")
    with pytest.raises(OkxExpired):  # an order's expTime was stamped with the old offset: not executed
        rest.place_order(req)
    assert rest.get_order(INST, clOrdId=req.clOrdId) is None
    assert rest.place_order(req).state is OrderState.LIVE  # the clock was re-measured: the same order goes
    rest.cancel_order(INST, clOrdId=req.clOrdId)
    assert rest.stats["clock_resyncs"] >= 2


def test_a_skewed_login_while_rest_is_down_waits_for_the_clock_never_halts(
    rest: OkxRestGateway, idle_sim: Sim
) -> None:
    """Regression (the 30-minute chaos soak): the clock was off when a maintenance took REST down and
    closed the WebSockets; each login was refused for its timestamp, the clock could not be re-measured,
    and the refusals counted as auth failures until the private WebSockets halted for good (a deaf stream
    worker)."""
    sim = idle_sim
    events: list[Any] = []
    sim.admin("skew", {"seconds": 90})
    sim.faults(rest_down_s=4)
    gw = private(sim, events, server_time=rest.server_time, max_auth_failures=1)
    try:
        assert wait_until(lambda: gw.ready, 30), gw.state
        assert [c.auth_failures for c in gw.connections] == [0, 0]
        assert (
            sum(c.clock_resyncs for c in gw.connections) >= 1
        )  # one clock: either connection may re-measure it
        assert abs(gw.private.clock.offset_ms - 90_000) < 2_000
    finally:
        gw.stop()
