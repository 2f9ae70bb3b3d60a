"""OKX codes by meaning: the outcome-unknown codes are AMBIGUOUS on a trade write and TRANSIENT on a
read, 51149 is never a rejection, and definite refusals come as typed OkxRejected subclasses."""

from __future__ import annotations

import pytest

from athena.okx import errors
from athena.okx.errors import (
    CODES,
    OkxAmbiguous,
    OkxAuthError,
    OkxDuplicateAlgoClOrdId,
    OkxDuplicateClientId,
    OkxDuplicateClOrdId,
    OkxError,
    OkxInsufficientMargin,
    OkxOrderNotFound,
    OkxOrderNotPending,
    OkxPostOnlyWouldTake,
    OkxRateLimited,
    OkxReduceOnlyWouldIncrease,
    OkxRejected,
    OkxTransient,
    classify,
)

# (code, HTTP status OKX answers it with) for every code OKX documents as "try again" / "result unknown"
OUTCOME_UNKNOWN = [
    ("51149", 200),
    ("50004", 400),
    ("50001", 503),
    ("50013", 429),
    ("50026", 500),
    ("50005", 410),
    ("51054", 200),
]


@pytest.mark.parametrize(("code", "status"), OUTCOME_UNKNOWN)
def test_outcome_unknown_on_a_trade_write_is_ambiguous(code: str, status: int) -> None:
    as_item = classify(
        "1",
        "All operations failed",
        200,
        "/api/v5/trade/order",
        sCode=code,
        sMsg="m",
        clOrdId="c1",
        write=True,
    )
    as_envelope = classify(code, "m", status, "/api/v5/trade/order", clOrdId="c1", write=True)
    for err in (as_item, as_envelope):
        assert type(err) is OkxAmbiguous, err
        assert err.code == code and err.clOrdId == "c1"
        assert not isinstance(err, OkxRejected)


@pytest.mark.parametrize(("code", "status"), OUTCOME_UNKNOWN)
def test_outcome_unknown_on_a_read_is_transient(code: str, status: int) -> None:
    err = classify(code, "m", status, "/api/v5/trade/order", write=False)
    assert type(err) is OkxTransient and err.code == code


def test_51149_is_never_a_rejection_whatever_the_request() -> None:
    for write in (True, False):
        err = classify(
            "1",
            "All operations failed",
            200,
            sCode="51149",
            sMsg="Order timed out. Please try again.",
            write=write,
        )
        assert not isinstance(err, OkxRejected)


def test_an_unknown_http_5xx_answer_to_a_write_is_ambiguous_and_to_a_read_transient() -> None:
    assert type(classify("", "HTTP 502", 502, write=True)) is OkxAmbiguous
    assert type(classify("", "HTTP 502", 502, write=False)) is OkxTransient


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("51603", OkxOrderNotFound),
        ("51400", OkxOrderNotPending),
        ("51401", OkxOrderNotPending),
        ("51402", OkxOrderNotPending),
        ("51503", OkxOrderNotPending),
        ("51509", OkxOrderNotPending),
        ("51510", OkxOrderNotPending),
        ("51016", OkxDuplicateClOrdId),
        ("51065", OkxDuplicateAlgoClOrdId),
        ("51008", OkxInsufficientMargin),
        ("51127", OkxInsufficientMargin),
        ("51131", OkxInsufficientMargin),
        ("51511", OkxPostOnlyWouldTake),
        ("51148", OkxReduceOnlyWouldIncrease),
        ("51169", OkxReduceOnlyWouldIncrease),
        ("51170", OkxReduceOnlyWouldIncrease),
    ],
)
def test_definite_refusals_are_typed_rejections(code: str, cls: type[OkxRejected]) -> None:
    for write in (True, False):
        err = classify("1", "All operations failed", 200, sCode=code, sMsg="m", clOrdId="c1", write=write)
        assert type(err) is cls and isinstance(err, OkxRejected)  # `except OkxRejected` keeps working
        assert err.sCode == code and err.clOrdId == "c1"
    assert issubclass(OkxDuplicateClOrdId, OkxDuplicateClientId) and issubclass(
        OkxDuplicateAlgoClOrdId, OkxDuplicateClientId
    )


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("50011", OkxRateLimited),
        ("50061", OkxRateLimited),
        ("51113", OkxRateLimited),
        ("50102", OkxAuthError),
        ("50113", OkxAuthError),
        ("60009", OkxAuthError),
        ("60024", OkxAuthError),
    ],
)
def test_the_same_on_any_request(code: str, cls: type[OkxError]) -> None:
    for write in (True, False):
        assert type(classify(code, "m", 200, write=write)) is cls


def test_the_table_names_a_class_and_a_reason_for_every_code() -> None:
    assert set(CODES) >= {c for c, _ in OUTCOME_UNKNOWN}
    for code, rule in CODES.items():
        assert len(code) == 5 and code.isdigit(), code
        assert issubclass(rule.write, OkxError) and issubclass(rule.read, OkxError)
        assert len(rule.reason) > 20, code
        if issubclass(rule.write, OkxRejected) or issubclass(rule.read, OkxRejected):
            assert rule.write is rule.read, f"{code}: a definite refusal is one on any request"
    named = {
        v
        for k, v in vars(errors).items()
        if k.isupper() and isinstance(v, str) and len(v) == 5 and v.isdigit()
    }
    assert named <= set(CODES), named - set(CODES)  # every named code has its row
