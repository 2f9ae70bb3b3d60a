"""O(1) rolling accumulators: fixed-size ring buffers with running sums (no pandas/numpy).

Decimal sums are exact, so a running sum never drifts from the sum of the window.
"""

from __future__ import annotations

from decimal import Decimal

from athena.domain.money import ZERO


class RollingSum:
    """Sum and mean of the last `size` values; push is O(1)."""

    __slots__ = ("_buf", "_i", "_n", "size", "total")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window size must be >= 1, got {size}")
        self.size = size
        self._buf: list[Decimal] = [ZERO] * size
        self._i = 0
        self._n = 0
        self.total = ZERO

    def push(self, value: Decimal) -> None:
        i = self._i
        self.total += value - self._buf[i]
        self._buf[i] = value
        self._i = i + 1 if i + 1 < self.size else 0
        if self._n < self.size:
            self._n += 1

    def __len__(self) -> int:
        return self._n

    @property
    def full(self) -> bool:
        return self._n == self.size

    @property
    def mean(self) -> Decimal | None:
        return self.total / self._n if self._n else None

    def clear(self) -> None:
        self._buf = [ZERO] * self.size
        self._i = self._n = 0
        self.total = ZERO


class TradeFlow:
    """Signed taker flow over the last `size` trades: (buy volume - sell volume) / total volume."""

    __slots__ = ("signed", "volume")

    def __init__(self, size: int) -> None:
        self.signed = RollingSum(size)
        self.volume = RollingSum(size)

    def push(self, sz: Decimal, is_buy: bool) -> None:
        self.signed.push(sz if is_buy else -sz)
        self.volume.push(sz)

    def __len__(self) -> int:
        return len(self.volume)

    @property
    def ratio(self) -> Decimal | None:
        """In [-1, 1]; None until some volume has traded."""
        vol = self.volume.total
        return self.signed.total / vol if vol > 0 else None
