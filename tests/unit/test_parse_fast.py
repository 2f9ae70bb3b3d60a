"""parse.order_update's fast path (subscripts, "" / "0" shortcuts, OrderUpdateDraft) against the plain
one it replaced, kept below verbatim as the reference: same OrderUpdate, field by field and type by
type, on the real samples, the sim's REST and WS order rows (with "" for px/avgPx/fillPx/...), and
mutated rows; the reference raising ParseError means the fast path raises ParseError."""

from __future__ import annotations

import json
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from athena.domain import OrderState, OrderUpdate, OrdType, PosSide, Side
from athena.fastpath.order_draft import OrderUpdateDraft
from athena.okx import parse
from athena.okx.errors import ParseError
from athena.sim.models import SimOrder
from tests.fuzz import samples as S
from tests.fuzz._fuzz import FUZZ, mutated
from tests.okx.samples import SAMPLES

# -- the reference: order_update as it was (athena/okx/parse.py before the fast path), plus the reading of
# a state Athena does not know (a fill it carries is kept) --------------------------------------------------
_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, InvalidOperation, OverflowError)
ZERO = Decimal(0)
_STATES: dict[str, OrderState] = {**{st.value: st for st in OrderState}, "mmp_canceled": OrderState.CANCELED}
_SIDES = {v.value: v for v in Side}
_POS_SIDES = {v.value: v for v in PosSide}
_ORD_TYPES = {v.value: v for v in OrdType}


def _dec(value: Any, key: str) -> Decimal:
    if type(value) is not str:
        raise ParseError(f"{key}: expected a decimal string, got {type(value).__name__}")
    if value == "":
        raise ParseError(f"{key}: missing")
    d = Decimal(value)
    if not d.is_finite():
        raise ParseError(f"{key}: not a finite number")
    return d


def _d(value: Any, key: str) -> Decimal | None:
    if value is None or value == "":
        return None
    return _dec(value, key)


def _s(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _mapped(table: dict[str, Any], value: Any, key: str) -> Any:
    if value is None or value == "":
        return None
    found = table.get(value)
    if found is None:
        raise ParseError(f"{key}: unknown value {value!r}")
    return found


def _req_s(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None or value == "":
        raise ParseError(f"{key}: missing")
    return str(value)


def _as_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ParseError(f"not a boolean: {value!r}")


def _as_int(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    return int(value)


def reference_order_update(row: Any, source: str = "ws") -> OrderUpdate:
    if not isinstance(row, dict):
        raise ParseError(f"order: expected an object, got {type(row).__name__}")
    g = row.get
    try:
        state_raw = g("state")
        state = _STATES.get(state_raw) if isinstance(state_raw, str) else None
        if state is None:  # a state OKX added later: kept when it carries fills, read from the sizes
            acc_known = _d(g("accFillSz"), "accFillSz")
            if not isinstance(state_raw, str) or not state_raw or acc_known is None or acc_known <= ZERO:
                raise ParseError(f"order state: unknown value {state_raw!r}")
            sz_known = _d(g("sz"), "sz")
            state = (
                OrderState.FILLED
                if sz_known is not None and acc_known >= sz_known
                else OrderState.PARTIALLY_FILLED
            )
        acc = _d(g("accFillSz"), "accFillSz")
        filled = acc is not None and acc > ZERO
        avg = _d(g("avgPx"), "avgPx")
        if avg is not None and (avg == ZERO or not filled):
            avg = None
        fill_sz = _d(g("fillSz"), "fillSz")
        has_fill = fill_sz is not None and fill_sz > ZERO
        ord_type = g("ordType")
        return OrderUpdate(
            clOrdId=str(g("clOrdId") or ""),
            algoClOrdId=str(g("algoClOrdId") or ""),
            instId=_req_s(row, "instId"),
            state=state,
            ordId=_s(g("ordId")),
            accFillSz=acc,
            avgPx=avg,
            fillSz=fill_sz,
            fillPx=_d(g("fillPx"), "fillPx") if has_fill else None,
            tradeId=_s(g("tradeId")) if has_fill else None,
            fillFee=_d(g("fillFee"), "fillFee") if has_fill else None,
            fee=_d(g("fee"), "fee"),
            feeCcy=_s(g("feeCcy")),
            execType=_s(g("execType")) if has_fill else None,
            side=_mapped(_SIDES, g("side"), "side"),
            posSide=_mapped(_POS_SIDES, g("posSide"), "posSide"),
            sz=_d(g("sz"), "sz"),
            px=_d(g("px"), "px"),
            ordType=_ORD_TYPES.get(ord_type) if isinstance(ord_type, str) else None,
            reduceOnly=_as_bool(g("reduceOnly")),
            pnl=_d(g("pnl"), "pnl"),
            sCode=_s(g("sCode")),
            sMsg=_s(g("sMsg")),
            uTime=_as_int(g("uTime")),
            source=source,
        )
    except ParseError:
        raise
    except _ERRORS as exc:
        raise ParseError(f"order {row.get('clOrdId')!r}: {exc}") from None


# -- the comparison ---------------------------------------------------------------------------------------
def _fields(u: OrderUpdate) -> list[tuple[str, type, str]]:
    return [(f.name, type(getattr(u, f.name)), repr(getattr(u, f.name))) for f in fields(OrderUpdate)]


def assert_same(row: Any, source: str = "ws") -> OrderUpdate | None:
    try:
        want = reference_order_update(row, source)
    except ParseError:
        with pytest.raises(ParseError):
            parse.order_update(row, source)
        return None
    got = parse.order_update(row, source)
    assert type(got) is OrderUpdate
    assert got == want and hash(got) == hash(want)
    assert _fields(got) == _fields(want)  # Decimal("0") vs Decimal("0.00"), str vs int: all pinned
    return got


# -- the rows ---------------------------------------------------------------------------------------------
def _order_objects(obj: Any) -> list[dict[str, Any]]:
    if isinstance(obj, dict):
        if "accFillSz" in obj and "state" in obj:
            return [obj]
        return [r for v in obj.values() for r in _order_objects(v)]
    if isinstance(obj, list):
        return [r for v in obj for r in _order_objects(v)]
    return []


def real_rows() -> list[dict[str, Any]]:
    """Every order object in the real samples (orders channel pushes, orders-pending, orders-history)."""
    rows = [
        r for path in sorted(SAMPLES.glob("*.json")) for r in _order_objects(json.loads(path.read_text()))
    ]
    assert len(rows) >= 4
    return rows


def sim_rows() -> list[dict[str, Any]]:
    """The sim's order objects as orders-pending / order / orders-history (REST) and the orders channel
    (WS)."""
    base = {
        "ordId": "2056900062392749467",
        "clOrdId": "a99",
        "tag": "",
        "instId": "BTC-USDT-SWAP",
        "tdMode": "cross",
        "side": "buy",
        "posSide": "net",
        "ordType": "post_only",
        "px": Decimal("95000.1"),
        "sz": Decimal("0.01"),
        "reduceOnly": False,
        "lever": Decimal(10),
        "cTime": 1795608060570,
    }
    orders = [
        SimOrder(**base),  # live, nothing filled: avgPx/fillPx/fillSz "" (REST) or "0" (WS)
        SimOrder(
            **{
                **base,
                "ordType": "market",
                "px": None,
                "side": "sell",
                "posSide": "short",
                "reduceOnly": True,
            }
        ),
        SimOrder(
            **base,
            state="partially_filled",
            accFillSz=Decimal("0.004"),
            notional=Decimal("380.0004"),
            fee=Decimal("-0.019"),
            fillPx=Decimal("95000.1"),
            fillSz=Decimal("0.004"),
            tradeId="77",
            fillTime=1795608061000,
            fillFee=Decimal("-0.019"),
            execType="M",
            uTime=1795608061000,
        ),
        SimOrder(
            **base,
            state="filled",
            accFillSz=Decimal("0.01"),
            notional=Decimal("950.001"),
            fee=Decimal("-0.0475"),
            pnl=Decimal("1.5"),
            fillPx=Decimal("95000.1"),
            fillSz=Decimal("0.006"),
            tradeId="78",
            execType="T",
            uTime=1795608062000,
        ),
        SimOrder(**base, state="canceled", cancelSource="1", uTime=1795608063000),
        SimOrder(
            **{**base, "clOrdId": "", "algoId": "9", "algoClOrdId": "slsa99", "ordType": "market", "px": None}
        ),
    ]
    return [o.to_okx(ws=ws) for o in orders for ws in (False, True)]


def emptied(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The row with each optional field "" (and absent) in turn, and with all of them "" at once."""
    keys = (
        "px",
        "avgPx",
        "fillPx",
        "fillSz",
        "accFillSz",
        "fee",
        "fillFee",
        "pnl",
        "sz",
        "tradeId",
        "ordId",
        "feeCcy",
        "side",
        "posSide",
        "ordType",
        "reduceOnly",
        "uTime",
        "clOrdId",
        "algoClOrdId",
        "execType",
        "sCode",
        "sMsg",
    )
    out = [dict(row, **{k: ""}) for k in keys]
    out += [{k: v for k, v in row.items() if k != drop} for drop in keys]
    out.append(dict(row, **dict.fromkeys(keys, "")))
    out.append(dict(row, **dict.fromkeys(("accFillSz", "avgPx", "fillPx", "fillSz", "fee", "pnl"), "0")))
    return out


@pytest.mark.parametrize("retype", [True, False])
def test_draft_becomes_a_plain_frozen_order_update(retype: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse, "_RETYPE", retype)
    u = parse.order_update(S.ORDER)
    assert type(u) is OrderUpdate and not isinstance(u, OrderUpdateDraft)
    with pytest.raises(AttributeError):  # dataclasses.FrozenInstanceError
        u.px = Decimal(1)  # type: ignore[misc]
    assert OrderUpdateDraft.__slots__ == tuple(f.name for f in fields(OrderUpdate))


@pytest.mark.parametrize(
    "retype", [True, False], ids=["fast path", "constructor (ATHENA_FASTPATH_ORDER_DRAFT=off)"]
)
@pytest.mark.parametrize("which", ["real", "sim"])
def test_same_as_reference(which: str, retype: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse, "_RETYPE", retype)
    rows = real_rows() if which == "real" else sim_rows()
    parsed = 0
    for row in rows:
        for variant in [row, *emptied(row), *emptied(dict(row, state="brand_new"))]:
            for source in ("ws", "rest_query"):
                parsed += assert_same(variant, source) is not None
    assert parsed > len(rows) * 20


def test_sim_rows_read_right() -> None:
    """Spot checks on the sim's rows beside the reference: absent prices are None, never 0."""
    rows = sim_rows()
    live_rest, live_ws = (parse.order_update(r) for r in rows[:2])
    for u in (live_rest, live_ws):
        assert u.state is OrderState.LIVE and u.px == Decimal("95000.1") and u.sz == Decimal("0.01")
        assert u.avgPx is None and u.fillPx is None and u.accFillSz == 0 and u.reduceOnly is False
    assert live_rest.fillSz is None and live_ws.fillSz == 0
    market = parse.order_update(rows[2])
    assert market.px is None and market.ordType is OrdType.MARKET and market.reduceOnly is True
    part = parse.order_update(rows[5])  # WS partial fill
    assert (part.fillSz, part.fillPx, part.tradeId, part.fillFee, part.execType) == (
        Decimal("0.004"),
        Decimal("95000.1"),
        "77",
        Decimal("-0.019"),
        "M",
    )
    assert part.avgPx == Decimal("95000.1")
    stop_child = parse.order_update(rows[10])
    assert stop_child.clOrdId == "" and stop_child.algoClOrdId == "slsa99"


@pytest.mark.parametrize(
    "bad",
    [
        {"state": "exploded"},
        {"state": None},
        {"instId": ""},
        {"px": 95000.1},
        {"px": "NaN"},
        {"sz": "sNaN"},
        {"sz": "abc"},
        {"accFillSz": 0},
        {"side": "up"},
        {"posSide": ["net"]},
        {"reduceOnly": "yes"},
        {"uTime": "soon"},
        {"fee": "-Infinity"},
        {"avgPx": "x"},
    ],
)
def test_malformed_rows_raise_parse_error(bad: dict[str, Any]) -> None:
    row = dict(sim_rows()[0], **bad)
    with pytest.raises(ParseError):
        reference_order_update(row)
    with pytest.raises(ParseError) as exc:
        parse.order_update(row)
    assert str(exc.value)


def test_not_an_object() -> None:
    for row in (None, [], "live", 3):
        with pytest.raises(ParseError, match="order: expected an object"):
            parse.order_update(row)


@FUZZ
@given(row=st.one_of(mutated(S.ORDER), mutated(sim_rows()[0]), mutated(sim_rows()[5])))
def test_mutated_rows_same_as_reference(row: Any) -> None:
    assert_same(row)


def test_px_sz_memo_is_exact_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse, "_PX_SZ", {})
    monkeypatch.setattr(parse, "_PX_SZ_MAX", 3)
    row = sim_rows()[0]
    for px in ("95000.1", "95000.10", "1E+5", "95000.1", "7", "8", "9"):
        u = parse.order_update(dict(row, px=px))
        assert type(u.px) is Decimal and repr(u.px) == repr(
            Decimal(px)
        )  # the exponent kept: "95000.10" stays so
        assert len(parse._PX_SZ) <= 3
    for bad in ("NaN", "Infinity", "-inf", "sNaN", "x"):
        with pytest.raises(ParseError):
            parse.order_update(dict(row, px=bad))
        assert bad not in parse._PX_SZ  # only finite numbers are ever memoized
