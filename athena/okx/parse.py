"""Pure parsers of OKX V5 JSON into domain types. Shared by the gateways and the tests.

Rules: numbers are parsed from OKX strings into Decimal (a JSON float is refused); "" means absent
and becomes None, never 0; a malformed payload raises ParseError (never KeyError/TypeError).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from athena.domain import (
    AlgoOrder,
    AlgoState,
    BookTop,
    Instrument,
    InstrumentError,
    Level,
    OrderRequest,
    OrderState,
    OrderUpdate,
    OrdType,
    Position,
    PosMode,
    PosSide,
    Side,
    TdMode,
    Ticker,
    Trade,
)
from athena.domain.money import ZERO, BadNumber
from athena.fastpath.order_draft import RETYPE, OrderUpdateDraft, constructed
from athena.okx.errors import ParseError
from athena.okx.types import (
    AccountConfig,
    Balance,
    BalanceDetail,
    Bill,
    CancelAllAfter,
    ClosePositionAck,
    LeverageInfo,
    Maintenance,
    OkxFill,
    OrderAck,
    PriceLimit,
    TradeFee,
)

log = logging.getLogger(__name__)

_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, InvalidOperation, OverflowError)


def loads(raw: str | bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None


# -- field helpers -------------------------------------------------------------------------------
def _dec(value: Any, key: str) -> Decimal:
    if type(value) is not str:  # OKX numbers are strings; a float would lose precision
        raise ParseError(f"{key}: expected a decimal string, got {type(value).__name__}")
    if value == "":
        raise ParseError(f"{key}: missing")
    d = Decimal(value)
    if not d.is_finite():
        raise ParseError(f"{key}: not a finite number")
    return d


def req_d(row: dict[str, Any], key: str) -> Decimal:
    return _dec(row.get(key), key)


def opt_d(row: dict[str, Any], key: str) -> Decimal | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    return _dec(value, key)


def opt_s(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    return str(value)


def req_s(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None or value == "":
        raise ParseError(f"{key}: missing")
    return str(value)


def as_int(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    return int(value)


def as_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise ParseError(f"not a boolean: {value!r}")


def _enum(cls: Any, value: Any, key: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return cls(value)
    except ValueError:
        raise ParseError(f"{key}: unknown value {value!r}") from None


def _obj(row: Any, what: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ParseError(f"{what}: expected an object, got {type(row).__name__}")
    return row


# -- reference data ------------------------------------------------------------------------------
def instrument(row: Any) -> Instrument:
    row = _obj(row, "instrument")
    try:
        return Instrument.from_okx(row)
    except (InstrumentError, BadNumber, *_ERRORS) as exc:
        raise ParseError(f"instrument {row.get('instId')!r}: {exc}") from None


# -- orders --------------------------------------------------------------------------------------
_STATES: dict[str, OrderState] = {**{st.value: st for st in OrderState}, "mmp_canceled": OrderState.CANCELED}
_SIDES: dict[str, Side] = {v.value: v for v in Side}
_POS_SIDES: dict[str, PosSide] = {v.value: v for v in PosSide}
_ORD_TYPES: dict[str, OrdType] = {v.value: v for v in OrdType}


def _d(value: Any, key: str) -> Decimal | None:
    """opt_d on a value already fetched (the order hot path: no second dict lookup)."""
    if value is None or value == "":
        return None
    return _dec(value, key)


def _s(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _num(value: Any, key: str) -> Decimal:
    """A present (not None, not "") OKX number -> finite Decimal; a float, "NaN", ... -> ParseError."""
    if type(value) is not str:
        raise ParseError(f"{key}: expected a decimal string, got {type(value).__name__}")
    d = Decimal(value)
    if d.is_finite():
        return d
    raise ParseError(f"{key}: not a finite number")


# Order prices and sizes repeat: every push about an order repeats its px and sz, sizes are a few lot
# multiples, resting prices sit on a tick grid. OKX string -> its Decimal, built once (a Decimal is
# immutable, so one instance serves every order); only finite numbers get in; bounded.
_PX_SZ: dict[str, Decimal] = {}
_PX_SZ_MAX = 4096


def _px_sz(value: str, key: str) -> Decimal:
    d = _num(value, key)
    if len(_PX_SZ) >= _PX_SZ_MAX:
        _PX_SZ.clear()
    _PX_SZ[value] = d
    return d


_new = object.__new__
# The keys order_update subscripts (REST and WS order objects carry them all); a row lacking some (a
# test's, a sparse push) is read as {**_ORDER_KEYS, **row}: a missing field is None, exactly as "".
_ORDER_KEYS: dict[str, None] = dict.fromkeys(
    (
        "state",
        "clOrdId",
        "algoClOrdId",
        "instId",
        "ordId",
        "accFillSz",
        "avgPx",
        "fillSz",
        "fillPx",
        "tradeId",
        "fee",
        "feeCcy",
        "side",
        "posSide",
        "sz",
        "px",
        "ordType",
        "reduceOnly",
        "pnl",
        "uTime",
    )
)


_RETYPE = RETYPE  # athena/fastpath/order_draft.py: the draft becomes the OrderUpdate, or is copied into one


def order_update(row: Any, source: str = "ws") -> OrderUpdate:
    """An order object (REST GET / orders-pending / WS orders push) -> OrderUpdate.

    The hot path of reconcile pages (100 rows a page) and order pushes, hence spelled out: one
    subscript per field (a missing key falls back to the slow path once), "" and "0" (what OKX sends
    in every unfilled order) tested before any Decimal is built, px/sz memoized, enums by table, and the
    frozen OrderUpdate filled through its mutable twin OrderUpdateDraft instead of the dataclass __init__'s
    25 object.__setattr__ calls. Output identical to building OrderUpdate(...) field by field
    (tests/unit/test_parse_fast.py)."""
    if type(row) is not dict:
        row = _obj(row, "order")
    try:
        v = row["state"]
        state = _STATES.get(v) if type(v) is str else None
        if state is None:
            state = _state_from_sizes(row, v)
        o: Any = _new(OrderUpdateDraft)
        o.state = state
        v = row["clOrdId"]
        o.clOrdId = v if type(v) is str else str(v or "")
        v = row["algoClOrdId"]
        o.algoClOrdId = v if type(v) is str else str(v or "")
        v = row["instId"]
        if v is None or v == "":
            raise ParseError("instId: missing")
        o.instId = v if type(v) is str else str(v)
        v = row["ordId"]
        o.ordId = v if type(v) is str and v else _s(v)

        v = row["accFillSz"]
        if v is None or v == "":
            o.accFillSz = None
            filled = False
        elif v == "0":
            o.accFillSz = ZERO
            filled = False
        else:
            acc = o.accFillSz = _num(v, "accFillSz")
            filled = acc > ZERO
        v = row["avgPx"]
        if v is None or v == "" or v == "0":
            o.avgPx = None  # "" (REST) or "0" (WS) before any fill: no price
        else:
            avg = _num(v, "avgPx")
            o.avgPx = avg if filled and avg != ZERO else None
        v = row["fillSz"]
        if v is None or v == "":
            o.fillSz = None
            has_fill = False
        elif v == "0":
            o.fillSz = ZERO
            has_fill = False
        else:
            fill_sz = o.fillSz = _num(v, "fillSz")
            has_fill = fill_sz > ZERO
        if has_fill:  # the fill this report carries
            o.fillPx = _d(row["fillPx"], "fillPx")
            o.tradeId = _s(row["tradeId"])
            o.fillFee = _d(row.get("fillFee"), "fillFee")  # WS only
            o.execType = _s(row.get("execType"))  # WS only
        else:
            o.fillPx = o.tradeId = o.fillFee = o.execType = None
        v = row["fee"]
        o.fee = None if v is None or v == "" else ZERO if v == "0" else _num(v, "fee")
        v = row["feeCcy"]
        o.feeCcy = v if type(v) is str and v else _s(v)

        v = row["side"]
        o.side = side = _SIDES.get(v)
        if side is None and v is not None and v != "":
            raise ParseError(f"side: unknown value {v!r}")
        v = row["posSide"]
        o.posSide = pos_side = _POS_SIDES.get(v)
        if pos_side is None and v is not None and v != "":
            raise ParseError(f"posSide: unknown value {v!r}")
        v = row["sz"]
        if type(v) is str and v:  # the two numbers every order has: memoized (_PX_SZ)
            d = _PX_SZ.get(v)
            o.sz = d if d is not None else _px_sz(v, "sz")
        else:
            o.sz = None if v is None or v == "" else _num(v, "sz")
        v = row["px"]
        if type(v) is str and v:
            d = _PX_SZ.get(v)
            o.px = d if d is not None else _px_sz(v, "px")
        else:
            o.px = None if v is None or v == "" else _num(v, "px")
        v = row["ordType"]
        o.ordType = _ORD_TYPES.get(v) if type(v) is str else None
        v = row["reduceOnly"]
        if v == "false" or v is False:
            o.reduceOnly = False
        elif v == "true" or v is True:
            o.reduceOnly = True
        elif v is None or v == "":
            o.reduceOnly = None
        else:
            raise ParseError(f"not a boolean: {v!r}")
        v = row["pnl"]
        o.pnl = None if v is None or v == "" else ZERO if v == "0" else _num(v, "pnl")
        v = row.get("sCode")  # rarely sent
        o.sCode = None if v is None else _s(v)
        v = row.get("sMsg")
        o.sMsg = None if v is None else _s(v)
        v = row["uTime"]
        o.uTime = 0 if v is None or v == "" else int(v)
        o.source = source
        if _RETYPE:
            o.__class__ = OrderUpdate  # now a genuine frozen OrderUpdate
            update: OrderUpdate = o
            return update
        return constructed(o)
    except KeyError as exc:
        if row.keys() >= _ORDER_KEYS.keys():
            raise ParseError(f"order {row.get('clOrdId')!r}: {exc!r}") from None
        return order_update({**_ORDER_KEYS, **row}, source)
    except ParseError:
        raise
    except _ERRORS as exc:
        raise ParseError(f"order {row.get('clOrdId')!r}: {exc}") from None


# Order states OKX may add after this code was written: each logged once (bounded: a feed of garbage
# states must not grow it without end).
_UNKNOWN_STATES: set[str] = set()
_UNKNOWN_STATES_MAX = 64


def _state_from_sizes(row: dict[str, Any], value: Any) -> OrderState:
    """A state Athena does not know: a report carrying fills must still book them (refusing it would lose
    them on the WebSocket and again on every REST reconcile). The state is derived from the sizes:
    accFillSz == sz -> filled, else partially_filled (never terminal unless the fills prove it; ranks
    only go up, so a later known state still applies). Without a fill there is nothing to keep: refused."""
    acc = _d(row.get("accFillSz"), "accFillSz")
    if type(value) is not str or not value or acc is None or acc <= ZERO:
        raise ParseError(f"order state: unknown value {value!r}")
    sz = _d(row.get("sz"), "sz")
    state = OrderState.FILLED if sz is not None and acc >= sz else OrderState.PARTIALLY_FILLED
    if value not in _UNKNOWN_STATES and len(_UNKNOWN_STATES) < _UNKNOWN_STATES_MAX:
        _UNKNOWN_STATES.add(value)
        log.warning(
            "order state %r unknown to Athena: read as %s from accFillSz/sz (logged once)", value[:40], state
        )
    return state


def order_ack(item: Any, req: OrderRequest, source: str = "rest_ack") -> OrderUpdate:
    """An accepted place-order item ({clOrdId, ordId, sCode "0", ts}) -> OrderUpdate(LIVE).

    Accepted means the exchange holds the order; it may already have filled, which the orders
    channel or a query reports (ranks never go down, so LIVE cannot undo a later FILLED).
    """
    item = _obj(item, "order ack")
    echoed = item.get("clOrdId")
    if echoed not in (None, "", req.clOrdId):  # never book an ack under an id we did not send
        raise ParseError(f"order ack: clOrdId {str(echoed)[:40]!r} for the order {req.clOrdId!r}")
    try:
        return OrderUpdate(
            clOrdId=req.clOrdId,
            instId=req.instId,
            state=OrderState.LIVE,
            ordId=opt_s(item, "ordId"),
            side=req.side,
            posSide=req.posSide,
            sz=req.sz,
            px=req.px,
            ordType=req.ordType,
            reduceOnly=req.reduceOnly,
            sCode=opt_s(item, "sCode"),
            sMsg=opt_s(item, "sMsg"),
            uTime=as_int(item.get("ts")),
            source=source,
        )
    except _ERRORS as exc:
        raise ParseError(f"order ack: {exc}") from None


def order_rejected(req: OrderRequest, sCode: str, sMsg: str, source: str = "rest_ack") -> OrderUpdate:
    return OrderUpdate(
        clOrdId=req.clOrdId,
        instId=req.instId,
        state=OrderState.REJECTED,
        side=req.side,
        posSide=req.posSide,
        sz=req.sz,
        px=req.px,
        ordType=req.ordType,
        reduceOnly=req.reduceOnly,
        sCode=sCode or None,
        sMsg=sMsg or None,
        source=source,
    )


def order_ack_plain(item: Any) -> OrderAck:
    """cancel/amend item -> OrderAck."""
    item = _obj(item, "ack")
    try:
        return OrderAck(
            clOrdId=str(item.get("clOrdId") or ""),
            ordId=str(item.get("ordId") or ""),
            ts=as_int(item.get("ts")),
            reqId=str(item.get("reqId") or ""),
        )
    except _ERRORS as exc:
        raise ParseError(f"ack: {exc}") from None


def fill(row: Any) -> OkxFill:
    row = _obj(row, "fill")
    try:
        return OkxFill(
            instId=req_s(row, "instId"),
            tradeId=req_s(row, "tradeId"),
            ordId=str(row.get("ordId") or ""),
            clOrdId=str(row.get("clOrdId") or ""),
            side=Side(row["side"]),
            posSide=_enum(PosSide, row.get("posSide"), "posSide") or PosSide.NET,
            fillPx=req_d(row, "fillPx"),
            fillSz=req_d(row, "fillSz"),
            fee=opt_d(row, "fee"),
            feeCcy=str(row.get("feeCcy") or ""),
            execType=str(row.get("execType") or ""),
            billId=str(row.get("billId") or ""),
            fillPnl=opt_d(row, "fillPnl"),
            ts=as_int(row.get("ts") or row.get("fillTime")),
        )
    except ParseError:
        raise
    except _ERRORS as exc:
        raise ParseError(f"fill: {exc}") from None


# -- algo (stop) orders ---------------------------------------------------------------------------
_ALGO_ALIASES = {
    "order_placed": AlgoState.EFFECTIVE,
    "filled": AlgoState.EFFECTIVE,
    "failed": AlgoState.ORDER_FAILED,
}


def algo_order(row: Any) -> AlgoOrder:
    """An algo object (orders-algo-pending, orders-algo channel). The stop price is slTriggerPx, or
    triggerPx for trigger orders. closeFraction "1" (a stop on the whole position, as the OKX app sets
    TP/SL on a position; sz "") -> AlgoOrder(sz=None, closeFraction=1). A take-profit-only algo raises
    ParseError: AlgoOrder cannot represent it faithfully."""
    row = _obj(row, "algo order")
    try:
        state_raw = row.get("state")
        state = _ALGO_ALIASES.get(state_raw) or _enum(AlgoState, state_raw, "algo state")
        if state is None:
            raise ParseError("algo state: missing")
        trigger = opt_d(row, "slTriggerPx")
        trigger_type = row.get("slTriggerPxType")
        if trigger is None:
            trigger = opt_d(row, "triggerPx")
            trigger_type = row.get("triggerPxType")
        if trigger is None:
            raise ParseError(f"algo {row.get('algoId')!r}: no slTriggerPx/triggerPx (take-profit only?)")
        fraction = opt_d(row, "closeFraction")
        sz = None if fraction is not None else opt_d(row, "sz")
        if (
            fraction is not None and fraction != 1
        ):  # OKX supports only "1"; a part of a position is not a size
            raise ParseError(f"algo {row.get('algoId')!r}: closeFraction {fraction} is not 1")
        if fraction is None and sz is None:
            raise ParseError(f"algo {row.get('algoId')!r}: neither sz nor closeFraction")
        return AlgoOrder(
            algoClOrdId=str(row.get("algoClOrdId") or ""),
            instId=req_s(row, "instId"),
            side=Side(row["side"]),
            sz=sz,
            slTriggerPx=trigger,
            state=state,
            algoId=opt_s(row, "algoId"),
            posSide=_enum(PosSide, row.get("posSide"), "posSide") or PosSide.NET,
            tdMode=_enum(TdMode, row.get("tdMode"), "tdMode") or TdMode.CROSS,
            slTriggerPxType=str(trigger_type or "last"),
            reduceOnly=bool(as_bool(row.get("reduceOnly"))),
            uTime=as_int(row.get("uTime")),
            closeFraction=fraction,
        )
    except ParseError:
        raise
    except _ERRORS as exc:
        raise ParseError(f"algo order: {exc}") from None


# -- positions and balance ------------------------------------------------------------------------
_POS_EXTRA = (
    "posId",
    "availPos",
    "notionalUsd",
    "imr",
    "margin",
    "mmr",
    "mgnRatio",
    "bePx",
    "fee",
    "fundingFee",
    "pnl",
    "ccy",
    "last",
    "idxPx",
    "cTime",
    "tradeId",
    "adl",
)


def position(row: Any) -> Position:
    row = _obj(row, "position")
    try:
        return Position(
            instId=req_s(row, "instId"),
            posSide=_enum(PosSide, row.get("posSide"), "posSide") or PosSide.NET,
            pos=req_d(row, "pos"),
            avgPx=opt_d(row, "avgPx"),
            mgnMode=_enum(TdMode, row.get("mgnMode"), "mgnMode") or TdMode.CROSS,
            markPx=opt_d(row, "markPx"),
            upl=opt_d(row, "upl"),
            realizedPnl=opt_d(row, "realizedPnl"),
            lever=opt_d(row, "lever"),
            liqPx=opt_d(row, "liqPx"),
            uTime=as_int(row.get("uTime")),
            extra={k: str(row[k]) for k in _POS_EXTRA if row.get(k) not in (None, "")},
        )
    except ParseError:
        raise
    except _ERRORS as exc:
        raise ParseError(f"position {row.get('instId')!r}: {exc}") from None


@contextmanager
def _as_parse_error(what: str) -> Iterator[None]:
    """Anything a cold-path parser trips on becomes ParseError("what: ..."); ParseError passes as is.
    (The per-message parsers spell the try/except out: a context manager costs ~1 us there.)"""
    try:
        yield
    except ParseError:
        raise
    except _ERRORS as exc:
        raise ParseError(f"{what}: {exc}") from None


def balance(row: Any) -> Balance:
    row = _obj(row, "balance")
    with _as_parse_error("balance"):
        details: dict[str, BalanceDetail] = {}
        for d in row.get("details") or ():
            d = _obj(d, "balance detail")
            ccy = req_s(d, "ccy")
            details[ccy] = BalanceDetail(
                ccy=ccy,
                eq=opt_d(d, "eq"),
                cashBal=opt_d(d, "cashBal"),
                availBal=opt_d(d, "availBal"),
                availEq=opt_d(d, "availEq"),
                frozenBal=opt_d(d, "frozenBal"),
                ordFrozen=opt_d(d, "ordFrozen"),
                upl=opt_d(d, "upl"),
                eqUsd=opt_d(d, "eqUsd"),
                uTime=as_int(d.get("uTime")),
            )
        return Balance(
            totalEq=opt_d(row, "totalEq"),
            details=details,
            upl=opt_d(row, "upl"),
            imr=opt_d(row, "imr"),
            mmr=opt_d(row, "mmr"),
            mgnRatio=opt_d(row, "mgnRatio"),
            uTime=as_int(row.get("uTime")),
        )


def account_config(row: Any) -> AccountConfig:
    row = _obj(row, "account config")
    with _as_parse_error("account config"):
        return AccountConfig(
            uid=str(row.get("uid") or ""),
            acctLv=str(row.get("acctLv") or ""),
            posMode=PosMode(row["posMode"]),
            perm=str(row.get("perm") or ""),
            label=str(row.get("label") or ""),
            autoLoan=bool(as_bool(row.get("autoLoan"))),
            ip=str(row.get("ip") or ""),
        )


def trade_fee(row: Any) -> TradeFee:
    row = _obj(row, "trade-fee")
    with _as_parse_error("trade-fee"):
        return TradeFee(
            instType=req_s(row, "instType"),
            level=str(row.get("level") or ""),
            maker=opt_d(row, "maker"),
            taker=opt_d(row, "taker"),
            makerU=opt_d(row, "makerU"),
            takerU=opt_d(row, "takerU"),
            makerUSDC=opt_d(row, "makerUSDC"),
            takerUSDC=opt_d(row, "takerUSDC"),
            ts=as_int(row.get("ts")),
        )


def price_limit(row: Any) -> PriceLimit:
    row = _obj(row, "price-limit")
    with _as_parse_error("price-limit"):
        enabled = as_bool(row.get("enabled"))
        buy, sell = opt_d(row, "buyLmt"), opt_d(row, "sellLmt")
        if enabled is None:  # older replies carry no `enabled`: a band is in force when both limits are
            enabled = buy is not None and sell is not None
        if enabled and (buy is None or sell is None or sell > buy):
            raise ParseError(f"price-limit {row.get('instId')!r}: enabled with buyLmt {buy}, sellLmt {sell}")
        return PriceLimit(
            instId=req_s(row, "instId"),
            buyLmt=buy,
            sellLmt=sell,
            enabled=bool(enabled),
            ts=as_int(row.get("ts")),
        )


def maintenance(row: Any) -> Maintenance:
    row = _obj(row, "system status")
    with _as_parse_error("system status"):
        end, pre = as_int(row.get("end")), as_int(row.get("preOpenBegin"))
        return Maintenance(
            title=str(row.get("title") or ""),
            state=req_s(row, "state"),
            begin=as_int(row.get("begin")),
            end=end or None,
            serviceType=str(row.get("serviceType") or ""),
            env=str(row.get("env") or ""),
            system=str(row.get("system") or ""),
            maintType=str(row.get("maintType") or ""),
            preOpenBegin=pre or None,
            href=str(row.get("href") or ""),
        )


def bill(row: Any) -> Bill:
    row = _obj(row, "bill")
    with _as_parse_error("bill"):
        return Bill(
            billId=req_s(row, "billId"),
            type=req_s(row, "type"),
            subType=str(row.get("subType") or ""),
            instId=str(row.get("instId") or ""),
            ccy=str(row.get("ccy") or ""),
            balChg=opt_d(row, "balChg"),
            pnl=opt_d(row, "pnl"),
            fee=opt_d(row, "fee"),
            sz=opt_d(row, "sz"),
            px=opt_d(row, "px"),
            mgnMode=str(row.get("mgnMode") or ""),
            ordId=str(row.get("ordId") or ""),
            tradeId=str(row.get("tradeId") or ""),
            ts=as_int(row.get("ts")),
        )


def leverage(row: Any) -> LeverageInfo:
    row = _obj(row, "leverage")
    with _as_parse_error("leverage"):
        return LeverageInfo(
            instId=str(row.get("instId") or ""),
            lever=req_d(row, "lever"),
            mgnMode=TdMode(row["mgnMode"]),
            posSide=_enum(PosSide, row.get("posSide"), "posSide") or PosSide.NET,
        )


def close_position_ack(row: Any) -> ClosePositionAck:
    row = _obj(row, "close-position")
    with _as_parse_error("close-position"):
        return ClosePositionAck(
            instId=req_s(row, "instId"),
            posSide=_enum(PosSide, row.get("posSide"), "posSide") or PosSide.NET,
            clOrdId=str(row.get("clOrdId") or ""),
            tag=str(row.get("tag") or ""),
        )


def cancel_all_after(row: Any) -> CancelAllAfter:
    row = _obj(row, "cancel-all-after")
    try:
        return CancelAllAfter(
            triggerTime=as_int(row.get("triggerTime")),
            ts=as_int(row.get("ts")),
            tag=str(row.get("tag") or ""),
        )
    except _ERRORS as exc:
        raise ParseError(f"cancel-all-after: {exc}") from None


# -- market data (the tick path: keep lean) -----------------------------------------------------------
def levels(raw: Any) -> tuple[Level, ...]:
    """[[px, sz, "0", numOrders], ...] -> Levels, order kept."""
    out = []
    for lv in raw:
        px, sz = lv[0], lv[1]
        if type(px) is not str or type(sz) is not str:
            raise ParseError("book level: px/sz must be strings")
        p, q = Decimal(px), Decimal(sz)
        if not (p.is_finite() and q.is_finite()):  # "NaN" / "Infinity" parse as Decimals: never a price
            raise ParseError(f"book level: not finite: {px!r} {sz!r}")
        out.append(Level(p, q, int(lv[3]) if len(lv) > 3 else 0))
    return tuple(out)


def book_top(instId: str, d: Any) -> BookTop:
    """books5 / bbo-tbt / REST books item -> BookTop (bids descend, asks ascend, as OKX sends)."""
    try:
        return BookTop(instId, levels(d["bids"]), levels(d["asks"]), int(d["ts"]), int(d.get("seqId", -1)))
    except ParseError:
        raise
    except _ERRORS as exc:
        raise ParseError(f"book {instId}: {exc!r}") from None


def ticker(row: Any) -> Ticker:
    try:
        g = row.get  # the tickers hot path: one lookup per field
        return Ticker(
            instId=req_s(row, "instId"),
            last=_d(g("last"), "last"),
            bidPx=_d(g("bidPx"), "bidPx"),
            bidSz=_d(g("bidSz"), "bidSz"),
            askPx=_d(g("askPx"), "askPx"),
            askSz=_d(g("askSz"), "askSz"),
            ts=int(row["ts"]),
        )
    except ParseError:
        raise
    except _ERRORS as exc:
        raise ParseError(f"ticker: {exc!r}") from None


def trade(row: Any) -> Trade:
    try:
        side = row["side"]
        if side != "buy" and side != "sell":
            raise ParseError(f"trade side: {side!r}")
        return Trade(
            row["instId"],
            str(row["tradeId"]),
            _dec(row["px"], "px"),
            _dec(row["sz"], "sz"),
            side,
            int(row["ts"]),
        )
    except ParseError:
        raise
    except _ERRORS as exc:
        raise ParseError(f"trade: {exc!r}") from None
