"""Walk-forward folds: the period cut into k equal windows; each step optimises on an in-sample window
and evaluates the best params on the window right after it (out of sample), never on data the search
saw. Rolling: in-sample is the one window before; anchored: every window from the start.

k windows give k-1 steps. Windows are half-open [start, end): no event is in two of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fold:
    index: int
    in_sample: tuple[int, int]  # [start_ts, end_ts) in ms
    out_of_sample: tuple[int, int]


def windows(start_ts: int, end_ts: int, k: int) -> list[tuple[int, int]]:
    """[start_ts, end_ts] (end inclusive: the last event's ts) cut into k half-open windows of equal length
    (the last one takes the remainder and ends just past end_ts)."""
    if k < 2:
        raise ValueError(f"walk-forward needs at least 2 folds (got {k})")
    span = end_ts + 1 - start_ts
    if span < k:
        raise ValueError(f"a period of {span} ms cannot be cut into {k} folds")
    edges = [start_ts + span * i // k for i in range(k)] + [end_ts + 1]
    return [(edges[i], edges[i + 1]) for i in range(k)]


def folds(start_ts: int, end_ts: int, k: int, anchored: bool = False) -> list[Fold]:
    w = windows(start_ts, end_ts, k)
    return [Fold(i - 1, (w[0][0] if anchored else w[i - 1][0], w[i - 1][1]), w[i]) for i in range(1, k)]
