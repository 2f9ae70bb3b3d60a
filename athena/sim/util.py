"""Small helpers shared by the sim: wire parsing (""/null = absent), Decimal formatting, ids, clock."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from athena.domain.money import fmt

Clock = Callable[[], int]  # epoch milliseconds


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class BadParam(ValueError):
    """A request field is missing or malformed; carries the OKX parameter name."""

    def __init__(self, name: str, code: str = "51000") -> None:
        super().__init__(name)
        self.name = name
        self.code = code


def absent(v: Any) -> bool:
    return v is None or v == ""


def text(body: dict[str, Any], key: str, default: str = "") -> str:
    v = body.get(key)
    if absent(v):
        return default
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def dec(body: dict[str, Any], key: str, required: bool = False) -> Decimal | None:
    """A numeric field sent as a string or a JSON number. Floats are read via their repr (ccxt sends ints)."""
    v = body.get(key)
    if absent(v):
        if required:
            raise BadParam(key)
        return None
    if isinstance(v, bool):
        raise BadParam(key)
    try:
        d = Decimal(v) if isinstance(v, str | int) else Decimal(repr(v))
    except (InvalidOperation, ValueError) as exc:
        raise BadParam(key) from exc
    if not d.is_finite():
        raise BadParam(key)
    return d


def flag(body: dict[str, Any], key: str) -> bool:
    v = body.get(key)
    return v is True or (isinstance(v, str) and v.lower() == "true")


# fmt() results by value: a wire string depends only on the Decimal's value (fmt normalizes), and the
# same few values (0, prices near the market, sizes, leverage) are formatted over and over per push.
_S: dict[Decimal, str] = {}
_S_MAX = 65_536


def s(v: Decimal | None) -> str:
    """Decimal to wire string; None to ""."""
    if v is None:
        return ""
    try:
        r = _S.get(v)
    except TypeError:  # a signalling NaN is unhashable: format it uncached
        return fmt(v)
    if r is None:
        if len(_S) >= _S_MAX:
            _S.clear()
        r = _S[v] = fmt(v)
    return r


def rnd(v: Decimal | None, places: int = 10) -> Decimal | None:
    """Cut long quotients (avgPx, ratios) to a sane number of places for the wire."""
    return None if v is None else v.quantize(Decimal(1).scaleb(-places)).normalize()


class Ids:
    """Numeric 19-digit ids, deterministic for a seed: one counter per kind."""

    def __init__(self, seed: int) -> None:
        rnd = random.Random(seed)
        base = 2_000_000_000_000_000_000 + rnd.randrange(10**17)
        self._next = {k: base + i * 10**16 for i, k in enumerate(("ord", "algo", "trade", "bill", "pos"))}

    def new(self, kind: str) -> str:
        self._next[kind] += 1
        return str(self._next[kind])


def valid_client_id(v: str, max_len: int = 32) -> bool:
    return 1 <= len(v) <= max_len and v.isascii() and v.isalnum()
