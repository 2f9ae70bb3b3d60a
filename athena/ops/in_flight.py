"""Instruments whose position may still move by a fill Athena has not booked yet.

While one is in flight, the difference between the ledger and the exchange is that fill, not drift
(sync_positions and reconcile never force it), and a stop's fill learned from the order history waits
for it (book_unseen_stop_fills): capital books a fill against the position it finds, so an unheard stop
booked before the entry it closed would find nothing to close.
"""

from __future__ import annotations

from athena.domain import OrderState
from athena.engine import Engine


def fills_in_flight(engine: Engine, orders_settled: bool = False) -> set[str]:
    """An order the exchange has not acknowledged (sent, timed out, being sent again), a working order
    (unless orders_settled: reconcile has just settled every acknowledged one by its query; otherwise,
    while the private WebSocket is down its fills reach nobody until reconcile asks), and a fill committed
    with its order but not yet emitted to the ledger (its emitter may have died: the outbox claim's expiry
    hands it to the next reconcile)."""
    insts = {
        o.instId for o in engine.orders.working() if not orders_settled or o.state.rank < OrderState.LIVE.rank
    }
    insts.update(e.order.instId for e in engine.store.outbox(count=1000))
    return insts
