from __future__ import annotations

import pytest

from athena.okx.errors import (
    OkxAuthError,
    OkxDuplicateClOrdId,
    OkxInsufficientMargin,
    OkxRateLimited,
    OkxRejected,
    OkxTransient,
    classify,
)


@pytest.mark.parametrize(
    ("code", "status", "s_code", "cls"),
    [
        ("51008", 200, "", OkxInsufficientMargin),
        ("1", 200, "51016", OkxDuplicateClOrdId),
        ("51000", 400, "", OkxRejected),
        ("50014", 400, "", OkxRejected),
        ("50113", 401, "", OkxAuthError),
        ("50102", 401, "", OkxAuthError),
        ("", 401, "", OkxAuthError),
        ("50100", 400, "", OkxAuthError),
        ("50011", 429, "", OkxRateLimited),
        ("50011", 200, "", OkxRateLimited),
        ("", 429, "", OkxRateLimited),
        ("1", 200, "50011", OkxRateLimited),
        ("50013", 429, "", OkxTransient),
        ("50001", 503, "", OkxTransient),
        ("50026", 500, "", OkxTransient),
        ("", 502, "", OkxTransient),
        ("50004", 400, "", OkxTransient),  # on a read; on a trade write AMBIGUOUS (test_error_table.py)
    ],
)
def test_classify(code: str, status: int, s_code: str, cls: type) -> None:
    err = classify(code, "msg", status, "/api/v5/x", sCode=s_code, sMsg="smsg", clOrdId="c1", retry_after=2.5)
    assert type(err) is cls
    if issubclass(cls, OkxRejected):
        assert err.sCode == s_code and err.clOrdId == "c1"
        assert "c1" in str(err)
    if cls is OkxRateLimited:
        assert err.retry_after == 2.5


def test_item_code_wins_over_envelope() -> None:
    err = classify("1", "All operations failed", 200, sCode="51016", sMsg="Client order ID already exists.")
    assert isinstance(err, OkxRejected)
    assert err.code == "1" and err.sCode == "51016" and err.sMsg.startswith("Client order ID")
