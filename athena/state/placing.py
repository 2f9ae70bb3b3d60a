"""The start of a placement attempt as one atomic Redis step (place_begin.lua).

Acquires the single-writer placement lease and, only if it was granted, reads the order's recorded
state, sets the `placing` marker (an attempt may reach the exchange from now on) and reads the halt
switch, the order's strategy's pause and the order's capital reservation (the pre-trade pass its
decision recorded). One round trip instead of five on the path from the strategy's decision to the
exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from redis import Redis

from athena.domain import OrderRequest
from athena.state.keys import Keys
from athena.state.scripts import LuaScript, s

_BEGIN = LuaScript.from_package("place_begin.lua")


@dataclass(frozen=True, slots=True)
class PlaceStart:
    token: int | None  # the lease's fencing token; None: another writer holds the lease
    state: str | None  # the order's recorded state; None: no record (or the lease was not granted)
    first_attempt: bool  # the marker was absent and is set now (meaningless when state is None)
    halted: bool
    reserved_by: str | None = None  # the strategy that reserved margin for this clOrdId, if one did
    reserved_sz: str | None = None  # the size that reservation was made for
    paused: bool = False  # the order's strategy is paused (`athena halt --strategy`)

    def checked(self, req: OrderRequest) -> bool:
        """True when a pre-trade pass is recorded for exactly this entry: the capital reservation
        StrategyContext.submit (or an earlier attempt here) made after PreTradeCheck approved it,
        for req's strategy and size."""
        if self.reserved_by is None or self.reserved_sz is None or self.reserved_by != req.strategy:
            return False
        try:
            return Decimal(self.reserved_sz) == req.sz
        except InvalidOperation:
            return False


def placing_marker(keys: Keys, clOrdId: str) -> str:
    return keys.placing(clOrdId)


def begin_placement(
    redis: Redis,
    keys: Keys,
    owner: str,
    clOrdId: str,
    lease_ttl_ms: int,
    now_ms: int,
    marker_ttl_s: int,
    strategy: str = "",
) -> PlaceStart:
    if not owner or "|" in owner:
        raise ValueError("owner must be non-empty, without '|'")
    token, state, first, halted, reserved_by, reserved_sz, paused = _BEGIN(
        redis,
        [keys.lease("placement"), keys.fence("placement"), keys.order(clOrdId), placing_marker(keys, clOrdId),
         keys.halt,
         keys.reservation(clOrdId), keys.strategy_pause],
        [owner, lease_ttl_ms, now_ms, marker_ttl_s, strategy],
    )  # fmt: skip
    if not int(token):
        return PlaceStart(None, None, False, bool(int(halted)), paused=bool(int(paused)))
    return PlaceStart(
        int(token), s(state) if state else None, bool(int(first)), bool(int(halted)),
        s(reserved_by) if reserved_by else None, s(reserved_sz) if reserved_sz else None, bool(int(paused)),
    )  # fmt: skip
