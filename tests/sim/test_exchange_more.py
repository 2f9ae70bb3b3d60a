"""Engine: algo stops, cancel-all-after, isolated margin, liquidation, amend, pushes, determinism."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from athena.sim.exchange import Exchange
from athena.sim.market import SyntheticMarket
from tests.sim.helpers import BTC, Clock, o, pos


def algo(**kw: Any) -> dict[str, Any]:
    b = {
        "instId": BTC,
        "tdMode": "cross",
        "side": "sell",
        "ordType": "conditional",
        "sz": "0.1",
        "slTriggerPx": "98000",
        "slOrdPx": "-1",
    }
    b.update(kw)
    return b


def test_stop_loss_triggered_by_last_closes_position() -> None:
    ex = Exchange(seed=3, clock=Clock())
    ex.place_order(o(sz="0.1"))
    r = ex.place_algo(algo(algoClOrdId="sl1"))
    assert r["sCode"] == "0" and len(r["algoId"]) == 19
    assert [a["algoId"] for a in ex.algos_list({"ordType": "conditional,oco"}, True)] == [r["algoId"]]
    ex.on_trade(BTC, D("98500"), D("0.01"), "sell")
    assert pos(ex) == D("0.1")
    ex.set_price(BTC, D("97900"))
    assert pos(ex) == 0
    a = ex.get_algo({"algoClOrdId": "sl1"})
    assert a is not None and a["state"] == "effective" and a["actualSide"] == "sl" and a["ordId"]
    child = ex.get_order({"instId": BTC, "ordId": a["ordId"]})
    assert child["algoId"] == r["algoId"] and child["state"] == "filled" and child["ordType"] == "market"
    assert ex.algos_list({"ordType": "conditional"}, True) == []


def test_stop_by_mark_ignores_last_and_limit_ord_px() -> None:
    ex = Exchange(seed=3, clock=Clock())
    ex.place_order(o(side="sell", sz="0.2"))
    ex.place_algo(algo(side="buy", sz="0.2", slTriggerPx="101000", slOrdPx="-1", slTriggerPxType="mark"))
    ex.on_trade(BTC, D("101500"), D("0.01"), "buy")  # last beyond the trigger; mark is not
    assert pos(ex) == D("-0.2")
    ex.set_mark(BTC, D("101100"))
    assert pos(ex) == 0


def test_close_fraction_stop_and_cancel_with_position() -> None:
    ex = Exchange(seed=3, clock=Clock())
    ex.place_order(o(sz="0.3"))
    r = ex.place_algo(algo(sz="", closeFraction="1", reduceOnly=True))
    assert r["sCode"] == "0"
    ex.place_order(o(side="sell", sz="0.3"))  # position closed by hand -> the close-all stop dies with it
    assert ex.algos[r["algoId"]].state == "canceled"
    ex.place_order(o(sz="0.4"))
    r = ex.place_algo(algo(sz="", closeFraction="1", reduceOnly=True))
    ex.set_price(BTC, D("97000"))
    assert pos(ex) == 0 and ex.algos[r["algoId"]].state == "effective"
    assert ex.algos[r["algoId"]].actualSz == D("0.4")


def test_take_profit_and_trigger_orders_and_cancel() -> None:
    ex = Exchange(seed=3, clock=Clock())
    ex.place_order(o(sz="0.1"))
    tp = ex.place_algo(algo(slTriggerPx="", slOrdPx="", tpTriggerPx="102000", tpOrdPx="-1"))
    trig = ex.place_algo(
        {
            "instId": BTC,
            "tdMode": "cross",
            "side": "buy",
            "ordType": "trigger",
            "sz": "0.05",
            "triggerPx": "103000",
            "orderPx": "-1",
        }
    )
    other = ex.place_algo(algo(slTriggerPx="90000"))
    assert ex.cancel_algos([{"instId": BTC, "algoId": other["algoId"]}])[0]["sCode"] == "0"
    assert ex.cancel_algos([{"instId": BTC, "algoId": other["algoId"]}])[0]["sCode"] != "0"
    ex.set_price(BTC, D("102100"))
    assert ex.algos[tp["algoId"]].state == "effective" and pos(ex) == 0
    assert ex.algos[trig["algoId"]].state == "live"
    ex.set_price(BTC, D("103100"))
    assert ex.algos[trig["algoId"]].state == "effective" and pos(ex) == D("0.05")
    assert ex.place_algo(algo(sz="0.015"))["sCode"] == "51121"
    assert ex.place_algo(algo(slTriggerPx=""))["sCode"] == "50014"
    assert ex.place_algo(algo(algoClOrdId="x1"))["sCode"] == "0"
    assert ex.place_algo(algo(algoClOrdId="x1"))["sCode"] == "51065"


def test_failed_trigger_is_order_failed() -> None:
    ex = Exchange(seed=3, clock=Clock())
    r = ex.place_algo(algo(reduceOnly=True))  # no position: the reduce-only child is rejected
    ex.set_price(BTC, D("97000"))
    a = ex.algos[r["algoId"]]
    assert a.state == "order_failed" and a.failCode == "51170"


def test_cancel_all_after_fires_on_clock() -> None:
    clock = Clock()
    ex = Exchange(seed=3, clock=clock)
    a = ex.place_order(o(ord_type="limit", px="90000"))
    b = ex.place_order(o(ord_type="limit", px="90000", tag="keep"))
    res = ex.cancel_all_after({"timeOut": 10})
    assert res["triggerTime"] == str(clock.t // 1000 + 10) and res["ts"] == str(clock.t // 1000)
    clock.t += 9_000
    ex.poll()
    assert ex.orders[a["ordId"]].state == "live"
    ex.cancel_all_after({"timeOut": "10"})  # re-arm
    clock.t += 9_000
    ex.poll()
    assert ex.orders[a["ordId"]].state == "live"
    clock.t += 2_000
    ex.poll()
    assert ex.orders[a["ordId"]].state == "canceled" and ex.orders[a["ordId"]].cancelSource == "20"
    assert ex.orders[b["ordId"]].state == "canceled"
    c = ex.place_order(o(ord_type="limit", px="90000", tag="t1"))
    d = ex.place_order(o(ord_type="limit", px="90000", tag="t2"))
    ex.cancel_all_after({"timeOut": 10, "tag": "t1"})
    clock.t += 11_000
    ex.poll()
    assert ex.orders[c["ordId"]].state == "canceled" and ex.orders[d["ordId"]].state == "live"
    ex.cancel_all_after({"timeOut": 10})
    assert ex.cancel_all_after({"timeOut": 0})["triggerTime"] == "0"
    clock.t += 20_000
    ex.poll()
    assert ex.orders[d["ordId"]].state == "live"


def test_isolated_margin_and_liquidation() -> None:
    ex = Exchange(seed=3, clock=Clock())
    ex.set_leverage({"instId": BTC, "lever": "50", "mgnMode": "isolated"})
    ex.place_order(o(tdMode="isolated", sz="1"))
    p = ex.positions[(BTC, "net")]
    assert p.mgnMode == "isolated" and p.lever == 50
    assert p.margin == D("0.01") * p.avgPx / 50  # type: ignore[operator]
    row = ex.positions_view({})[0]
    assert row["margin"] and row["imr"] == "" and D(row["liqPx"]) < p.avgPx  # type: ignore[operator]
    liq = D(row["liqPx"])
    pushes: list[tuple[str, list[dict[str, Any]]]] = []
    ex.add_listener(lambda c, a, d: pushes.append((c, d)))
    ex.set_mark(BTC, liq + 50)
    assert pos(ex) == D(1)
    ex.set_mark(BTC, liq - 1)
    assert pos(ex) == 0
    orders = [d[0] for c, d in pushes if c == "orders"]
    assert orders[-1]["category"] == "full_liquidation" and orders[-1]["state"] == "filled"


def test_cross_liquidation_when_equity_below_maintenance() -> None:
    ex = Exchange(seed=3, clock=Clock(), initial_usdt=D(1000))
    ex.set_leverage({"instId": BTC, "lever": "100", "mgnMode": "cross"})
    ex.place_order(o(sz="9"))  # ~9000 USDT notional on 1000 equity
    ex.set_mark(BTC, D("95000"))
    assert pos(ex) == D(9)
    ex.set_mark(BTC, D("89000"))
    assert pos(ex) == 0 and ex.cash < D(100)


def test_margin_check_and_amend() -> None:
    ex = Exchange(seed=3, clock=Clock())
    r = ex.place_order(o(ord_type="post_only", px="99000", sz="1", clOrdId="am"))
    assert ex.amend_order({"instId": BTC, "clOrdId": "am", "newSz": "2", "reqId": "q1"})["sCode"] == "0"
    assert ex.orders[r["ordId"]].sz == 2
    assert ex.amend_order({"instId": BTC, "clOrdId": "am", "newPx": "100500"})["sCode"] == "51511"
    assert ex.amend_order({"instId": BTC, "clOrdId": "am", "newSz": "0.015"})["sCode"] == "51121"
    ex.cancel_order({"instId": BTC, "ordId": r["ordId"]})
    assert ex.amend_order({"instId": BTC, "ordId": r["ordId"], "newSz": "3"})["sCode"] == "51503"
    lim = ex.place_order(o(ord_type="limit", px="99000", sz="1"))
    ask = ex.markets[BTC].best_ask
    ex.amend_order({"instId": BTC, "ordId": lim["ordId"], "newPx": str(ask)})  # now crosses: takes
    assert ex.orders[lim["ordId"]].state == "filled"


def test_pushes_lifecycle_and_wants_filter() -> None:
    ex = Exchange(seed=3, clock=Clock())
    got: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
    ex.add_listener(lambda c, a, d: got.append((c, a, d)))
    ex.set_wants(lambda ch, inst: ch in ("orders", "positions", "account"))
    ex.place_order(o(sz="0.02", clOrdId="pp"))
    chans = [c for c, _, _ in got]
    assert chans == ["orders", "orders", "positions", "account"]
    assert [d[0]["state"] for c, _, d in got if c == "orders"] == ["live", "filled"]
    assert got[0][1]["instFamily"] == "BTC-USDT"


def test_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[str]:
        ex = Exchange(seed=seed, clock=Clock())
        mkt = SyntheticMarket(ex, seed=seed)
        out = []
        ex.place_order(o(ord_type="limit", px="99990", sz="0.5"))
        for _ in range(50):
            mkt.step()
            out.append(f"{ex.markets[BTC].best_bid}/{ex.markets[BTC].best_ask}/{pos(ex)}")
        return out + [r["ordId"] for r in ex.orders_history({})]

    assert run(5) == run(5)
    assert run(5) != run(6)
