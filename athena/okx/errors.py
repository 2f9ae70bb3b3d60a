"""Error classes by OKX code. Each says what the caller may do next; none ever carries a secret.

- OkxRejected: definite "no" (51xxx, a per-item sCode != 0, parameter errors). Do not retry as is.
- OkxAuthError: 501xx / HTTP 401 (keys, signature, timestamp, IP whitelist).
- OkxRateLimited: 50011 / HTTP 429. Retry after `retry_after` seconds.
- OkxTransient: HTTP 5xx, 50001, 50013, 50026, connection refused. Nothing happened; retry with backoff.
- OkxAmbiguous: the request was sent and the outcome is unknown (timeout, connection lost, 50004, and
  any HTTP 5xx answering a trade POST: OkxRestGateway upgrades those, as the backend may have run it).
  The order may exist: resolve by querying clOrdId, never by a blind resend.
"""

from __future__ import annotations

from typing import Any


class OkxError(Exception):
    """Base of every athena.okx error. `code` is OKX's code as a string ("" when none)."""

    def __init__(self, msg: str, code: str = "", http_status: int | None = None, path: str = "") -> None:
        super().__init__(msg)
        self.msg = msg
        self.code = code
        self.http_status = http_status
        self.path = path

    def __str__(self) -> str:
        parts = [self.msg]
        if self.code:
            parts.append(f"code={self.code}")
        if self.http_status is not None:
            parts.append(f"http={self.http_status}")
        if self.path:
            parts.append(f"path={self.path}")
        return " ".join(parts)


class OkxRejected(OkxError):
    """Definite rejection. `update` is an OrderUpdate(state=REJECTED) when the request was an order."""

    def __init__(
        self,
        msg: str,
        code: str = "",
        sCode: str = "",
        sMsg: str = "",
        clOrdId: str = "",
        http_status: int | None = None,
        path: str = "",
        update: Any = None,
    ) -> None:
        super().__init__(msg, code, http_status, path)
        self.sCode = sCode
        self.sMsg = sMsg
        self.clOrdId = clOrdId
        self.update = update

    def __str__(self) -> str:
        extra = f" sCode={self.sCode}" if self.sCode else ""
        extra += f" clOrdId={self.clOrdId}" if self.clOrdId else ""
        return super().__str__() + extra


class OkxAuthError(OkxError):
    """Credentials, signature, timestamp or permission problem. Retrying will not help."""


class OkxRateLimited(OkxError):
    def __init__(self, msg: str, code: str = "50011", http_status: int | None = None, path: str = "", retry_after: float = 1.0) -> None:
        super().__init__(msg, code, http_status, path)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return super().__str__() + f" retry_after={self.retry_after:.2f}s"


class OkxTransient(OkxError):
    """Nothing happened on the exchange; safe to retry with backoff."""


class OkxAmbiguous(OkxError):
    """Sent, outcome unknown. Query by clOrdId before doing anything else with this order."""

    def __init__(self, msg: str, code: str = "", http_status: int | None = None, path: str = "", clOrdId: str = "") -> None:
        super().__init__(msg, code, http_status, path)
        self.clOrdId = clOrdId

    def __str__(self) -> str:
        return super().__str__() + (f" clOrdId={self.clOrdId}" if self.clOrdId else "")


class ParseError(OkxError, ValueError):
    """An OKX payload did not have the shape or values we expect."""


TRANSIENT_CODES = frozenset({"50001", "50013", "50026"})
RATE_LIMIT_CODES = frozenset({"50011", "50061"})
AMBIGUOUS_CODES = frozenset({"50004"})  # "endpoint request timeout": result unknown


def classify(
    code: str,
    msg: str,
    http_status: int | None = None,
    path: str = "",
    sCode: str = "",
    sMsg: str = "",
    clOrdId: str = "",
    retry_after: float = 1.0,
) -> OkxError:
    """The error for a failed reply. `code` is the envelope code, `sCode` the item's (preferred)."""
    eff = sCode if sCode and sCode != "0" else code
    text = sMsg or msg or "OKX error"
    if eff in AMBIGUOUS_CODES:
        return OkxAmbiguous(text, eff, http_status, path, clOrdId)
    if eff in TRANSIENT_CODES:
        return OkxTransient(text, eff, http_status, path)
    if eff in RATE_LIMIT_CODES or (http_status == 429 and not sCode):
        return OkxRateLimited(text, eff or "50011", http_status, path, retry_after)
    if (eff.startswith("501") and len(eff) == 5) or http_status == 401:
        return OkxAuthError(text, eff, http_status, path)
    if http_status is not None and http_status >= 500 and not eff.startswith("51"):
        return OkxTransient(text, eff, http_status, path)
    return OkxRejected(text, code, sCode, sMsg, clOrdId, http_status, path)
