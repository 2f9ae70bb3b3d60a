"""The pre-trade gate every order passes once: PreTradeCheck, then the capital reservation of an
approved entry's margin. The reservation, kept under the order's clOrdId, is the recorded pass: the
orders worker reads it in the step that starts a placement and checks here an entry arriving
without one (a hand-sent athena.place_order). StrategyContext.submit runs it for every decision.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from athena.domain import Instrument, OrderRequest
from athena.domain.money import ZERO


class PreTradeLike(Protocol):
    def check(
        self, req: OrderRequest, instrument: Instrument, equity: Decimal, bypass: bool = False
    ) -> Any: ...


class CapitalLike(Protocol):
    def reserve(self, strategy: str, clOrdId: str, margin: Decimal, sz: Decimal | None = None) -> Any: ...


def refusal(verdict: Any) -> str | None:
    """PreTradeCheck returns Approved | Rejected (ok False, reason); None means approved."""
    if getattr(verdict, "ok", False):
        return None
    return str(getattr(verdict, "reason", "rejected"))


def check_and_reserve(
    req: OrderRequest,
    instrument: Instrument,
    equity: Decimal,
    *,
    strategy: str,
    risk: PreTradeLike,
    capital: CapitalLike | None,
    bypass: bool = False,
) -> str | None:
    """None when req may go (its margin, if any, now reserved for strategy under its clOrdId),
    else why not (the PreTradeCheck reason, or "reserve: <code>")."""
    verdict = risk.check(req, instrument, equity, bypass)
    reason = refusal(verdict)
    margin = getattr(verdict, "margin", ZERO) or ZERO
    if reason is None and capital is not None and margin > 0:
        res = capital.reserve(strategy, req.clOrdId, margin, req.sz)
        if not getattr(res, "ok", True):
            reason = f"reserve: {getattr(res, 'code', 'refused')}"
    return reason
