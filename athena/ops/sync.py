"""sync_positions: the exchange's positions -> POSITION_UPDATE -> shadow-ledger reconcile.

Failures are retried by the task with exponential backoff (1 s -> 60 s). After 10 consecutive
failures the breaker (in Redis, seen by every process) opens for 60 s and the job pauses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from athena.engine import Engine
from athena.oms.positions import Drift
from athena.ops.errors import BreakerOpen

log = logging.getLogger(__name__)

BREAKER = "sync_positions"
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0


def backoff_s(retries: int) -> float:
    return min(BACKOFF_MAX_S, BACKOFF_MIN_S * (2**retries))


@dataclass
class SyncReport:
    positions: list[dict[str, str]] = field(default_factory=list)
    drift: list[dict[str, str]] = field(default_factory=list)  # corrected to the exchange (ERROR events)
    pending: list[dict[str, str]] = field(default_factory=list)  # differences that may be fills in flight

    def to_dict(self) -> dict[str, object]:
        return {"positions": self.positions, "drift": self.drift, "pending": self.pending}


def sync_positions(engine: Engine) -> SyncReport:
    breaker = engine.breaker(BREAKER)
    if breaker.is_open():
        raise BreakerOpen("sync_positions breaker open", countdown=BACKOFF_MAX_S)
    try:
        positions = engine.rest.positions()
    except Exception as exc:
        if breaker.record_failure():
            # Stop this retry chain: the breaker now pauses the job for every process; beat's next
            # run after the pause tries again (half-open).
            log.error("sync_positions: breaker opened after repeated failures (last: %s)", exc)
            raise BreakerOpen(f"sync_positions breaker opened: {exc}", countdown=BACKOFF_MAX_S) from exc
        raise
    breaker.record_success()
    engine.on_exchange_positions(positions)
    drifts = engine.positions.reconcile(positions)
    for p in positions:
        if not p.is_flat:
            engine.journal.record_position(p)
    return SyncReport(
        positions=[{"instId": p.instId, "posSide": str(p.posSide), "pos": str(p.pos), "avgPx": str(p.avgPx)} for p in positions if not p.is_flat],
        # A difference is drift once it is corrected (settled: not a fill in flight); before that it
        # is pending, so a reconcile that races a fresh fill does not cry drift.
        drift=[_drift(d) for d in drifts if d.corrected],
        pending=[_drift(d) for d in drifts if not d.corrected],
    )


def _drift(d: Drift) -> dict[str, str]:
    return {"instId": d.instId, "posSide": str(d.posSide), "ledger_sz": str(d.ledger_sz),
            "exchange_sz": str(d.exchange_sz), "diff": str(d.diff), "corrected": str(d.corrected)}
