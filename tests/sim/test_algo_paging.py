"""orders-algo-pending pages by algoId (`after`/`before`, newest first) like orders-pending, and the
gateway's paging collects every live stop exactly once (protect_positions relies on it: a stop
missed or counted twice is a position wrongly seen as unprotected or protected)."""

from __future__ import annotations

from athena.okx.ratelimit import RateLimiter
from athena.okx.rest import OkxRestGateway
from athena.sim.server import SimServer


def test_algos_pending_pages_by_algo_id() -> None:
    with SimServer(tick_interval_ms=0, rate_limits=False) as sim:
        sim.call(sim.market.step)
        for i in range(150):
            item = sim.call(
                sim.exchange.place_algo,
                {
                    "instId": "BTC-USDT-SWAP",
                    "tdMode": "cross",
                    "side": "sell",
                    "ordType": "conditional",
                    "sz": "0.01",
                    "slTriggerPx": "1000",
                    "slOrdPx": "-1",
                    "algoClOrdId": f"pg{i}",
                },
            )
            assert item["sCode"] == "0", item
        q = {"ordType": "conditional", "limit": "100"}
        first = sim.call(sim.exchange.algos_list, q, True)
        second = sim.call(sim.exchange.algos_list, {**q, "after": first[-1]["algoId"]}, True)
        assert len(first) == 100 and len(second) == 50
        assert not {r["algoId"] for r in first} & {r["algoId"] for r in second}
        back = sim.call(sim.exchange.algos_list, {**q, "before": second[0]["algoId"]}, True)
        assert [r["algoId"] for r in back][-1] == first[-1]["algoId"]
        with OkxRestGateway(
            base_url=sim.url,
            credentials=("sim-api-key", "sim-secret-key", "sim-passphrase"),
            rate_limiter=RateLimiter(enabled=False),
        ) as gw:
            got = [a.algoClOrdId for a in gw.algos_pending()]
        assert sorted(got) == sorted(f"pg{i}" for i in range(150))
