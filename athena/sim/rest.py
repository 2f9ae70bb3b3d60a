"""REST endpoint handlers: OKX /api/v5 paths -> Exchange calls. Each returns (code, msg, data)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from athena.sim.errors import msg
from athena.sim.history import h_funding_history, h_history_candles, h_history_mark_candles, h_history_trades
from athena.sim.util import BadParam, text

if TYPE_CHECKING:
    from athena.sim.server import SimServer

Result = tuple[str, str, list[Any]]
Handler = Callable[["SimServer", dict[str, str], Any], Result]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    handler: Handler
    private: bool
    limit: int  # requests per window (0 = none)
    window_s: float = 2.0
    per_inst: bool = False  # OKX counts it per UID + instId
    trade: bool = False  # replies carry inTime/outTime; subject to push_before_ack


def ok(data: list[Any]) -> Result:
    return "0", "", data


def items_result(items: list[dict[str, Any]], batch: bool) -> Result:
    bad = sum(1 for i in items if i.get("sCode") != "0")
    if not bad:
        return ok(items)
    if bad == len(items):
        return "1", msg("1"), items
    return ("2", msg("2"), items) if batch else ("1", msg("1"), items)


def _obj(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadParam("body", "50002")
    return body


def _list(body: Any, cap: int) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body or not all(isinstance(x, dict) for x in body):
        raise BadParam("body", "50002")
    if len(body) > cap:
        raise BadParam("body", "51000")
    return body


# -- public --------------------------------------------------------------------------------
def h_time(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok([{"ts": str(srv.exchange.now() + int(srv.skew_s * 1000))}])  # /sim/skew shifts the server clock


def h_system_status(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok(srv.exchange.system_status(q))


def h_price_limit(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    inst_id = text(q, "instId")
    if not inst_id:
        raise BadParam("instId", "50014")
    return ok([srv.exchange.price_limit(inst_id)])


def h_instruments(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    inst_type = text(q, "instType")
    if not inst_type:
        raise BadParam("instType", "50014")
    if inst_type != "SWAP":
        return ok([])
    inst_id, fam = text(q, "instId"), text(q, "instFamily") or text(q, "uly")
    rows = [
        si.row
        for si in srv.exchange.insts.values()
        if (not inst_id or si.instId == inst_id) and (not fam or si.row["instFamily"] == fam)
    ]
    return ok(rows)


def h_ticker(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    inst_id = text(q, "instId")
    if not inst_id:
        raise BadParam("instId", "50014")
    return ok([srv.exchange.ticker_json(inst_id)])


def h_tickers(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    if text(q, "instType") not in ("SWAP",):
        return ok([])
    return ok([srv.exchange.ticker_json(i) for i in srv.exchange.insts])


def h_books(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    inst_id = text(q, "instId")
    if not inst_id:
        raise BadParam("instId", "50014")
    return ok([srv.exchange.books_json(inst_id, int(text(q, "sz", "1") or 1))])


def h_trades(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok(srv.exchange.trades_json(text(q, "instId"), int(text(q, "limit", "100") or 100)))


def h_mark(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    ids = [text(q, "instId")] if text(q, "instId") else list(srv.exchange.insts)
    return ok([srv.exchange.mark_json(i) for i in ids])


def h_funding(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    inst_id = text(q, "instId")
    srv.exchange.market(inst_id)
    relayed = getattr(srv.exchange, "upstream_funding", {}).get(inst_id)  # a paper venue: the upstream's
    if relayed:
        return ok([relayed])
    now = srv.exchange.now()
    nxt = (now // 28_800_000 + 1) * 28_800_000
    return ok(
        [
            {
                "instType": "SWAP",
                "instId": inst_id,
                "fundingRate": "0.0001",
                "nextFundingRate": "",
                "fundingTime": str(nxt),
                "nextFundingTime": str(nxt + 28_800_000),
                "method": "current_period",
                "ts": str(now),
            }
        ]
    )


def h_currencies(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok([])


# -- account -------------------------------------------------------------------------------
def h_balance(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok([srv.exchange.balance(q)])


def h_positions(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok(srv.exchange.positions_view(q))


def h_config(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok([srv.exchange.account_config()])


def h_set_leverage(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok([srv.exchange.set_leverage(_obj(body))])


def h_leverage_info(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    ex = srv.exchange
    out = []
    for inst_id in text(q, "instId").split(","):
        ex.inst({"instId": inst_id})
        mgn = text(q, "mgnMode", "cross")
        sides = ["long", "short"] if mgn == "isolated" and ex.pos_mode == "long_short_mode" else ["net"]
        for side in sides:
            out.append(
                {
                    "instId": inst_id,
                    "mgnMode": mgn,
                    "posSide": side,
                    "lever": str(ex.lever_for(inst_id, mgn, side)),
                }
            )
    return ok(out)


def h_bills(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok(srv.exchange.bills_view(q))


def h_trade_fee(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok([srv.exchange.trade_fee(q)])


def h_set_pos_mode(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok([srv.exchange.set_position_mode(_obj(body))])


# -- trade ---------------------------------------------------------------------------------
def h_order(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return items_result([srv.place(_obj(body))], batch=False)


def h_batch_orders(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return items_result([srv.place(b) for b in _list(body, 20)], batch=True)


def h_cancel(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return items_result([srv.exchange.cancel_order(_obj(body))], batch=False)


def h_cancel_batch(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return items_result([srv.exchange.cancel_order(b) for b in _list(body, 20)], batch=True)


def h_amend(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return items_result([srv.exchange.amend_order(_obj(body))], batch=False)


def h_amend_batch(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return items_result([srv.exchange.amend_order(b) for b in _list(body, 20)], batch=True)


def h_get_order(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    o = srv.exchange.get_order(q)
    if o is None:
        return "51603", msg("51603"), []
    return ok([o])


def h_pending(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok(srv.exchange.orders_pending(q))


def h_history(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok(srv.exchange.orders_history(q))


def h_fills(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok(srv.exchange.fills_view(q))


def h_close(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok([srv.exchange.close_position(_obj(body))])


def h_caa(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok([srv.exchange.cancel_all_after(_obj(body))])


def h_order_algo(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return items_result([srv.exchange.place_algo(_obj(body))], batch=False)


def h_cancel_algos(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return items_result(srv.exchange.cancel_algos(_list(body, 10)), batch=True)


def h_algos_pending(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    return ok(srv.exchange.algos_list(q, pending=True))


def h_algos_history(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    if not text(q, "state") and not text(q, "algoId"):
        raise BadParam("state", "50014")
    return ok(srv.exchange.algos_list(q, pending=False))


def h_get_algo(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    a = srv.exchange.get_algo(q)
    if a is None:
        return "51603", msg("51603"), []
    return ok([a])


P = "/api/v5"
ROUTES: dict[str, Route] = {
    f"{P}/public/time": Route("GET", h_time, False, 10),
    f"{P}/system/status": Route("GET", h_system_status, False, 1, 5.0),
    f"{P}/public/price-limit": Route("GET", h_price_limit, False, 20),
    f"{P}/public/instruments": Route("GET", h_instruments, False, 20),
    f"{P}/public/mark-price": Route("GET", h_mark, False, 10),
    f"{P}/public/funding-rate": Route("GET", h_funding, False, 10),
    f"{P}/market/ticker": Route("GET", h_ticker, False, 20),
    f"{P}/market/tickers": Route("GET", h_tickers, False, 20),
    f"{P}/market/books": Route("GET", h_books, False, 40),
    f"{P}/market/trades": Route("GET", h_trades, False, 100),
    # history endpoints: OKX's published per-IP limits (docs/MARKETDATA.md)
    f"{P}/market/history-candles": Route("GET", h_history_candles, False, 20),
    f"{P}/market/history-trades": Route("GET", h_history_trades, False, 20),
    f"{P}/market/history-mark-price-candles": Route("GET", h_history_mark_candles, False, 10),
    f"{P}/public/funding-rate-history": Route("GET", h_funding_history, False, 10),
    f"{P}/asset/currencies": Route("GET", h_currencies, True, 6, 1.0),
    f"{P}/account/balance": Route("GET", h_balance, True, 10),
    f"{P}/account/positions": Route("GET", h_positions, True, 10),
    f"{P}/account/config": Route("GET", h_config, True, 5),
    f"{P}/account/set-leverage": Route("POST", h_set_leverage, True, 20),
    f"{P}/account/leverage-info": Route("GET", h_leverage_info, True, 20),
    f"{P}/account/set-position-mode": Route("POST", h_set_pos_mode, True, 5),
    f"{P}/account/trade-fee": Route("GET", h_trade_fee, True, 5),
    f"{P}/account/bills": Route("GET", h_bills, True, 5, 1.0),
    f"{P}/account/bills-archive": Route("GET", h_bills, True, 5),
    f"{P}/trade/order": Route("GET", h_get_order, True, 60, per_inst=True),
    f"{P}/trade/orders-pending": Route("GET", h_pending, True, 60),
    f"{P}/trade/orders-history": Route("GET", h_history, True, 40),
    f"{P}/trade/orders-history-archive": Route("GET", h_history, True, 20),
    f"{P}/trade/fills": Route("GET", h_fills, True, 60),
    f"{P}/trade/fills-history": Route("GET", h_fills, True, 10),
    f"{P}/trade/batch-orders": Route("POST", h_batch_orders, True, 300, trade=True),
    f"{P}/trade/cancel-order": Route("POST", h_cancel, True, 60, per_inst=True, trade=True),
    f"{P}/trade/cancel-batch-orders": Route("POST", h_cancel_batch, True, 300, trade=True),
    f"{P}/trade/amend-order": Route("POST", h_amend, True, 60, per_inst=True, trade=True),
    f"{P}/trade/amend-batch-orders": Route("POST", h_amend_batch, True, 300, trade=True),
    f"{P}/trade/close-position": Route("POST", h_close, True, 20, per_inst=True, trade=True),
    f"{P}/trade/cancel-all-after": Route("POST", h_caa, True, 1, 1.0),
    f"{P}/trade/order-algo": Route("POST", h_order_algo, True, 20, per_inst=True, trade=True),
    f"{P}/trade/cancel-algos": Route("POST", h_cancel_algos, True, 20, trade=True),
    f"{P}/trade/orders-algo-pending": Route("GET", h_algos_pending, True, 20),
    f"{P}/trade/orders-algo-history": Route("GET", h_algos_history, True, 20),
}
# Same path, other method.
POST_ROUTES: dict[str, Route] = {
    f"{P}/trade/order": Route("POST", h_order, True, 60, per_inst=True, trade=True),
}
GET_ALGO = Route("GET", h_get_algo, True, 20)


def find_route(method: str, path: str) -> Route | str | None:
    """The route, None if the path is unknown, or "405" if only the method is wrong."""
    if method == "POST" and path in POST_ROUTES:
        return POST_ROUTES[path]
    if method == "GET" and path == f"{P}/trade/order-algo":
        return GET_ALGO
    r = ROUTES.get(path)
    if r is None:
        return None
    return r if r.method == method else "405"
