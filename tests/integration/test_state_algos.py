"""AlgoStore against a real Redis: record, state moves, finished stops stay finished."""

from __future__ import annotations

import pytest
import redis as redis_lib

from athena.domain import AlgoOrder, AlgoState, D, PosSide, Side
from athena.state import Keys
from athena.state.algos import AlgoStore


@pytest.fixture()
def algos(redis_client: redis_lib.Redis) -> AlgoStore:
    return AlgoStore(redis_client, Keys("test", "acct1"))


def _stop(cl: str = "sl1", inst: str = "BTC-USDT-SWAP", **kw: object) -> AlgoOrder:
    return AlgoOrder(
        algoClOrdId=cl,
        instId=inst,
        side=Side.SELL,
        sz=D("1.0"),
        slTriggerPx=D("49000.5"),
        posSide=PosSide.LONG,
        **kw,
    )  # type: ignore[arg-type]


def test_record_round_trip_and_working(algos: AlgoStore) -> None:
    assert algos.record(_stop())
    assert algos.record(_stop("sl2", "ETH-USDT-SWAP", algoId="77"))
    assert algos.get("sl1") == _stop()
    assert algos.by_algo_id("77") == _stop("sl2", "ETH-USDT-SWAP", algoId="77")
    assert [a.algoClOrdId for a in algos.working()] == ["sl1", "sl2"]
    assert [a.algoClOrdId for a in algos.working("ETH-USDT-SWAP")] == ["sl2"]


def test_final_state_is_never_revived(algos: AlgoStore) -> None:
    algos.record(_stop())
    assert algos.set_state("sl1", AlgoState.LIVE, algoId="55", uTime=3)
    got = algos.get("sl1")
    assert got is not None and got.algoId == "55" and got.uTime == 3
    assert algos.set_state("sl1", AlgoState.EFFECTIVE)
    assert algos.working() == []
    assert not algos.set_state("sl1", AlgoState.LIVE)  # a stale 'live' push
    assert not algos.record(_stop(state=AlgoState.LIVE))
    assert algos.get("sl1").state is AlgoState.EFFECTIVE  # type: ignore[union-attr]
    assert algos.get("sl1").algoId == "55"  # type: ignore[union-attr]
    assert not algos.set_state("unknown", AlgoState.CANCELED)
    assert algos.get("unknown") is None


def test_finished_stop_expires_after_retention(redis_client: redis_lib.Redis) -> None:
    store = AlgoStore(redis_client, Keys("test", "ret"), retention_s=60)
    store.record(_stop())
    assert redis_client.pttl(store.keys.algo("sl1")) == -1
    store.set_state("sl1", AlgoState.CANCELED)
    assert 0 < redis_client.pttl(store.keys.algo("sl1")) <= 60_000


def test_a_superseded_versions_report_leaves_the_live_stop_alone(algos: AlgoStore) -> None:
    """A grown stop lives on as version sl1v1; OKX's 'canceled' push for the replaced sl1 says nothing
    about the live one (ignored), while the live version's own report applies."""
    assert algos.record(_stop(algoId="10"), live_id="sl1v1")
    assert not algos.apply_report(_stop(algoId="10", state=AlgoState.CANCELED))
    assert [a.algoClOrdId for a in algos.working()] == ["sl1"]
    assert algos.apply_report(_stop("sl1v1", algoId="11", state=AlgoState.EFFECTIVE))
    assert algos.working() == [] and algos.get("sl1").state is AlgoState.EFFECTIVE  # type: ignore[union-attr]
