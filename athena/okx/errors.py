"""Error classes by OKX code, and the one table of the codes Athena treats specially (CODES).
Each class says what the caller may do next; none ever carries a secret.

- OkxRejected: definite "no" (51xxx, a per-item sCode != 0, parameter errors). Do not retry as is.
  Subclasses name the refusals callers act on (order not found, duplicate client id, ...): callers
  catch classes, never compare code strings (tests/unit/test_okx_code_literals.py).
- OkxAuthError: 501xx / HTTP 401 (keys, signature, timestamp, IP whitelist), WS login codes.
- OkxRateLimited: 50011 / HTTP 429. Retry after `retry_after` seconds.
- OkxTransient: nothing happened (or a read failed): retry with backoff.
- OkxAmbiguous: the request was sent and the outcome is unknown (timeout, connection lost, an
  "outcome unknown" code such as 51149 or 50026 on a trade write, any HTTP 5xx answering one).
  The order may exist: resolve by querying clOrdId, never by a blind resend.

Where OKX's meaning depends on the request, so does the class: a trade write (place, amend, cancel,
algo POST) answered "system busy" may have run, a read answered so just failed (`classify(write=)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# -- OKX's codes, named ----------------------------------------------------------------------------
SERVICE_UNAVAILABLE = "50001"
ENDPOINT_TIMEOUT = "50004"
API_OFFLINE = "50005"
RATE_LIMITED = "50011"
SYSTEM_BUSY = "50013"
SYSTEM_ERROR = "50026"
SUB_ACCOUNT_RATE_LIMITED = "50061"
TIMESTAMP_EXPIRED = "50102"
PRICE_OUT_OF_BAND = "51006"
INSUFFICIENT_MARGIN = "51008"
ACCOUNT_MODE_UNSUPPORTED = "51010"
DUPLICATE_CL_ORD_ID = "51016"
INFO_TIMED_OUT = "51054"
DUPLICATE_ALGO_CL_ORD_ID = "51065"
CLOSE_TOO_FREQUENT = "51113"
PRICE_OR_TRIGGER_EXCEEDS = "51116"
CLOSE_ABOVE_BUY_LIMIT = "51135"
CLOSE_BELOW_SELL_LIMIT = "51136"
BUY_ABOVE_LIMIT = "51137"
SELL_BELOW_LIMIT = "51138"
AVAILABLE_BALANCE_ZERO = "51127"
INSUFFICIENT_BALANCE = "51131"
REDUCE_ONLY_WOULD_INCREASE = "51148"
ORDER_TIMED_OUT = "51149"
NO_POSITION_TO_REDUCE = "51169"
REDUCE_ONLY_SAME_DIRECTION = "51170"
CANCEL_FAILED = "51400"
CANCEL_ALREADY_CANCELED = "51401"
CANCEL_ALREADY_COMPLETED = "51402"
AMEND_FAILED = "51503"
AMEND_ALREADY_CANCELED = "51509"
AMEND_ALREADY_COMPLETED = "51510"
POST_ONLY_WOULD_TAKE = "51511"
ORDER_NOT_FOUND = "51603"
WS_INVALID_TIMESTAMP = "60004"
WS_INVALID_API_KEY = "60005"
WS_TIMESTAMP_EXPIRED = "60006"
WS_INVALID_SIGN = "60007"
WS_LOGIN_FAILED = "60009"
WS_NOT_LOGGED_IN = "60011"
WS_WRONG_PASSPHRASE = "60024"


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


class OkxOrderNotFound(OkxRejected):
    """The exchange does not know this order (a query by clOrdId/ordId)."""


class OkxOrderNotPending(OkxRejected):
    """A cancel or amend refused because the order is filled, cancelled or unknown: query it."""


class OkxDuplicateClientId(OkxRejected):
    """The client id is taken by an order the exchange holds: an earlier attempt reached it."""


class OkxDuplicateClOrdId(OkxDuplicateClientId):
    """clOrdId already names a pending order."""


class OkxDuplicateAlgoClOrdId(OkxDuplicateClientId):
    """algoClOrdId already names a pending algo order."""


class OkxInsufficientMargin(OkxRejected):
    """Not enough balance or margin for the order."""


class OkxPostOnlyWouldTake(OkxRejected):
    """A post-only order (or amend) would have taken liquidity."""


class OkxReduceOnlyWouldIncrease(OkxRejected):
    """A reduce-only order that would open or increase a position (nothing to reduce in its direction)."""


class OkxPriceOutOfBand(OkxRejected):
    """The order price (or a stop's trigger) lies outside the instrument's price-limit band
    (GET /public/price-limit): fetch the band, move the price inside it or close at market on purpose."""


class OkxAccountModeUnsupported(OkxRejected):
    """Not possible in the account's mode (a spot-mode account trading swaps): change the account mode."""


class OkxExpired(OkxRejected):
    """Not executed: the request reached the exchange after its expTime (OkxRestGateway sets it)."""


class OkxAuthError(OkxError):
    """Credentials, signature, timestamp or permission problem. Retrying will not help."""


class OkxRateLimited(OkxError):
    def __init__(
        self,
        msg: str,
        code: str = RATE_LIMITED,
        http_status: int | None = None,
        path: str = "",
        retry_after: float = 1.0,
    ) -> None:
        super().__init__(msg, code, http_status, path)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return super().__str__() + f" retry_after={self.retry_after:.2f}s"


class OkxTransient(OkxError):
    """Nothing happened on the exchange; safe to retry with backoff."""


class OkxAmbiguous(OkxError):
    """Sent, outcome unknown. Query by clOrdId before doing anything else with this order."""

    def __init__(
        self, msg: str, code: str = "", http_status: int | None = None, path: str = "", clOrdId: str = ""
    ) -> None:
        super().__init__(msg, code, http_status, path)
        self.clOrdId = clOrdId

    def __str__(self) -> str:
        return super().__str__() + (f" clOrdId={self.clOrdId}" if self.clOrdId else "")


class ParseError(OkxError, ValueError):
    """An OKX payload did not have the shape or values we expect."""


# -- what each code means ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CodeRule:
    write: type[OkxError]  # the class when the code answers a trade write (place/amend/cancel/algo POST)
    read: type[OkxError]  # ... any other request
    reason: str


def _unknown_on_write(reason: str) -> CodeRule:
    return CodeRule(OkxAmbiguous, OkxTransient, reason)


def _always(cls: type[OkxError], reason: str) -> CodeRule:
    return CodeRule(cls, cls, reason)


# Every OKX code Athena handles specially, with the reason. A code not here falls to the general rules
# of classify (429 -> rate limited, 501xx/401 -> auth, HTTP 5xx -> unknown on a write / transient on a
# read, anything else -> OkxRejected).
CODES: dict[str, CodeRule] = {
    # Outcome unknown: on a trade write OKX may have run it (query by clOrdId); a read may just be retried.
    SERVICE_UNAVAILABLE: _unknown_on_write(
        "service temporarily unavailable [503]: a trade request may have "
        "reached the matching engine before the failure"
    ),
    ENDPOINT_TIMEOUT: _unknown_on_write(
        "endpoint request timeout: OKX documents the result as unknown, to be checked"
    ),
    API_OFFLINE: _unknown_on_write(
        "API offline or unavailable [410]: OKX does not say whether a trade request that reached it ran"
    ),
    SYSTEM_BUSY: _unknown_on_write(
        "systems busy [429]: not the gateway's rate limit (50011) but the backend's; "
        "a trade request may have run"
    ),
    SYSTEM_ERROR: _unknown_on_write("system error [500]: the error may come after the order was processed"),
    INFO_TIMED_OUT: _unknown_on_write("a timeout inside OKX: a trade request may have run"),
    ORDER_TIMED_OUT: _unknown_on_write(
        "order timed out, please try again: OKX may have placed the order; never a rejection"
    ),
    # Refused before processing: nothing ran, retry after a pause.
    RATE_LIMITED: _always(OkxRateLimited, "too many requests [429]: refused at the gateway, nothing ran"),
    SUB_ACCOUNT_RATE_LIMITED: _always(OkxRateLimited, "sub-account order rate limit: refused, nothing ran"),
    CLOSE_TOO_FREQUENT: _always(
        OkxRateLimited, "market-close requests too frequent [429]: the close was refused"
    ),
    # Credentials and clock: retrying as is will not help (OkxRestGateway re-syncs the clock once on 50102).
    TIMESTAMP_EXPIRED: _always(
        OkxAuthError,
        "timestamp expired [401]: clock skew; on a request carrying expTime it was not executed (OkxExpired)",
    ),
    WS_INVALID_TIMESTAMP: _always(OkxAuthError, "WebSocket login: invalid timestamp"),
    WS_INVALID_API_KEY: _always(OkxAuthError, "WebSocket login: invalid apiKey"),
    WS_TIMESTAMP_EXPIRED: _always(OkxAuthError, "WebSocket login: timestamp expired (clock skew)"),
    WS_INVALID_SIGN: _always(OkxAuthError, "WebSocket login: invalid signature"),
    WS_LOGIN_FAILED: _always(OkxAuthError, "WebSocket login failed"),
    WS_NOT_LOGGED_IN: _always(OkxAuthError, "WebSocket: a private channel before a login succeeded"),
    WS_WRONG_PASSPHRASE: _always(OkxAuthError, "WebSocket login: wrong passphrase"),
    # Definite refusals callers act on.
    ORDER_NOT_FOUND: _always(OkxOrderNotFound, "order does not exist: a query by clOrdId answers 'unknown'"),
    CANCEL_FAILED: _always(OkxOrderNotPending, "cancel failed: the order is filled, cancelled or unknown"),
    CANCEL_ALREADY_CANCELED: _always(OkxOrderNotPending, "cancel failed: the order is already cancelled"),
    CANCEL_ALREADY_COMPLETED: _always(OkxOrderNotPending, "cancel failed: the order is already filled"),
    AMEND_FAILED: _always(OkxOrderNotPending, "amend failed: the order is filled, cancelled or unknown"),
    AMEND_ALREADY_CANCELED: _always(OkxOrderNotPending, "amend failed: the order is already cancelled"),
    AMEND_ALREADY_COMPLETED: _always(OkxOrderNotPending, "amend failed: the order is already filled"),
    DUPLICATE_CL_ORD_ID: _always(OkxDuplicateClOrdId, "clOrdId already exists: an earlier attempt placed it"),
    DUPLICATE_ALGO_CL_ORD_ID: _always(
        OkxDuplicateAlgoClOrdId, "algoClOrdId already exists: an earlier attempt placed the stop"
    ),
    INSUFFICIENT_MARGIN: _always(OkxInsufficientMargin, "insufficient balance or margin for the order"),
    PRICE_OUT_OF_BAND: _always(OkxPriceOutOfBand, "order price not within the price limit (the band)"),
    PRICE_OR_TRIGGER_EXCEEDS: _always(
        OkxPriceOutOfBand, "order price or trigger price beyond the allowed range"
    ),
    CLOSE_ABOVE_BUY_LIMIT: _always(
        OkxPriceOutOfBand, "a closing buy above the highest price the band allows"
    ),
    CLOSE_BELOW_SELL_LIMIT: _always(
        OkxPriceOutOfBand, "a closing sell below the lowest price the band allows"
    ),
    BUY_ABOVE_LIMIT: _always(OkxPriceOutOfBand, "a buy above the highest price the band allows"),
    SELL_BELOW_LIMIT: _always(OkxPriceOutOfBand, "a sell below the lowest price the band allows"),
    ACCOUNT_MODE_UNSUPPORTED: _always(
        OkxAccountModeUnsupported,
        "not supported in the current account mode (a spot-mode account cannot trade swaps)",
    ),
    AVAILABLE_BALANCE_ZERO: _always(OkxInsufficientMargin, "available balance is 0"),
    INSUFFICIENT_BALANCE: _always(OkxInsufficientMargin, "insufficient balance in the trading account"),
    POST_ONLY_WOULD_TAKE: _always(OkxPostOnlyWouldTake, "the price does not meet post-only: it would take"),
    REDUCE_ONLY_WOULD_INCREASE: _always(
        OkxReduceOnlyWouldIncrease, "reduce-only cannot increase the position"
    ),
    NO_POSITION_TO_REDUCE: _always(OkxReduceOnlyWouldIncrease, "no position in this direction to reduce"),
    REDUCE_ONLY_SAME_DIRECTION: _always(
        OkxReduceOnlyWouldIncrease, "a reduce-only order in the position's own direction"
    ),
}


def outcome_unknown(code: str) -> bool:
    """A per-item code on a trade write that leaves the outcome unknown (neither done nor refused)."""
    rule = CODES.get(code)
    return rule is not None and rule.write is OkxAmbiguous


def classify(
    code: str,
    msg: str,
    http_status: int | None = None,
    path: str = "",
    sCode: str = "",
    sMsg: str = "",
    clOrdId: str = "",
    retry_after: float = 1.0,
    write: bool = False,
) -> OkxError:
    """The error for a failed reply. `code` is the envelope code, `sCode` the item's (preferred).
    `write`: the request was a trade write (place/amend/cancel/algo POST), which may have run."""
    eff = sCode if sCode and sCode != "0" else code
    text = sMsg or msg or "OKX error"
    rule = CODES.get(eff)
    if rule is not None:
        cls = rule.write if write else rule.read
    elif http_status == 429 and not sCode:
        cls = OkxRateLimited
    elif (eff.startswith("501") and len(eff) == 5) or http_status == 401:
        cls = OkxAuthError
    elif http_status is not None and http_status >= 500 and not eff.startswith("51"):
        # an HTTP 5xx on a trade write may come after the backend processed it (proxy 502/504, an error on
        # the way out): the order may exist
        cls = OkxAmbiguous if write else OkxTransient
    else:
        cls = OkxRejected
    if issubclass(cls, OkxRejected):
        return cls(text, code, sCode, sMsg, clOrdId, http_status, path)
    if cls is OkxAmbiguous:
        return OkxAmbiguous(text, eff, http_status, path, clOrdId)
    if cls is OkxRateLimited:
        return OkxRateLimited(text, eff or RATE_LIMITED, http_status, path, retry_after)
    return cls(text, eff, http_status, path)
