"""halt: stop new entries and cancel the entries still working on the exchange.

The switch itself (the global HaltSwitch, or one strategy's pause) is a Redis write that needs no
worker: `athena halt` sets it directly, and placement refuses every queued entry on sight from then
on. What does need the orders worker (the account's single writer to the exchange) is cancelling the
entries already sent: this module, run by the athena.halt task (or by `athena halt --local`).
Reduce-only orders (take-profits, closes) and stops stay: a halt stops new risk, it does not unwind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from athena.domain import Order, OrderState
from athena.engine import Account, Engine
from athena.okx.errors import OkxError, OkxRejected

log = logging.getLogger(__name__)


@dataclass
class HaltReport:
    reason: str
    strategy: str | None = None
    newly: bool = False  # this call set the switch (False: it was already set)
    entries_cancelled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "halted": self.strategy is None, "paused": self.strategy, "reason": self.reason,
            "newly": self.newly,
            "entries_cancelled": self.entries_cancelled, "failed": self.failed, "ok": not self.failed,
        }  # fmt: skip


def set_switch(acct: Account, reason: str, who: str, strategy: str | None = None) -> bool:
    """Set the global halt, or pause one strategy. True if this call set it (a Redis write: no worker,
    no exchange)."""
    if strategy is None:
        return acct.halt.halt(reason, who=who)
    return acct.pause.pause(strategy, reason, who)


def entries_to_cancel(working: Iterable[Order], strategy: str | None = None) -> list[Order]:
    """The working entries a halt cancels on the exchange: sent and not reduce-only (of `strategy`
    only, for a pause). One never acknowledged is not among them: placement refuses it on sight
    now, and reconcile settles one whose outcome was lost."""
    return [o for o in working
            if not o.req.reduceOnly and (strategy is None or o.req.strategy == strategy)
            and (o.state.rank >= OrderState.LIVE.rank or o.ordId)]  # fmt: skip


def halt(
    acct: Account,
    engine: Callable[[], Engine],
    reason: str,
    who: str = "operator",
    strategy: str | None = None,
) -> HaltReport:
    """Set the switch, then cancel the entries it covers. `engine` is asked for only when there is one
    to cancel, so a halt with nothing working needs neither the exchange nor the instruments."""
    report = HaltReport(reason=reason, strategy=strategy, newly=set_switch(acct, reason, who, strategy))
    working = entries_to_cancel(acct.store.working(), strategy)
    if working:
        _cancel(engine(), working, report)
    log.warning(
        "HALT %s: %s; %d working entries cancelled",
        strategy or "all strategies",
        reason,
        len(report.entries_cancelled),
    )
    return report


def _cancel(engine: Engine, working: list[Order], report: HaltReport) -> None:
    for order in working:
        try:
            engine.rest.cancel_order(order.instId, clOrdId=order.clOrdId)
            report.entries_cancelled.append(order.clOrdId)
        except OkxRejected:  # filled or cancelled meanwhile: the exchange's word settles our record
            found = engine.rest.get_order(order.instId, clOrdId=order.clOrdId)
            if found is not None:
                engine.orders.on_update(found)
        except OkxError as exc:
            report.failed.append(f"cancel {order.clOrdId}: {exc}")
