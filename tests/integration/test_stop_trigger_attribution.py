"""A triggered exchange stop creates an order whose clOrdId is empty and whose algoClOrdId names the
stop (OKX and the sim alike). Regression (found by the demo): that order used to be booked as an
unknown external order, so its fill reached neither the strategy nor its capital account."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from redis import Redis

from athena.domain import OrderState, Side
from athena.okx.parse import order_update
from athena.oms.stops import record_stop_owner, stop_id_for
from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.integration.oms_harness import INST, entry, make_oms, upd
from tests.waiting import wait_until


def _triggered_row(algo_cl: str, sz: str, px: str) -> dict[str, Any]:
    """The orders-channel push of a stop's market order, shaped like OKX's (samples/nautilus_ws_orders)."""
    return {
        "instType": "SWAP", "instId": INST, "ordId": "777001", "clOrdId": "", "algoClOrdId": algo_cl,
        "algoId": "99001", "ordType": "market", "side": "sell", "posSide": "net", "tdMode": "cross",
        "sz": sz, "px": "", "reduceOnly": "true", "state": "filled", "accFillSz": sz, "avgPx": px,
        "fillSz": sz, "fillPx": px, "tradeId": "t777", "fillFee": "-0.1", "fee": "-0.1", "feeCcy": "USDT",
        "execType": "T", "pnl": "-20", "uTime": "1746947317402", "cTime": "1746947317401",
    }  # fmt: skip


def test_triggered_stop_fill_is_booked_to_the_strategy_that_owns_the_stop(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    o.om.submit(entry("e1", sz="2", px="100", sl="90"))
    o.om.on_update(upd("e1", OrderState.FILLED, "2", "100"))
    stop_id = stop_id_for("e1")
    record_stop_owner(o.redis, o.keys, stop_id, "s1", "e1")  # what ensure_stop writes before placing

    t = o.om.on_update(order_update(_triggered_row(stop_id, "2", "90")))
    assert t.order.clOrdId == stop_id and t.order.req.strategy == "s1" and t.order.req.reduceOnly
    (fill,) = o.fills(stop_id)
    assert fill.strategy == "s1" and fill.side is Side.SELL and fill.fillSz == Decimal(2)
    assert o.pm.expected(INST).sz == 0  # the ledger saw the stop close the position
    assert not [c for c in o.store.working() if c.clOrdId.startswith("x")]
    # a duplicate push changes nothing
    o.om.on_update(order_update(_triggered_row(stop_id, "2", "90")))
    assert len(o.fills(stop_id)) == 1


def test_unknown_stop_is_still_booked_by_its_algo_id_not_lost(redis_client: Redis) -> None:
    o = make_oms(redis_client)
    t = o.om.on_update(order_update(_triggered_row("slforeign1", "1", "95")))
    assert t.order.clOrdId == "slforeign1" and t.order.req.strategy == ""
    assert len(o.fills("slforeign1")) == 1


def test_the_sim_reports_a_triggered_stop_with_its_algo_id() -> None:
    with SimServer(tick_interval_ms=0) as sim:
        c = SimClient(sim.url)
        c.post(
            "/api/v5/trade/order",
            {"instId": INST, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1"},
        )
        bid = Decimal(sim.exchange.state()["markets"][INST]["bid"])
        trigger = str((bid * Decimal("0.99")).quantize(Decimal("0.1")))
        r = c.post(
            "/api/v5/trade/order-algo",
            {
                "instId": INST,
                "tdMode": "cross",
                "side": "sell",
                "ordType": "conditional",
                "sz": "1",
                "slTriggerPx": trigger,
                "slOrdPx": "-1",
                "reduceOnly": "true",
                "algoClOrdId": "slsimtest1",
            },
        )
        assert r["code"] == "0", r
        c.admin("price", {"instId": INST, "px": str((bid * Decimal("0.98")).quantize(Decimal("0.1")))})
        rows: list[dict[str, Any]] = []

        def triggered() -> list[dict[str, Any]]:
            hist = c.get(f"/api/v5/trade/orders-history?instType=SWAP&instId={INST}")["data"]
            rows[:] = [h for h in hist if h.get("algoClOrdId") == "slsimtest1"]
            return rows

        wait_until(triggered, 10, interval=0.05)
        assert rows, "the triggered stop's order is in the order history"
        u = order_update(rows[0], source="rest_query")
        assert u.clOrdId == "" and u.algoClOrdId == "slsimtest1" and u.state is OrderState.FILLED
        assert u.reduceOnly is True and u.side is Side.SELL


def test_fill_learned_from_a_rest_query_keeps_its_fee(redis_client: Redis) -> None:
    """Regression (found by the chaos soak): a fill first seen in a REST order query (cumulative
    fee, no per-trade fillFee) was journaled and booked with fee 0; the taker fee went missing."""
    o = make_oms(redis_client)
    o.om.submit(entry("q1", sz="5", px="100", sl="90"))
    query = order_update({
        "instType": "SWAP", "instId": INST, "ordId": "55501", "clOrdId": "q1", "ordType": "limit",
        "side": "buy", "posSide": "net", "tdMode": "cross", "sz": "5", "px": "100", "state": "filled",
        "accFillSz": "5", "avgPx": "100", "fillSz": "5", "fillPx": "100", "tradeId": "t1", "fee": "-0.25",
        "feeCcy": "USDT", "uTime": "1746947317402", "cTime": "1746947317401",
    }, source="rest_query")  # fmt: skip
    assert query.fillFee is None and query.fee == Decimal("-0.25")
    o.om.on_update(query)
    (fill,) = o.fills("q1")
    assert fill.fee == Decimal("-0.25")
