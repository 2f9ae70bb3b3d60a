"""Orders and algo orders as flat Redis hashes of strings.

Decimals are stored as str(Decimal) so they round-trip exactly (exponent included); an absent
value is the empty string, never "0"; bools are "1"/"0".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from athena.domain.enums import AlgoState, OrderState, OrdType, PosSide, Side, TdMode
from athena.domain.money import ZERO, D
from athena.domain.orders import AlgoOrder, Order, OrderIntentError, OrderRequest, OrderUpdate
from athena.state.scripts import s

log = logging.getLogger(__name__)


def dec(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def opt_dec(raw: str) -> Decimal | None:
    return None if raw == "" else D(raw)


def decode(raw: Mapping[Any, Any] | list[Any]) -> dict[str, str]:
    """HGETALL reply (a mapping, or the flat list a Lua script returns) as str -> str."""
    if isinstance(raw, Mapping):
        return {s(k): s(v) for k, v in raw.items()}
    return {s(raw[i]): s(raw[i + 1]) for i in range(0, len(raw), 2)}


# -- orders ---------------------------------------------------------------------------------
def order_to_hash(order: Order) -> dict[str, str]:
    r = order.req
    return {
        "clOrdId": r.clOrdId,
        "instId": r.instId,
        "side": str(r.side),
        "ordType": str(r.ordType),
        "sz": dec(r.sz),
        "px": dec(r.px),
        "tdMode": str(r.tdMode),
        "posSide": str(r.posSide),
        "reduceOnly": "1" if r.reduceOnly else "0",
        "strategy": r.strategy,
        "stop_loss_px": dec(r.stop_loss_px),
        "take_profit_px": dec(r.take_profit_px),
        "tag": r.tag,
        "state": str(order.state),
        "rank": str(order.state.rank),
        "ordId": order.ordId or "",
        "accFillSz": dec(order.accFillSz),
        "avgPx": dec(order.avgPx),
        "fee": dec(order.fee),
        "reason": order.reason,
        "cTime": str(order.cTime),
        "uTime": str(order.uTime),
    }


def external_order_hash(u: OrderUpdate) -> dict[str, str]:
    """The first record of an order we did not create (placed elsewhere, or before a restart):
    whatever the update says about the request; the state fields start at CREATED and the
    update itself is then applied on top."""
    return {
        "clOrdId": u.clOrdId,
        "instId": u.instId,
        "side": str(u.side) if u.side else "",
        "ordType": str(u.ordType) if u.ordType else "",
        "sz": dec(u.sz),
        "px": dec(u.px),
        "tdMode": str(TdMode.CROSS),
        "posSide": str(u.posSide or PosSide.NET),
        "reduceOnly": "1" if u.reduceOnly else "0",
        "strategy": "",
        "stop_loss_px": "",
        "take_profit_px": "",
        "tag": "",
        "state": str(OrderState.CREATED),
        "rank": str(OrderState.CREATED.rank),
        "ordId": "",
        "accFillSz": "0",
        "avgPx": "",
        "fee": "",
        "reason": "external",
        "cTime": "0",  # unknown; first-seen time would depend on arrival order
        "uTime": "0",
    }


def order_from_hash(h: Mapping[str, str]) -> Order:
    fields: dict[str, Any] = {
        "clOrdId": h["clOrdId"],
        "instId": h["instId"],
        "side": Side(h["side"]) if h.get("side") else Side.BUY,
        "ordType": OrdType(h["ordType"])
        if h.get("ordType")
        else (OrdType.LIMIT if h.get("px") else OrdType.MARKET),
        "sz": opt_dec(h.get("sz", "")) or D(h.get("accFillSz") or "0"),
        "px": opt_dec(h.get("px", "")),
        "tdMode": TdMode(h.get("tdMode") or "cross"),
        "posSide": PosSide(h.get("posSide") or "net"),
        "reduceOnly": h.get("reduceOnly") == "1",
        "strategy": h.get("strategy", ""),
        "stop_loss_px": opt_dec(h.get("stop_loss_px", "")),
        "take_profit_px": opt_dec(h.get("take_profit_px", "")),
        "tag": h.get("tag", ""),
    }
    try:
        req = OrderRequest(**fields)
    except OrderIntentError:
        # A record of what the exchange reported about an external order, not an intent:
        # keep it as told (e.g. sz unknown) instead of refusing to read it.
        if not h.get("side"):
            log.warning("order %s: external order without side", h["clOrdId"])
        req = _unchecked_request(fields)
    return Order(
        req=req,
        state=OrderState(h["state"]),
        ordId=h.get("ordId") or None,
        accFillSz=D(h.get("accFillSz") or "0"),
        avgPx=opt_dec(h.get("avgPx", "")),
        fee=opt_dec(h.get("fee", "")) or ZERO,
        reason=h.get("reason", ""),
        cTime=int(h.get("cTime") or 0),
        uTime=int(h.get("uTime") or 0),
    )


def _unchecked_request(fields: dict[str, Any]) -> OrderRequest:
    req = object.__new__(OrderRequest)
    for name in OrderRequest.__dataclass_fields__:
        value = fields.get(name, OrderRequest.__dataclass_fields__[name].default)
        object.__setattr__(req, name, value)
    return req


# -- algo orders ----------------------------------------------------------------------------
def algo_to_hash(a: AlgoOrder) -> dict[str, str]:
    return {
        "algoClOrdId": a.algoClOrdId,
        "instId": a.instId,
        "side": str(a.side),
        "sz": dec(a.sz),
        "closeFraction": dec(a.closeFraction),
        "slTriggerPx": dec(a.slTriggerPx),
        "state": str(a.state),
        "algoId": a.algoId or "",
        "posSide": str(a.posSide),
        "tdMode": str(a.tdMode),
        "slTriggerPxType": a.slTriggerPxType,
        "reduceOnly": "1" if a.reduceOnly else "0",
        "uTime": str(a.uTime),
    }


def algo_from_hash(h: Mapping[str, str]) -> AlgoOrder:
    return AlgoOrder(
        algoClOrdId=h["algoClOrdId"],
        instId=h["instId"],
        side=Side(h["side"]),
        sz=opt_dec(h["sz"]),
        slTriggerPx=D(h["slTriggerPx"]),
        state=AlgoState(h["state"]),
        algoId=h.get("algoId") or None,
        posSide=PosSide(h.get("posSide") or "net"),
        tdMode=TdMode(h.get("tdMode") or "cross"),
        slTriggerPxType=h.get("slTriggerPxType") or "last",
        reduceOnly=h.get("reduceOnly", "1") == "1",
        uTime=int(h.get("uTime") or 0),
        closeFraction=opt_dec(h.get("closeFraction", "")),
    )
