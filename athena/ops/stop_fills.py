"""Fills of exchange stops nobody heard: a stop that fired while no private WebSocket was listening (the
stream worker restarting, the connection down) left no orders push, so its fill reached neither the
journal, the ledger nor capital. They are in the exchange's order history: the order a triggered stop
created carries the stop's algoClOrdId. Each is applied like its push would have been (OrderManager
keys it by that algoClOrdId, rule 2 emits its fill once), so a push that does arrive later, a second
run, or both, book nothing more.

reconcile runs it every time; sync_positions runs it before comparing the ledger with the exchange
whenever they differ, so an unheard stop fill is booked as the fill it was instead of being forced as
drift (rule 5).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from athena.domain import AlgoState, OrderUpdate, OrdType
from athena.domain.orders import valid_cl_ord_id
from athena.engine import Engine
from athena.ops.in_flight import fills_in_flight
from athena.state.retention import DAY_S, ORDER_RETENTION_S

log = logging.getLogger(__name__)

# How far back the order history is read (OKX keeps 7 days). Well inside ORDER_RETENTION_S: an order
# booked from it must still be on record when it is read again, or it would look unseen.
LOOKBACK_MS = min(DAY_S, ORDER_RETENTION_S // 2) * 1000
# Pages of 100 market orders, newest first: reconcile runs every few minutes, so a stop that fired unheard
# is found long before 500 newer market orders bury it.
MAX_PAGES = 5


def book_unseen_stop_fills(engine: Engine, instIds: Iterable[str] | None = None) -> list[str]:
    """Book the fills of triggered stops our records do not have yet. Returns the stops' ids booked.

    Athena's stops execute at market (slOrdPx -1), so only market orders are read. Raises OkxError."""
    wanted = set(instIds) if instIds is not None else None
    if wanted is not None and not wanted:
        return []
    # an unacknowledged order (or an unemitted fill) on the instrument may be the entry this stop closed:
    # booked first, the stop's fill would find no position to close; it waits for the next run
    waiting = fills_in_flight(engine, orders_settled=True)
    since = int(time.time() * 1000) - LOOKBACK_MS
    booked: list[str] = []
    after: str | None = None
    for _ in range(MAX_PAGES):
        inst = next(iter(wanted)) if wanted is not None and len(wanted) == 1 else None
        rows = engine.rest.orders_history(instId=inst, ordType=str(OrdType.MARKET), after=after, limit=100)
        for u in rows:
            if (
                (wanted is None or u.instId in wanted)
                and (not u.uTime or u.uTime >= since)
                and _unseen(engine, u)
            ):
                if u.instId in waiting:
                    log.info(
                        "stop fill of %s waits: an order on %s is not settled yet", u.algoClOrdId, u.instId
                    )
                    continue
                engine.orders.on_update(u)
                booked.append(u.algoClOrdId)
        if len(rows) < 100 or not rows[-1].ordId or (rows[-1].uTime and rows[-1].uTime < since):
            break
        after = rows[-1].ordId
    for algo_id in booked:
        engine.algos.report_state(algo_id, AlgoState.EFFECTIVE)  # it fired: no longer a working stop of ours
    if booked:
        log.warning("stop fills no push reported, booked from the order history: %s", booked)
        engine.journal.record_event(
            "stop_fill_unseen",
            f"booked {len(booked)} stop fill(s) from the order history",
            {"algoClOrdIds": booked},
        )
    return booked


def _unseen(engine: Engine, u: OrderUpdate) -> bool:
    """The order of a triggered stop with fills our record (keyed by the stop's id) does not hold."""
    cl = u.algoClOrdId
    if u.clOrdId or not cl or not valid_cl_ord_id(cl) or not u.accFillSz:
        return False
    known = engine.store.get(cl)
    return (
        known is None
        or known.accFillSz < u.accFillSz
        or (u.state.is_terminal and not known.state.is_terminal)
    )
