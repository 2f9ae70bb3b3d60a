"""The daily PnL summary (beat's daily_summary job): one UTC day's realised PnL, fees, funding and fills
from the capital ledger and the journal, with equity and drawdown now, sent as an alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from athena import alerts
from athena.alerts import events
from athena.engine import Engine

ZERO = Decimal(0)


def previous_day(now: datetime) -> datetime:
    return (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def daily_summary(engine: Engine, day: str | None = None) -> dict[str, Any]:
    """day: YYYYMMDD (UTC); default the day before today. Returns what was sent."""
    start = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC) if day else previous_day(datetime.now(UTC))
    start_ms = int(start.timestamp() * 1000)
    end_ms = start_ms + 86_400_000
    key = start.strftime("%Y%m%d")
    cap = engine.capital
    fills = [f for f in engine.journal.fills(since_ts=start_ms) if f.ts < end_ms]
    fees = sum((f.fee for f in fills), ZERO)
    funding = sum((r.amount for r in engine.journal.funding(since_ts=start_ms) if r.ts < end_ms), ZERO)
    marks = engine.mark_map()
    equity = cap.total_capital + cap.realised() + cap.unrealised(marks).total
    hwm = cap.high_water_mark()
    drawdown = (hwm - equity) / hwm if hwm > 0 and equity < hwm else ZERO
    alert = events.daily_summary(
        day=key,
        realised=str(cap.daily_realised(day=key)),
        fees=str(fees),
        funding=str(funding),
        equity=str(equity),
        drawdown=f"{drawdown:.2%}",
        fills=len(fills),
    )
    alerts.emit(alert)
    return dict(alert.fields)
