"""OKX V5 request authentication: HMAC-SHA256 over timestamp + METHOD + raw target + raw body, base64."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    key: str
    secret: str
    passphrase: str

    def __repr__(self) -> str:  # never show secrets
        return f"ApiKey(key={self.key[:4]}...)"


def sign(secret: str, prehash: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), prehash, hashlib.sha256).digest()).decode()


def parse_iso_ms(ts: str) -> int | None:
    """'2020-12-08T09:08:57.715Z' -> epoch ms; None if malformed."""
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return int(dt.timestamp() * 1000)


def check_rest(
    headers: Mapping[str, str],
    method: str,
    target: str,
    body: bytes,
    keys: Mapping[str, ApiKey],
    now_ms: int,
    max_skew_ms: int = 30_000,
) -> str | None:
    """Returns None when the request is authentic, else the OKX error code (all HTTP 401)."""
    key = headers.get("OK-ACCESS-KEY", "")
    sig = headers.get("OK-ACCESS-SIGN", "")
    ts = headers.get("OK-ACCESS-TIMESTAMP", "")
    pp = headers.get("OK-ACCESS-PASSPHRASE", "")
    if not key:
        return "50103"
    if not pp:
        return "50104"
    if not sig:
        return "50106"
    if not ts:
        return "50107"
    api = keys.get(key)
    if api is None:
        return "50111"
    t = parse_iso_ms(ts)
    if t is None:
        return "50112"
    if abs(now_ms - t) > max_skew_ms:
        return "50102"
    if not hmac.compare_digest(pp, api.passphrase):
        return "50105"
    expect = sign(api.secret, ts.encode() + method.upper().encode() + target.encode() + body)
    if not hmac.compare_digest(expect, sig):
        return "50113"
    return None


def check_ws_login(
    arg: dict[str, object], keys: Mapping[str, ApiKey], now_s: float, max_skew_s: float = 30
) -> str | None:
    """WS login arg {apiKey, passphrase, timestamp (s, str or number), sign}; None if OK else error code."""
    key, pp, sig, ts = arg.get("apiKey"), arg.get("passphrase"), arg.get("sign"), arg.get("timestamp")
    if not isinstance(key, str) or not key or key not in keys:
        return "60005"
    api = keys[key]
    if isinstance(ts, bool) or not isinstance(ts, str | int | float):
        return "60004"
    ts_s = str(ts)
    try:
        tval = float(ts_s)
    except ValueError:
        return "60004"
    if abs(now_s - tval) > max_skew_s:
        return "60006"
    if not isinstance(pp, str) or not hmac.compare_digest(pp, api.passphrase):
        return "60024"
    expect = sign(api.secret, (ts_s + "GET" + "/users/self/verify").encode())
    if not isinstance(sig, str) or not hmac.compare_digest(expect, sig):
        return "60009"
    return None


# OKX documents only that an expired request "will not be processed" and names no code; the sim answers
# with OKX's "request expired" code so a client can tell it apart from an ambiguous outcome.
EXPIRED_CODE = "50102"


def exp_time_error(value: object, now_ms: int) -> str | None:
    """None if a request carrying expTime=value (epoch ms; absent = no deadline) may run at now_ms."""
    if value is None or value == "":
        return None
    try:
        deadline = int(str(value))
    except ValueError:
        return "51000"
    return EXPIRED_CODE if now_ms > deadline else None
