"""Queue position of Athena's resting orders in a book the venue only observes (paper trading).

The paper venue sees the upstream's price levels (total size per price) and its trades, never the
orders inside a level, so an order's place in the queue is estimated:

- joining: `ahead` = the displayed size at the order's price on its side when it starts resting (0 when
  it is the only price there: a new level, or one better than the best);
- a trade at exactly that price, against the order's side, takes from the front: it reduces `ahead`,
  and whatever of it is beyond `ahead` reaches the order (a fill);
- the level shrinking without a trade (cancels): the cancelled orders are assumed to be behind ours,
  except that `ahead` can never exceed what is displayed: `ahead = min(ahead, displayed size)`;
- the level growing: new orders join behind ours (`ahead` unchanged).

A trade and the book update that shows it arrive on different channels, in either order. So that one
trade is not counted twice, each book update remembers how much of the level vanished in it (`drop`),
and a trade that follows first "explains" that drop before it reduces `ahead` again; a trade seen before
its book update lowers the expected level size (`seen`), so that update shows no drop. Limits: a
cancel followed by a trade before the next book update is taken for that trade (pessimistic: the fill
comes later, by at most one update's cancels); hidden and iceberg orders, and the upstream's own
matching priority beyond price-time, are invisible.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(slots=True)
class QueuePlace:
    px: Decimal
    side: str  # the resting order's side: buy rests on the bids
    ahead: Decimal  # contracts estimated in front of the order at px
    seen: Decimal  # the level's size as last seen (book update) or expected (after a trade)
    drop: Decimal = ZERO  # the last book update's shrink of the level, not yet explained by a trade


class QueueEstimator:
    """Queue places by ordId. Pure: the paper exchange feeds it levels and trades."""

    def __init__(self) -> None:
        self.places: dict[str, QueuePlace] = {}

    def join(self, ord_id: str, side: str, px: Decimal, displayed: Decimal) -> QueuePlace:
        """The order starts resting at px behind everything displayed there now."""
        place = QueuePlace(px, side, displayed, displayed)
        self.places[ord_id] = place
        return place

    def leave(self, ord_id: str) -> None:
        self.places.pop(ord_id, None)

    def get(self, ord_id: str) -> QueuePlace | None:
        return self.places.get(ord_id)

    def on_level(self, ord_id: str, displayed: Decimal) -> None:
        """A book update: the displayed size at the order's price is now `displayed` (0: level gone)."""
        p = self.places.get(ord_id)
        if p is None:
            return
        p.drop = p.seen - displayed if displayed < p.seen else ZERO
        p.ahead = min(p.ahead, displayed)
        p.seen = displayed

    def on_trade(self, ord_id: str, sz: Decimal) -> Decimal:
        """A trade of sz at exactly the order's price, against its side. Returns the contracts of it
        that reach the order (beyond the queue ahead); the caller fills at most that much."""
        p = self.places.get(ord_id)
        if p is None:
            return ZERO
        explained = min(sz, p.drop)  # already seen leaving the level in the last book update
        p.drop -= explained
        fresh = sz - explained
        p.seen = max(ZERO, p.seen - fresh)
        # the explained part was taken from the front and the book update already capped `ahead` to what
        # was left; only the fresh part moves the queue now
        through = fresh - p.ahead if fresh > p.ahead else ZERO
        p.ahead = max(ZERO, p.ahead - fresh)
        return through
