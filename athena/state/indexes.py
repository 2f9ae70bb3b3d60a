"""The exchange-id indexes (ordId -> clOrdId, algoId -> algoClOrdId) outlive the records they point
to: a finished record expires after its retention, its index entry stays. prune_index drops those
entries (athena.prune_indexes, a beat job), so the index does not grow with every order ever placed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from athena.state.scripts import s


def prune_index(redis: Any, index: str, record_key: Callable[[str], str], batch: int = 500) -> int:
    """Drop the entries of hash `index` (exchange id -> our id) whose record_key(our id) is gone;
    returns how many."""
    removed, cursor = 0, 0
    for _ in range(100_000):  # bounded: HSCAN ends when the cursor returns to 0
        cursor, entries = redis.hscan(index, cursor, count=batch)
        pairs = [(s(ex), s(ours)) for ex, ours in entries.items()]
        if pairs:
            pipe = redis.pipeline(transaction=False)
            for _ex, ours in pairs:
                pipe.exists(record_key(ours))
            gone = [ex for (ex, _ours), alive in zip(pairs, pipe.execute(), strict=True) if not alive]
            if gone:
                removed += int(redis.hdel(index, *gone))
        if int(cursor) == 0:
            break
    return removed
