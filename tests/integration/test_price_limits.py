"""Stops and limit closes respect the instrument's price-limit band (the sim enforces it with 51006):
a trigger or a close price outside it is moved inside on purpose (logged, journaled), a close OKX still
refuses goes as a market order on purpose, an entry outside it is refused with its reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal as D
from typing import Any

import pytest

from athena.config import Settings
from athena.domain import OrderRequest, OrderState, OrdType, PosSide, Side, TdMode
from athena.engine import Engine
from athena.oms.stops import StopRequest
from athena.ops import placement
from athena.ops import stops as stop_ops
from athena.ops.price_band import PriceBands
from athena.sim.client import SimClient
from athena.sim.server import SimServer
from athena.wiring import account, orders_engine
from tests.senders import NoSender

BTC = "BTC-USDT-SWAP"
BUY_LMT, SELL_LMT = D("100500.0"), D("99500.0")


@pytest.fixture()
def banded(sim_settings: Callable[..., Settings]) -> Iterator[tuple[Engine, SimClient, SimServer]]:
    with SimServer(tick_interval_ms=0, rate_limits=False) as sim:
        admin = SimClient(sim.url)
        admin.admin("price", {"instId": BTC, "px": "100000"})
        admin.admin("price-limit", {"instId": BTC, "buyLmt": str(BUY_LMT), "sellLmt": str(SELL_LMT)})
        eng = orders_engine(account(sim_settings(sim, "band")), NoSender())
        try:
            yield eng, admin, sim
        finally:
            eng.close()


def long_position(admin: SimClient, cl: str, sz: str = "0.05") -> None:
    r = admin.post(
        "/api/v5/trade/order",
        {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": sz, "clOrdId": cl},
    )
    assert r["data"][0]["sCode"] == "0", r


def stop(cl: str, trigger: D, sz: str = "0.05") -> StopRequest:
    return StopRequest(
        algoClOrdId=f"sl{cl}",
        entryClOrdId=cl,
        instId=BTC,
        side=Side.SELL,
        posSide=PosSide.NET,
        sz=D(sz),
        slTriggerPx=trigger,
        tdMode=TdMode.CROSS,
        strategy="t",
    )


def test_a_stop_below_the_band_is_placed_at_its_edge(banded: tuple[Engine, SimClient, SimServer]) -> None:
    eng, admin, sim = banded
    long_position(admin, "pb1")
    out = stop_ops.ensure_stop(eng, stop("pb1", D("98000.0")))  # 2 % away, the band allows 0.5 %
    assert out.status == "placed" and "moved from 98000.0 to 99500" in out.detail
    [algo] = sim.exchange.state()["algos"]
    assert (algo["algoClOrdId"], D(algo["slTriggerPx"])) == ("slpb1", SELL_LMT)
    recorded = eng.algos.get("slpb1")
    assert recorded is not None and recorded.slTriggerPx == SELL_LMT  # the record says where it really is
    assert [e.kind for e in eng.journal.events(kind="price_band")] == ["price_band"]
    # a stop inside the band goes as asked, without asking for the band
    long_position(admin, "pb2")
    asked: list[str] = []
    real = eng.rest.price_limit
    eng.rest.price_limit = lambda instId: asked.append(instId) or real(instId)  # type: ignore[method-assign]
    eng.price_bands._bands.clear()
    assert stop_ops.ensure_stop(eng, stop("pb2", D("99600.0"))).detail == "" and asked == []


def test_protect_positions_keeps_its_stop_inside_the_band(
    banded: tuple[Engine, SimClient, SimServer],
) -> None:
    eng, admin, sim = banded
    long_position(admin, "pp1")
    admin.admin(
        "price-limit", {"instId": BTC, "buyLmt": "100200.0", "sellLmt": "99800.0"}
    )  # narrower than 1 %
    report = stop_ops.protect_positions(eng)
    assert report.failed == [] and len(report.placed) == 1
    assert D(report.placed[0]["slTriggerPx"]) == D("99800.0")
    assert [D(a["slTriggerPx"]) for a in sim.exchange.state()["algos"]] == [D("99800.0")]


def test_a_limit_close_below_the_band_is_moved_to_its_edge(
    banded: tuple[Engine, SimClient, SimServer],
) -> None:
    eng, admin, sim = banded
    long_position(admin, "lc1")
    close = OrderRequest(
        "lc1x", BTC, Side.SELL, OrdType.LIMIT, D("0.05"), D("99000.0"), reduceOnly=True, strategy="t"
    )
    out = placement.place(eng, close)
    assert out.status == "acked", out
    [o] = [x for x in sim.exchange.orders.values() if x.clOrdId == "lc1x"]
    assert o.px == SELL_LMT and o.state == "filled"  # at the band's edge it still crosses the bid
    assert sim.exchange.positions[(BTC, "net")].pos == 0


def test_a_close_refused_inside_the_listed_band_goes_at_market(
    banded: tuple[Engine, SimClient, SimServer],
) -> None:
    eng, admin, sim = banded
    long_position(admin, "lc2")
    # OKX refuses a price its listed band allows (the band moved between the two): once
    admin.admin(
        "faults", {"rest_scode": {"count": 1, "path": "/api/v5/trade/order"}, "rest_scode_code": "51006"}
    )
    close = OrderRequest(
        "lc2x", BTC, Side.SELL, OrdType.LIMIT, D("0.05"), D("99900.0"), reduceOnly=True, strategy="t"
    )
    out = placement.place(eng, close)
    assert out.status == "acked", out
    [o] = [x for x in sim.exchange.orders.values() if x.clOrdId == "lc2x"]
    assert o.ordType == "market" and o.state == "filled"
    assert sim.exchange.positions[(BTC, "net")].pos == 0
    assert "market" in eng.journal.events(kind="price_band")[-1].message


def test_an_entry_outside_the_band_is_refused_with_its_reason(
    banded: tuple[Engine, SimClient, SimServer],
) -> None:
    eng, _, sim = banded
    eng.marks.set(BTC, D("100000.0"))
    entry = OrderRequest(
        "en1",
        BTC,
        Side.BUY,
        OrdType.LIMIT,
        D("0.05"),
        D("101000.0"),
        strategy="scalpbtc",
        stop_loss_px=D("100400.0"),
    )
    out = placement.place(eng, entry)
    assert out.status == "rejected" and "51006" in out.detail
    order = eng.store.get("en1")
    assert order is not None and order.state is OrderState.REJECTED and "51006" in order.reason
    assert not [x for x in sim.exchange.orders.values() if x.clOrdId == "en1"]


def test_price_bands_are_kept_a_few_seconds() -> None:
    class Rest:
        calls = 0

        def price_limit(self, instId: str) -> Any:
            Rest.calls += 1
            from athena.okx.types import PriceLimit

            return PriceLimit(instId, BUY_LMT, SELL_LMT, True)

    now = [100.0]
    bands = PriceBands(Rest(), ttl_s=5.0, clock=lambda: now[0])
    assert bands.cached(BTC) is None
    band = bands.fetch(BTC)
    assert bands.cached(BTC) is band and Rest.calls == 1
    now[0] += 5.1
    assert bands.cached(BTC) is None
