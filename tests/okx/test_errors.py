from __future__ import annotations

import pytest

from athena.okx.errors import (
    RATE_LIMITED,
    OkxAmbiguous,
    OkxAuthError,
    OkxDuplicateClOrdId,
    OkxInsufficientMargin,
    OkxRateLimited,
    OkxRejected,
    OkxTransient,
    ParseError,
    classify,
    outcome_unknown,
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
        ("", 500, "", OkxTransient),  # 5xx from exactly 500
        ("51999", 502, "", OkxRejected),  # a 51xxx order refusal stays a refusal behind a 5xx
        ("50011", 200, "0", OkxRateLimited),  # an item code "0" (success) defers to the envelope's
    ],
)
def test_classify(code: str, status: int, s_code: str, cls: type) -> None:
    err = classify(code, "msg", status, "/api/v5/x", sCode=s_code, sMsg="smsg", clOrdId="c1", retry_after=2.5)
    assert type(err) is cls
    assert (err.http_status, err.path, err.msg) == (status, "/api/v5/x", "smsg")  # what the log names
    if issubclass(cls, OkxRejected):
        assert err.sCode == s_code and err.clOrdId == "c1"
        assert "c1" in str(err)
    if cls is OkxRateLimited:
        assert err.retry_after == 2.5 and err.code == RATE_LIMITED


def test_item_code_wins_over_envelope() -> None:
    err = classify("1", "All operations failed", 200, sCode="51016", sMsg="Client order ID already exists.")
    assert isinstance(err, OkxRejected)
    assert err.code == "1" and err.sCode == "51016" and err.sMsg.startswith("Client order ID")


def test_error_text_names_every_part_it_has() -> None:
    """What an operator reads in a log: each part present once, none invented (killed mutants dropped
    the clOrdId, printed an empty sCode, or lost the rate limit's code, HTTP status or path)."""
    assert (
        str(OkxRejected("refused", code="1", sCode="51008", clOrdId="c1"))
        == "refused code=1 sCode=51008 clOrdId=c1"
    )
    assert str(OkxRejected("refused", code="1", clOrdId="c1")) == "refused code=1 clOrdId=c1"
    assert str(OkxRejected("refused", code="1")) == "refused code=1"
    limited = OkxRateLimited("slow down", http_status=429, path="/api/v5/trade/order")
    assert (limited.code, limited.http_status, limited.path, limited.retry_after) == (
        RATE_LIMITED,
        429,
        "/api/v5/trade/order",
        1.0,
    )
    assert (
        str(limited) == f"slow down code={RATE_LIMITED} http=429 path=/api/v5/trade/order retry_after=1.00s"
    )
    assert str(OkxRateLimited("slow down")) == f"slow down code={RATE_LIMITED} retry_after=1.00s"


@pytest.mark.parametrize(
    ("code", "unknown"),
    [("50001", True), ("50026", True), ("51008", False), ("50011", False), ("99999", False), ("", False)],
)
def test_outcome_unknown_only_for_codes_that_leave_a_write_undecided(code: str, unknown: bool) -> None:
    assert outcome_unknown(code) is unknown


def test_error_text_falls_back_to_the_envelope_then_a_default() -> None:
    assert classify("51000", "Parameter error", 200).msg == "Parameter error"
    assert classify("51000", "", 200).msg == "OKX error"
    assert classify("", "", 429).retry_after == 1.0


def test_an_ambiguous_write_keeps_its_clordid_status_and_path() -> None:
    err = classify("", "gateway timeout", 504, "/api/v5/trade/order", clOrdId="c9", write=True)
    assert type(err) is OkxAmbiguous
    assert (err.code, err.http_status, err.path, err.clOrdId) == ("", 504, "/api/v5/trade/order", "c9")
    assert str(err) == "gateway timeout http=504 path=/api/v5/trade/order clOrdId=c9"
    assert str(OkxAmbiguous("lost")) == "lost"


def test_an_error_built_with_defaults_invents_nothing() -> None:
    err = ParseError("bad payload")
    assert (str(err), err.args, err.code, err.path, err.http_status) == (
        "bad payload",
        ("bad payload",),
        "",
        "",
        None,
    )
    rej = OkxRejected("refused")
    assert (str(rej), rej.code, rej.sCode, rej.sMsg, rej.clOrdId, rej.update) == (
        "refused",
        "",
        "",
        "",
        "",
        None,
    )
    got = classify("51000", "Parameter error", 200)
    assert (got.path, getattr(got, "clOrdId", None)) == ("", "")
    marker = object()
    assert OkxRejected("refused", update=marker).update is marker  # type: ignore[arg-type]
