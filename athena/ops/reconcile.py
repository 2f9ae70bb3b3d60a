"""reconcile and cancel_ghost_orders: the exchange is the source of truth (rule 5, docs/DESIGN_RULES.md).

reconcile: orders we think are working vs the exchange's pending list (each difference settled by a
query by clOrdId), orders the exchange has that we never recorded (recorded as external), orders
never acknowledged (settled through OrderManager.resolve_ambiguous), then the position ledger.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from athena.domain import OrderState
from athena.engine import Engine
from athena.okx.errors import OkxError, OkxRejected
from athena.ops.stop_fills import book_unseen_stop_fills
from athena.ops.sync import sync_positions

log = logging.getLogger(__name__)

GHOST_MIN_AGE_MS = 3_000  # a fill may not have reached the position snapshot yet


@dataclass
class ReconcileReport:
    orders_checked: int = 0
    orders_settled: list[dict[str, str]] = field(default_factory=list)
    external_orders: list[str] = field(default_factory=list)
    unconfirmed: list[dict[str, str]] = field(default_factory=list)
    stops_live: int = 0
    outbox_recovered: int = 0
    stop_fills_unseen: list[str] = field(default_factory=list)  # triggered stops' fills no push reported
    positions: dict[str, Any] = field(default_factory=dict)
    # accounting errors: clamps counted so far (CapitalCommander.errors) and strategies whose
    # reserved differs from what their open reservations hold (CapitalCommander.audit)
    capital: dict[str, Any] = field(default_factory=dict)

    @property
    def drift(self) -> list[Any]:
        return list(self.positions.get("drift", []))

    @property
    def capital_errors(self) -> int:
        return int(self.capital.get("clamps", 0)) + len(self.capital.get("reserved_mismatch", []))

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders_checked": self.orders_checked,
            "orders_settled": self.orders_settled,
            "external_orders": self.external_orders,
            "unconfirmed": self.unconfirmed,
            "stops_live": self.stops_live,
            "outbox_recovered": self.outbox_recovered,
            "stop_fills_unseen": self.stop_fills_unseen,
            "positions": self.positions,
            "drift": self.drift,
            "capital": self.capital,
            "ok": not self.drift and not self.capital_errors,
        }


def reconcile(engine: Engine) -> ReconcileReport:
    report = ReconcileReport()
    orders = engine.orders
    # Fills a crashed process committed but never emitted (journal, ledger, capital, stop)
    report.outbox_recovered = orders.recover_outbox()
    pending = {u.clOrdId or "": u for u in engine.rest.orders_pending()}
    ours = orders.working()
    report.orders_checked = len(ours)
    for order in ours:
        if order.state.rank < OrderState.LIVE.rank:
            continue  # unacknowledged: handled below with the ambiguity window
        if order.clOrdId in pending:
            orders.on_update(pending[order.clOrdId])  # may carry fills we missed
            continue
        found = engine.rest.get_order(order.instId, clOrdId=order.clOrdId)
        if found is not None:
            t = orders.on_update(found)
            report.orders_settled.append(
                {"clOrdId": order.clOrdId, "was": str(order.state), "now": str(t.state)}
            )
    for cl, update in pending.items():
        if not cl or engine.store.get(cl) is None:
            t = orders.on_update(update)
            report.external_orders.append(t.order.clOrdId)
    for order in orders.unconfirmed():
        found = engine.rest.get_order(order.instId, clOrdId=order.clOrdId)
        # Not found after the window: a close is sent again (same clOrdId); a stale ENTRY is not,
        # its moment has passed, so it is recorded rejected and its strategy moves on.
        res = orders.resolve_ambiguous(order.clOrdId, found, resend=order.req.reduceOnly)
        report.unconfirmed.append({"clOrdId": order.clOrdId, "resolution": res.outcome})
    stops = engine.rest.algos_pending()
    report.stops_live = len(stops)
    for algo in stops:
        engine.algos.apply_report(algo)
    # before the positions: a stop that fired unheard is booked as its fill, not corrected as drift
    report.stop_fills_unseen = book_unseen_stop_fills(engine)
    report.positions = sync_positions(engine, gated=False, orders_settled=True).to_dict()
    errors = engine.capital.errors()
    report.capital = {
        "clamps": errors.clamps,
        "recent_clamps": errors.recent[:10],
        "reserved_mismatch": engine.capital.audit(),
    }
    if report.capital_errors:
        log.error("reconcile: capital accounting errors: %s", report.capital)
    doc = report.to_dict()
    engine.journal.record_event("reconcile", "reconcile ran", doc)
    record_last(engine, doc)
    return report


LAST_RECONCILE_TTL_S = 7 * 86400


def record_last(engine: Engine, doc: dict[str, Any]) -> None:
    """The latest reconcile's time and outcome, for `athena status` (a summary: the journal has it all)."""
    # by: the orders worker's engine runs every reconcile (its task, or a --local run in its place)
    summary = {"at_ms": int(time.time() * 1000), "ok": doc["ok"], "drift": doc["drift"],
               "pending": list(doc["positions"].get("pending", [])), "orders_checked": doc["orders_checked"],
               "orders_settled": len(doc["orders_settled"]), "external_orders": len(doc["external_orders"]),
               "unconfirmed": len(doc["unconfirmed"]), "by": "orders"}  # fmt: skip
    try:
        engine.redis.set(
            engine.keys.last_reconcile, orjson.dumps(summary, default=str), ex=LAST_RECONCILE_TTL_S
        )
    except Exception:  # the report itself went to the journal; status shows the previous one
        log.warning("last reconcile not recorded in Redis", exc_info=True)


@dataclass
class GhostReport:
    orders: list[str] = field(default_factory=list)
    stops: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {"orders": self.orders, "stops": self.stops, "failed": self.failed}


def cancel_ghost_orders(engine: Engine) -> GhostReport:
    """Working reduce-only orders and stops with no position to reduce are cancelled."""
    positions = engine.rest.positions()
    stops = engine.rest.algos_pending()
    working = [
        engine.store.get(u.clOrdId) or engine.orders.on_update(u).order
        for u in engine.rest.orders_pending()
        if u.clOrdId
    ]
    ghosts = engine.positions.ghost_orders(working, stops, positions, min_age_ms=GHOST_MIN_AGE_MS)
    report = GhostReport()
    for order in ghosts.orders:
        try:
            engine.rest.cancel_order(order.instId, clOrdId=order.clOrdId)
            report.orders.append(order.clOrdId)
        except OkxRejected as exc:  # already gone: fine
            log.info("ghost %s: %s", order.clOrdId, exc)
        except OkxError as exc:
            report.failed.append(f"{order.clOrdId}: {exc}")
    by_inst: dict[str, list[str]] = {}
    for algo in ghosts.stops:
        by_inst.setdefault(algo.instId, []).append(algo.algoId or "")
    for instId, ids in by_inst.items():
        for i in range(0, len(ids), 10):
            chunk = [a for a in ids[i : i + 10] if a]
            try:
                acks = engine.rest.cancel_algos(instId, algoIds=chunk)
                report.stops += [a.algoId for a in acks if a.ok]
                # refused (already triggered or gone) or outcome unknown: not cancelled as far as we know
                report.failed += [f"stop {a.algoId}: {a.sCode} {a.sMsg}" for a in acks if not a.ok]
            except OkxError as exc:
                report.failed.append(f"{instId} stops: {exc}")
    if report.orders or report.stops:
        log.warning("cancelled ghosts: %s", report.to_dict())
    return report
