"""ops.stops.ensure_stop places a first stop without listing pending algos first; an attempt that
placed it and died before recording is settled by the exchange's duplicate-id refusal (51065)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from athena.config import load_settings
from athena.domain import OrderRequest, OrdType, PosSide, Side, TdMode
from athena.engine import Engine
from athena.oms.stops import StopRequest
from athena.ops import placement
from athena.ops import stops as stop_ops
from athena.sim.server import SimServer

BTC = "BTC-USDT-SWAP"
_accounts = itertools.count(1)


class NoSender:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected send: {name}")


@pytest.fixture()
def engine(redis_url: str, tmp_path: Path) -> Iterator[Engine]:
    sim = SimServer(tick_interval_ms=0).start()
    sim.call(sim.market.step)
    env = {"ATHENA_ENV": "test", "REDIS_URL": redis_url, "ATHENA_DB_URL": f"sqlite:///{tmp_path / 'j.db'}",
           "ATHENA_ACCOUNT": f"stopfast{next(_accounts)}", "OKX_REST_URL": sim.url}
    eng = Engine(load_settings(env="test", environ=env, dotenv=False), role="orders", sender=NoSender())
    try:
        yield eng
    finally:
        eng.close()
        sim.stop()


def test_first_stop_placed_then_covered_then_grown(engine: Engine) -> None:
    placement.place(engine, OrderRequest("fe1", BTC, Side.BUY, OrdType.MARKET, Decimal("0.05"), None, strategy="t"))
    mark = engine.rest.ticker(BTC).last
    sl = engine.instruments[BTC].px_down(mark * Decimal("0.98"))

    def req(sz: str) -> StopRequest:
        return StopRequest(algoClOrdId="slfe1", entryClOrdId="fe1", instId=BTC, side=Side.SELL, posSide=PosSide.NET,
                           sz=Decimal(sz), slTriggerPx=sl, tdMode=TdMode.CROSS, strategy="t")

    calls: list[str] = []
    real = engine.rest.algos_pending
    engine.rest.algos_pending = lambda *a, **kw: calls.append("list") or real(*a, **kw)  # type: ignore[method-assign]
    assert stop_ops.ensure_stop(engine, req("0.02")).status == "placed"
    assert calls == []  # the first stop goes straight to the exchange
    assert stop_ops.ensure_stop(engine, req("0.02")).status == "covered"
    engine.redis.delete(stop_ops._version_key(engine, "slfe1"))  # an attempt that died before recording
    assert stop_ops.ensure_stop(engine, req("0.02")).status == "covered"  # 51065 -> compared, not doubled
    out = stop_ops.ensure_stop(engine, req("0.05"))
    assert (out.status, out.algoClOrdId) == ("amended", "slfe1v1")
    assert [(a.algoClOrdId, a.sz) for a in real(BTC)] == [("slfe1v1", Decimal("0.05"))]
