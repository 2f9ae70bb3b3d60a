"""Backtest accounting from fills: per (strategy, instrument) positions, round trips, realised PnL,
fees and funding (negative = paid, as OKX reports them), equity samples, drawdown and exposure. All
Decimal."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from athena.domain import Fill, Instrument
from athena.domain.money import ZERO


@dataclass(frozen=True, slots=True)
class RoundTrip:
    strategy: str
    instId: str
    side: str  # "long" | "short"
    open_ts: int
    close_ts: int
    qty: Decimal  # contracts, largest size held
    entry_px: Decimal
    exit_px: Decimal
    gross: Decimal  # price PnL in settle currency
    fees: Decimal  # negative = paid
    exit: str  # clOrdId of the closing fill

    @property
    def net(self) -> Decimal:
        return self.gross + self.fees


@dataclass(slots=True)
class _Pos:
    pos: Decimal = ZERO
    avg: Decimal | None = None
    open_ts: int = 0
    qty: Decimal = ZERO
    entry_notional: Decimal = ZERO  # sum px*sz of opening fills
    entry_sz: Decimal = ZERO
    exit_notional: Decimal = ZERO
    exit_sz: Decimal = ZERO
    gross: Decimal = ZERO
    fees: Decimal = ZERO


@dataclass
class Ledger:
    instruments: dict[str, Instrument]
    initial: Decimal
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    trips: list[RoundTrip] = field(default_factory=list)
    fills: list[tuple[str, Fill]] = field(default_factory=list)
    funding: Decimal = ZERO  # funding fees charged (negative = paid)
    funding_by: dict[str, Decimal] = field(default_factory=dict)  # strategy -> its part
    funding_events: list[tuple[int, str, str, Decimal]] = field(
        default_factory=list
    )  # (ms, instId, strategy, part)
    _pos: dict[tuple[str, str], _Pos] = field(default_factory=dict)

    def on_funding(self, instId: str, amount: Decimal, ts: int = 0) -> None:
        """One funding charge on instId at ts, split between the strategies holding it by signed position."""
        self.funding += amount
        held = [(s, p.pos) for (s, i), p in self._pos.items() if i == instId and p.pos != 0]
        net = sum((q for _, q in held), ZERO)
        parts = {s: amount * q / net for s, q in held} if held and net != 0 else {"unassigned": amount}
        for s, part in parts.items():
            self.funding_by[s] = self.funding_by.get(s, ZERO) + part
            self.funding_events.append((ts, instId, s, part))

    def on_fill(self, fill: Fill, strategy: str) -> None:
        self.fills.append((strategy, fill))
        inst = self.instruments[fill.instId]
        p = self._pos.setdefault((strategy, fill.instId), _Pos())
        self.fees += fill.fee
        p.fees += fill.fee
        signed = fill.signed_sz
        if p.pos != 0 and (p.pos > 0) != (signed > 0):  # reduces
            closed = min(abs(signed), abs(p.pos))
            assert p.avg is not None
            pnl = inst.pnl(closed, p.avg, fill.fillPx, 1 if p.pos > 0 else -1)
            self.realized += pnl
            p.gross += pnl
            p.exit_notional += fill.fillPx * closed
            p.exit_sz += closed
            rest = abs(signed) - closed
            p.pos += closed if signed > 0 else -closed
            if p.pos == 0:
                self._close(strategy, fill, p)
                p = self._pos[(strategy, fill.instId)] = _Pos()
            if rest > 0:  # flipped through zero: the rest opens the other way
                self._open(p, fill, rest if signed > 0 else -rest)
            return
        self._open(p, fill, signed)

    @staticmethod
    def _open(p: _Pos, fill: Fill, signed: Decimal) -> None:
        if p.pos == 0:
            p.open_ts = fill.ts
        size = abs(signed)
        p.avg = (
            fill.fillPx
            if p.avg is None or p.pos == 0
            else (p.avg * abs(p.pos) + fill.fillPx * size) / (abs(p.pos) + size)
        )
        p.pos += signed
        p.qty = max(p.qty, abs(p.pos))
        p.entry_notional += fill.fillPx * size
        p.entry_sz += size

    def _close(self, strategy: str, fill: Fill, p: _Pos) -> None:
        self.trips.append(
            RoundTrip(
                strategy=strategy,
                instId=fill.instId,
                side="long" if fill.side.value == "sell" else "short",
                open_ts=p.open_ts,
                close_ts=fill.ts,
                qty=p.qty,
                entry_px=p.entry_notional / p.entry_sz,
                exit_px=p.exit_notional / p.exit_sz,
                gross=p.gross,
                fees=p.fees,
                exit=fill.clOrdId,
            )
        )

    def open_positions(self) -> dict[tuple[str, str], tuple[Decimal, Decimal | None]]:
        return {k: (p.pos, p.avg) for k, p in self._pos.items() if p.pos != 0}

    def unrealized(self, marks: dict[str, Decimal]) -> Decimal:
        total = ZERO
        for (_, instId), p in self._pos.items():
            mark = marks.get(instId)
            if p.pos != 0 and p.avg is not None and mark is not None:
                total += self.instruments[instId].pnl(abs(p.pos), p.avg, mark, 1 if p.pos > 0 else -1)
        return total

    def exposure(self, marks: dict[str, Decimal]) -> Decimal:
        """Gross open notional at the marks."""
        total = ZERO
        for (_, instId), p in self._pos.items():
            mark = marks.get(instId)
            if p.pos != 0 and mark is not None:
                total += self.instruments[instId].notional(abs(p.pos), mark)
        return total

    def equity(self, marks: dict[str, Decimal]) -> Decimal:
        return self.initial + self.realized + self.fees + self.funding + self.unrealized(marks)


def max_drawdown(curve: list[tuple[int, Decimal]]) -> tuple[Decimal, Decimal]:
    """(largest peak-to-trough fall in currency, as a fraction of that peak)."""
    peak: Decimal | None = None
    worst, worst_frac = ZERO, ZERO
    for _, eq in curve:
        if peak is None or eq > peak:
            peak = eq
        fall = peak - eq
        if fall > worst:
            worst = fall
            worst_frac = fall / peak if peak > 0 else ZERO
    return worst, worst_frac
