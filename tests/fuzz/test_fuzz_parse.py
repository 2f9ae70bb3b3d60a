"""Fuzzing the pure OKX parsers, the local order book and the domain codec.

Property: a malformed, truncated, wrong-typed or huge payload raises the module's own error class
(ParseError / CodecError) and nothing else; a payload that parses yields Decimals that are finite.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from athena.domain import OrderRequest, OrdType, PosSide, Side, TdMode
from athena.domain.codec import CodecError, decode_as, from_json, to_json
from athena.okx import parse
from athena.okx.book import LocalBook
from athena.okx.errors import ParseError
from tests.fuzz import samples as S
from tests.fuzz._fuzz import FUZZ, json_values, mutated, raw_frames, scaled, tried

REQ = OrderRequest(
    instId=S.INST,
    side=Side.BUY,
    ordType=OrdType.LIMIT,
    sz=Decimal("0.05"),
    px=Decimal("103700"),
    tdMode=TdMode.ISOLATED,
    posSide=PosSide.LONG,
    clOrdId="s1BTCUSDT7",
)

PARSERS: dict[str, tuple[Callable[[Any], Any], dict[str, Any]]] = {
    "instrument": (parse.instrument, S.INSTRUMENT),
    "order_update": (parse.order_update, S.ORDER),
    "order_ack": (lambda r: parse.order_ack(r, REQ), S.ORDER_ACK),
    "order_ack_plain": (parse.order_ack_plain, S.ORDER_ACK),
    "fill": (parse.fill, S.FILL),
    "algo_order": (parse.algo_order, S.ALGO),
    "position": (parse.position, S.POSITION),
    "balance": (parse.balance, S.BALANCE),
    "account_config": (parse.account_config, S.ACCOUNT_CONFIG),
    "leverage": (parse.leverage, S.LEVERAGE),
    "close_position_ack": (parse.close_position_ack, S.CLOSE_POS),
    "cancel_all_after": (parse.cancel_all_after, S.CAA),
    "book_top": (lambda r: parse.book_top(S.INST, r), S.BOOK),
    "ticker": (parse.ticker, S.TICKER),
    "trade": (parse.trade, S.TRADE),
}


def _decimals(obj: Any) -> list[Decimal]:
    out: list[Decimal] = []
    if isinstance(obj, Decimal):
        out.append(obj)
    elif isinstance(obj, list | tuple):
        for v in obj:
            out += _decimals(v)
    elif isinstance(obj, dict):
        for v in obj.values():
            out += _decimals(v)
    elif hasattr(obj, "__dataclass_fields__") or hasattr(obj, "__slots__"):
        for name in getattr(obj, "__dataclass_fields__", None) or getattr(obj, "__slots__", ()):
            out += _decimals(getattr(obj, name, None))
    return out


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parser_valid_sample_parses(name: str) -> None:
    fn, sample = PARSERS[name]
    assert fn(sample) is not None


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parser_raises_only_parse_error(name: str) -> None:
    fn, sample = PARSERS[name]

    @FUZZ
    @given(row=st.one_of(mutated(sample), json_values))
    def run(row: Any) -> None:
        tried(f"okx.parse.{name}")
        try:
            out = fn(row)
        except ParseError as exc:
            assert str(exc)  # a clear message, not an empty one
            return
        for d in _decimals(out):
            assert d.is_finite(), f"{name}: non-finite Decimal {d!r} accepted from {row!r:.200}"

    run()


@scaled(300)
@given(raw=raw_frames([S.frame(f) for f in S.public_frames() + S.private_frames()]))
def test_loads_raises_only_parse_error(raw: bytes) -> None:
    tried("okx.parse.loads")
    try:
        parse.loads(raw)
    except ParseError:
        pass


def test_local_book_raises_only_parse_error() -> None:
    snap = {**S.BOOK, "prevSeqId": -1, "seqId": 100}
    upd = {
        "asks": [["8477", "0", "0", "0"]],
        "bids": [["8476.5", "3", "0", "1"]],
        "ts": "1597026383185",
        "prevSeqId": 100,
        "seqId": 101,
    }

    @FUZZ
    @given(snapshot=mutated(snap), update=mutated(upd))
    def run(snapshot: Any, update: Any) -> None:
        tried("okx.book.LocalBook")
        book = LocalBook(S.INST)
        for op, d in (("snapshot", snapshot), ("update", update)):
            try:
                if op == "snapshot":
                    book.snapshot(d)
                else:
                    book.update(d)
            except ParseError:
                book.valid = False
                continue
            top = book.top()
            for lv in top.bids + top.asks:
                assert lv.px.is_finite() and lv.sz.is_finite()
            assert list(top.bids) == sorted(top.bids, key=lambda lv: lv.px, reverse=True)
            assert list(top.asks) == sorted(top.asks, key=lambda lv: lv.px)

    run()


# -- the codec (Celery arguments, Redis event stream) ---------------------------------------------------
def _codec_samples() -> list[dict[str, Any]]:
    upd = parse.order_update(S.ORDER)
    return [
        to_json(REQ),
        to_json(upd),
        to_json(parse.algo_order(S.ALGO)),
        to_json(parse.position(S.POSITION)),
    ]


@pytest.mark.parametrize("i", range(4))
def test_codec_raises_only_codec_error(i: int) -> None:
    sample = _codec_samples()[i]
    assert to_json(from_json(sample)) == sample

    @FUZZ
    @given(data=st.one_of(mutated(sample), json_values))
    def run(data: Any) -> None:
        tried(f"domain.codec.from_json[{sample['_type']}]")
        try:
            obj = from_json(data)
        except CodecError as exc:
            assert str(exc)
            return
        for d in _decimals(obj):
            assert d.is_finite(), f"codec accepted non-finite {d!r}"
        assert to_json(obj) is not None  # whatever decodes, encodes again

    run()


@scaled(200)
@given(data=mutated(to_json(REQ)))
def test_decode_as_raises_only_codec_error(data: Any) -> None:
    tried("domain.codec.decode_as")
    try:
        decode_as(OrderRequest, data)
    except CodecError:
        pass
