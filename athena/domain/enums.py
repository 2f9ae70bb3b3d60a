"""OKX's enumerations, spelled as OKX spells them on the wire."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class PosSide(StrEnum):
    NET = "net"
    LONG = "long"
    SHORT = "short"


class OrdType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    POST_ONLY = "post_only"
    FOK = "fok"
    IOC = "ioc"
    OPTIMAL_LIMIT_IOC = "optimal_limit_ioc"

    @property
    def needs_px(self) -> bool:
        return self not in (OrdType.MARKET, OrdType.OPTIMAL_LIMIT_IOC)


class TdMode(StrEnum):
    CROSS = "cross"
    ISOLATED = "isolated"


class PosMode(StrEnum):
    NET = "net_mode"
    LONG_SHORT = "long_short_mode"


class OrderState(StrEnum):
    """Lifecycle of an order. CREATED/SENT/AMBIGUOUS/REJECTED are ours; the rest are OKX's.

    Ranks only go up (rule 2, docs/DESIGN_RULES.md). AMBIGUOUS (request sent, outcome unknown) outranks
    SENT so a timeout is never forgotten, but any word from the exchange outranks it.
    """

    CREATED = "created"
    SENT = "sent"
    AMBIGUOUS = "ambiguous"
    LIVE = "live"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_terminal(self) -> bool:
        return _RANK[self] >= TERMINAL_RANK

    @property
    def is_working(self) -> bool:
        """May still fill (or might exist on the exchange)."""
        return not self.is_terminal

    @classmethod
    def from_okx(cls, state: str) -> OrderState:
        # mmp_canceled is options-only but terminal like canceled.
        if state == "mmp_canceled":
            return cls.CANCELED
        return cls(state)


TERMINAL_RANK = 40
_RANK: dict[OrderState, int] = {
    OrderState.CREATED: 0,
    OrderState.SENT: 10,
    OrderState.AMBIGUOUS: 15,
    OrderState.LIVE: 20,
    OrderState.PARTIALLY_FILLED: 30,
    OrderState.FILLED: TERMINAL_RANK,
    OrderState.CANCELED: TERMINAL_RANK,
    OrderState.REJECTED: TERMINAL_RANK,
}


class AlgoState(StrEnum):
    """States of an OKX algo (conditional stop) order."""

    LIVE = "live"
    PAUSE = "pause"
    PARTIALLY_EFFECTIVE = "partially_effective"
    EFFECTIVE = "effective"
    CANCELED = "canceled"
    ORDER_FAILED = "order_failed"
    PARTIALLY_FAILED = "partially_failed"

    @property
    def is_working(self) -> bool:
        return self in (AlgoState.LIVE, AlgoState.PAUSE, AlgoState.PARTIALLY_EFFECTIVE)


class TriggerPxType(StrEnum):
    LAST = "last"
    INDEX = "index"
    MARK = "mark"
