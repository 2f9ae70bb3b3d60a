"""The orders worker's pre-trade gate for an entry that reaches it without a recorded pass.

A strategy's decision checks every entry (PreTradeCheck) and reserves its margin before the order
is recorded; that reservation is its recorded pass, read with the placement lease (PlaceStart.checked).
An entry sent to athena.place_order by hand (celery call, Flower) has none: it is checked here, with
the same gate, against its strategy's allocation, notional, leverage, exposure and order rate, and its
margin is reserved, or it is refused (REJECTED, the reason recorded on the order).
"""

from __future__ import annotations

import logging
import time

from athena.domain import Order, OrderRequest, OrderState, OrderUpdate
from athena.engine import Engine
from athena.risk.gate import check_and_reserve

log = logging.getLogger(__name__)


def entry_refusal(engine: Engine, req: OrderRequest) -> str | None:
    """None when req passed the pre-trade check and its margin is reserved, else why not."""
    inst = engine.instruments.get(req.instId)
    if inst is None:
        return f"unknown_instrument: {req.instId} is not a configured instrument"
    capital = engine.capital
    with capital.consistent_view((engine.halt.flag,)):  # one read of the capital numbers and the halt
        equity = capital.allocation(req.strategy) + capital.realised(req.strategy)
        return check_and_reserve(
            req, inst, equity, strategy=req.strategy, risk=engine.pretrade, capital=capital
        )


def refuse_unchecked(engine: Engine, req: OrderRequest) -> tuple[Order, str] | None:
    """Check an entry no decision checked; None when it may go, else (the REJECTED order, reason)."""
    reason = entry_refusal(engine, req)
    if reason is None:
        log.warning(
            "place %s: entry not checked by a decision (sent by hand?): pre-trade passed here", req.clOrdId
        )
        return None
    now = int(time.time() * 1000)
    update = OrderUpdate(
        clOrdId=req.clOrdId,
        instId=req.instId,
        state=OrderState.REJECTED,
        sCode="pre_trade",
        sMsg=reason,
        uTime=now,
        source="local",
    )
    engine.store.set_reason(req.clOrdId, f"pre-trade: {reason}")
    t = engine.orders.on_update(update)
    log.warning("place %s: entry not checked by a decision (sent by hand?) refused: %s", req.clOrdId, reason)
    return t.order, reason
