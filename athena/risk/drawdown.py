"""The drawdown breaker: halt new entries on max drawdown from the high-water mark or on the
daily (UTC) realised loss limit. Run by beat (check_drawdown) and after fills."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from athena import alerts
from athena.alerts import events as alert_events
from athena.risk.capital import CapitalLedger
from athena.risk.config import RiskConfig
from athena.risk.halt import HaltSwitch

log = logging.getLogger(__name__)

WHO = "drawdown_breaker"


@dataclass(frozen=True, slots=True)
class DrawdownReport:
    equity: Decimal
    hwm: Decimal
    drawdown: Decimal  # fraction below the high-water mark
    max_drawdown: Decimal
    daily_realised: Decimal  # net, this UTC day
    daily_limit: Decimal  # the loss (positive amount) that halts
    complete: bool  # every open position had a mark
    breached: str | None  # "max_drawdown" | "daily_loss" | None
    halted: bool  # the switch is set (by this check or before)
    newly_halted: bool  # this check set it


def check_drawdown(
    capital: CapitalLedger,
    config: RiskConfig,
    halt: HaltSwitch,
    marks: Mapping[str, Decimal] | None = None,
) -> DrawdownReport:
    marks = marks or {}
    eq = capital.update_equity(marks)
    daily = capital.daily_realised()
    day_open = capital.total_capital + capital.realised() - daily  # realised equity at 00:00 UTC
    limit = config.daily_loss_limit * day_open
    breached, text = None, ""
    if eq.drawdown >= config.max_drawdown:
        breached = "max_drawdown"
        text = f"drawdown {eq.drawdown:.4%} >= {config.max_drawdown:.2%} (equity {eq.equity}, hwm {eq.hwm})"
    elif -daily >= limit:
        breached = "daily_loss"
        text = f"daily realised loss {-daily} >= {config.daily_loss_limit:.2%} of {day_open} = {limit}"
    if not eq.complete:
        log.warning("drawdown check without a mark for every open position: equity %s may be off", eq.equity)
    newly = halt.halt(f"{breached}: {text}", who=WHO) if breached else False
    if breached:  # every check while breached; the notifier sends it once per rate window
        alerts.emit(alert_events.drawdown(breached, text))
    return DrawdownReport(
        equity=eq.equity, hwm=eq.hwm, drawdown=eq.drawdown, max_drawdown=config.max_drawdown,
        daily_realised=daily, daily_limit=limit, complete=eq.complete, breached=breached,
        halted=newly or halt.is_halted(), newly_halted=newly,
    )  # fmt: skip
