"""flatten against the stream worker's own moves: the stop of an entry is cancelled by the OMS as its
position closes, so flatten's cancel of that stop may be refused (51400: it does not exist any more). A stop
the exchange no longer lists is gone, not a failure; one it still lists after a refused or unanswered cancel
is. Real pieces: the sim over HTTP, Redis, the orders worker's engine; the other party's cancel is made at
the moment of the race, through the sim's own REST API."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest

from athena.domain import AlgoOrder, OrderRequest, OrdType, Side, TdMode
from athena.engine import Engine
from athena.ops.flatten import flatten
from athena.sim.client import SimClient
from athena.sim.server import SimServer

BTC = "BTC-USDT-SWAP"


def _long_with_stop(engine: Engine, sim: SimServer) -> str:
    """A long of 0.02 placed straight on the sim, its stop-loss 2% under; returns the stop's algoId."""
    SimClient(sim.url).admin("price", {"instId": BTC, "px": "100000"})
    engine.rest.place_order(OrderRequest("flr1", BTC, Side.BUY, OrdType.MARKET, D("0.02"), None))
    algo = engine.rest.place_algo(
        AlgoOrder(
            algoClOrdId="slflr1", instId=BTC, side=Side.SELL, sz=D("0.02"), slTriggerPx=D("98000"),
            tdMode=TdMode.CROSS,
        )
    )  # fmt: skip
    assert algo.algoId
    return algo.algoId


def test_a_stop_cancelled_by_someone_else_meanwhile_is_gone_not_a_failure(
    sim: SimServer, sim_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sim_engine(sim, "flr")
    algo_id = _long_with_stop(engine, sim)
    real_cancel = engine.rest.cancel_algos

    def the_oms_first(instId: str, algoIds: Any = (), algoClOrdIds: Any = ()) -> Any:
        # the position just closed: the stream worker cancels the entry's stop before flatten's request lands
        assert real_cancel(instId, algoIds=[algo_id])[0].ok
        return real_cancel(instId, algoIds=algoIds, algoClOrdIds=algoClOrdIds)

    monkeypatch.setattr(engine.rest, "cancel_algos", the_oms_first)
    report = flatten(engine, reason="race").to_dict()
    assert report["ok"] is True, report
    assert report["stops_gone"] == [algo_id] and report["stops_cancelled"] == [] and report["failed"] == []
    assert [p["instId"] for p in report["positions_closed"]] == [BTC]
    assert sim.exchange.state()["algos"] == []


def test_a_stop_still_pending_after_its_cancel_failed_is_reported(
    sim: SimServer, sim_engine: Callable[..., Engine]
) -> None:
    engine = sim_engine(sim, "flr")
    algo_id = _long_with_stop(engine, sim)
    # the exchange refuses this cancel and keeps the stop (a partly failed batch, the item not processed)
    SimClient(sim.url).admin(
        "faults",
        {"batch_partial": {"count": 1, "path": "/api/v5/trade/cancel-algos"}, "batch_partial_code": "50013"},
    )
    report = flatten(engine, reason="refused").to_dict()
    assert report["ok"] is False and report["stops_gone"] == []
    assert [f.split(":")[0] for f in report["failed"]] == [f"cancel stop {algo_id}"], report
    assert [a["algoId"] for a in sim.exchange.state()["algos"]] == [algo_id]  # left pending, and said so
