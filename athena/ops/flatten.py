"""flatten: the emergency exit. Halt entries, cancel every order and stop, close every position
reduce-only (pre-trade checks bypassed: closing only ever reduces risk), report what was done.

Closing goes through OKX's close-position (a market close of the whole position, autoCxl so pending
close orders do not block it). Stops are cancelled only after the positions they protect are closed,
so a failure half-way never leaves an open position without its stop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from athena.engine import Engine
from athena.okx.errors import OkxError, OkxRejected

log = logging.getLogger(__name__)


@dataclass
class FlattenReport:
    reason: str
    halted: bool = False
    orders_cancelled: list[str] = field(default_factory=list)
    positions_closed: list[dict[str, str]] = field(default_factory=list)
    stops_cancelled: list[str] = field(default_factory=list)
    # stops whose cancel was refused because they were gone already (fired, or cancelled by the OMS as
    # their position closed): not failures, the exchange no longer lists them
    stops_gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    remaining_positions: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason, "halted": self.halted, "orders_cancelled": self.orders_cancelled,
            "positions_closed": self.positions_closed, "stops_cancelled": self.stops_cancelled,
            "stops_gone": self.stops_gone, "failed": self.failed,
            "remaining_positions": self.remaining_positions,
            "ok": not self.failed and not self.remaining_positions,
        }  # fmt: skip


def flatten(engine: Engine, inst_id: str | None = None, reason: str = "manual flatten") -> FlattenReport:
    report = FlattenReport(reason=reason)
    if inst_id is None:
        report.halted = True
        engine.halt.halt(f"flatten: {reason}", who="flatten")
    log.warning("FLATTEN %s: %s", inst_id or "all instruments", reason)
    rest = engine.rest

    for update in rest.orders_pending(inst_id):
        try:
            rest.cancel_order(
                update.instId, clOrdId=update.clOrdId or None, ordId=None if update.clOrdId else update.ordId
            )
            report.orders_cancelled.append(update.clOrdId or update.ordId or "")
        except OkxRejected:
            pass  # filled or cancelled meanwhile
        except OkxError as exc:
            report.failed.append(f"cancel {update.clOrdId or update.ordId}: {exc}")

    for pos in rest.positions(inst_id):
        if pos.is_flat:
            continue
        try:
            rest.close_position(pos.instId, pos.mgnMode, pos.posSide, autoCxl=True)
            report.positions_closed.append(
                {"instId": pos.instId, "posSide": str(pos.posSide), "pos": str(pos.pos)}
            )
        except OkxError as exc:
            report.failed.append(f"close {pos.instId} {pos.posSide}: {exc}")

    still_open = [p for p in rest.positions(inst_id) if not p.is_flat]
    report.remaining_positions = [
        {"instId": p.instId, "posSide": str(p.posSide), "pos": str(p.pos)} for p in still_open
    ]
    open_keys = {(p.instId, p.posSide) for p in still_open}
    by_inst: dict[str, list[str]] = {}
    for algo in rest.algos_pending(inst_id):
        if (algo.instId, algo.posSide) in open_keys or not algo.algoId:
            continue  # keep protecting what could not be closed
        by_inst.setdefault(algo.instId, []).append(algo.algoId)
    unconfirmed: dict[str, str] = {}  # algoId -> why its cancel is not confirmed
    for instId, ids in by_inst.items():
        for i in range(0, len(ids), 10):
            chunk = ids[i : i + 10]
            try:
                acks = rest.cancel_algos(instId, algoIds=chunk)
                report.stops_cancelled += [a.algoId for a in acks if a.ok]
                unconfirmed.update(
                    {a.algoId: f"cancel stop {a.algoId}: {a.sCode} {a.sMsg}" for a in acks if not a.ok}
                )
            except OkxError as exc:
                unconfirmed.update(dict.fromkeys(chunk, f"cancel stops {instId}: {exc}"))
    if unconfirmed:
        _settle_unconfirmed(engine, inst_id, unconfirmed, report)
    engine.journal.record_event("flatten", reason, report.to_dict())
    return report


def _settle_unconfirmed(
    engine: Engine, inst_id: str | None, unconfirmed: dict[str, str], report: FlattenReport
) -> None:
    """A stop whose cancel was refused or not answered may be gone already: the stream worker cancels an
    entry's stop when its position closes, and a stop may fire meanwhile. Only one the exchange still
    lists pending is a failure (or all of them, when the list cannot be read)."""
    try:
        live: set[str] | None = {a.algoId or "" for a in engine.rest.algos_pending(inst_id)}
    except OkxError as exc:
        log.warning("flatten: pending stops not read again (%s)", exc)
        live = None
    for algo_id, why in unconfirmed.items():
        if live is not None and algo_id not in live:
            report.stops_gone.append(algo_id)
        elif why not in report.failed:
            report.failed.append(why)
