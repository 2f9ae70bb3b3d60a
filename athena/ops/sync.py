"""sync_positions: the exchange's positions -> POSITION_UPDATE -> shadow-ledger reconcile.

Failures back off exponentially (1 s -> 60 s); after 10 consecutive failures the breaker opens for
60 s. Both live in Redis, not in a chain of Celery retries: beat sends the job with an `expires` of
one interval and a retry keeps that expiry, so a chain would die within one interval. Every run,
whoever started it, first honours the breaker and the backoff (NotDue when the next attempt is not
due yet) and claims the attempt, so each real failure is counted exactly once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from athena import alerts
from athena.alerts import events as alert_events
from athena.domain import Position
from athena.engine import Engine
from athena.okx.errors import OkxError
from athena.oms.positions import Drift
from athena.ops.errors import BreakerOpen, RetryLater
from athena.ops.in_flight import fills_in_flight
from athena.ops.stop_fills import book_unseen_stop_fills
from athena.state.counters import Breaker

log = logging.getLogger(__name__)

BREAKER = "sync_positions"
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0
ZERO = Decimal(0)


class NotDue(RetryLater):
    """The job is backing off (or another run is attempting): the next attempt is due in countdown s."""


class SyncFailed(RetryLater):
    """This run's attempt failed; the next one is due in countdown s."""


@dataclass
class SyncReport:
    positions: list[dict[str, str]] = field(default_factory=list)
    drift: list[dict[str, str]] = field(default_factory=list)  # corrected to the exchange (ERROR events)
    pending: list[dict[str, str]] = field(default_factory=list)  # differences that may be fills in flight

    def to_dict(self) -> dict[str, object]:
        return {"positions": self.positions, "drift": self.drift, "pending": self.pending}


def sync_positions(engine: Engine, gated: bool = True, orders_settled: bool = False) -> SyncReport:
    """One sync. gated (the sync_positions job): honour and advance the backoff. reconcile syncs as
    part of its own job (gated=False): it honours the breaker only, and its failures count too.
    orders_settled: the caller has just settled every acknowledged working order against the exchange
    (reconcile), so only unacknowledged orders and unemitted fills hold a difference back."""
    breaker = engine.breaker(BREAKER)
    state, open_for = breaker.status()
    if open_for > 0:
        raise BreakerOpen("sync_positions breaker open", countdown=open_for)
    # A claim outlives any attempt (REST timeout, bounded rate-limit waits) unless its run died.
    backoff = engine.backoff(
        BREAKER, BACKOFF_MIN_S, BACKOFF_MAX_S, lease_s=3 * engine.settings.okx.timeout_s + 5
    )
    if gated:
        due_in = backoff.claim()
        if due_in > 0:
            raise NotDue(f"sync_positions backing off: next attempt in {due_in:.3f} s", countdown=due_in)
    try:
        positions = engine.rest.positions()
    except Exception as exc:
        opened = breaker.record_failure()
        wait = backoff.failed(breaker.open_for_s() if opened else None)  # open: its pause, exactly
        if opened:
            # The breaker now pauses the job for every process; the first run after the pause
            # tries again (half-open).
            log.error("sync_positions: breaker opened after repeated failures (last: %s)", exc)
            alerts.emit(alert_events.breaker(BREAKER, opened=True, detail=f"{type(exc).__name__}: {exc}"))
            raise BreakerOpen(f"sync_positions breaker opened: {exc}", countdown=wait) from exc
        if isinstance(exc, OkxError):
            raise SyncFailed(f"sync_positions failed: {exc}", countdown=wait) from exc
        raise  # not the exchange's doing: counted, and left loud
    breaker.record_success()
    if state != Breaker.CLOSED:  # it was half-open: this success closed it
        alerts.emit(alert_events.breaker(BREAKER, opened=False))
    backoff.succeeded()
    _book_unseen_stop_fills(engine, positions)
    engine.on_exchange_positions(positions)
    drifts = engine.positions.reconcile(positions, fills_in_flight(engine, orders_settled))
    for p in positions:
        if not p.is_flat:
            engine.journal.record_position(p)
    return SyncReport(
        positions=[
            {"instId": p.instId, "posSide": str(p.posSide), "pos": str(p.pos), "avgPx": str(p.avgPx)}
            for p in positions
            if not p.is_flat
        ],
        # A difference is drift once it is corrected (settled: not a fill in flight); before that it
        # is pending, so a reconcile that races a fresh fill does not cry drift.
        drift=[_drift(d) for d in drifts if d.corrected],
        pending=[_drift(d) for d in drifts if not d.corrected],
    )


def _book_unseen_stop_fills(engine: Engine, positions: list[Position]) -> None:
    """Where the ledger and the exchange differ, a stop may have fired while no push could tell us: its
    fill is booked first (athena.ops.stop_fills), before the comparison could force it as drift."""
    exchange = {(p.instId, p.posSide): p.signed for p in positions}
    ledger = {k: e.sz for k, e in engine.positions.ledger().items()}
    differ = {k[0] for k in set(exchange) | set(ledger) if exchange.get(k, ZERO) != ledger.get(k, ZERO)}
    if not differ:
        return
    try:
        book_unseen_stop_fills(engine, differ)
    except OkxError as exc:  # the comparison's settle time leaves the next run (or reconcile) to look again
        log.warning("sync_positions: order history not read (%s)", exc)


def _drift(d: Drift) -> dict[str, str]:
    return {
        "instId": d.instId,
        "posSide": str(d.posSide),
        "ledger_sz": str(d.ledger_sz),
        "exchange_sz": str(d.exchange_sz),
        "diff": str(d.diff),
        "corrected": str(d.corrected),
    }
