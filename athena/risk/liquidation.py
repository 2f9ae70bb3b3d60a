"""The liquidation-distance rule: hold new entries while liquidation is too close compared with the stops.

A stop protects a position only if it fires well before the exchange liquidates it: a gap, slippage or a
stop that fails must not end in liquidation. So, from the current mark price:

- per position with a liquidation price (OKX's liqPx): the distance to liqPx must be at least
  `multiple` x the distance to the position's stop (the working stop that fires first; without one, the
  protective stop's 1 %);
- for the account (OKX's mgnRatio = adjusted equity / maintenance margin, liquidation at 1): the equity
  that may be lost before liquidation, equity x (1 - 1/mgnRatio), must be at least `multiple` x what the
  stops would lose if they all fired now.

A breach holds entries (HaltSwitch hold `liq_distance`, its reason naming the position and both
distances); the hold lifts by itself once every position is back beyond the multiple. Exits, stops and
cancels are never held. The stream worker evaluates it off the dispatcher thread, about once a second,
from the latest position and account pushes and book mids (athena.process.stream_service).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from athena.domain import AlgoOrder, Instrument, Position, Side
from athena.risk.halt import HaltSwitch

log = logging.getLogger(__name__)

HOLD, WHO = "liq_distance", "liquidation_guard"
DEFAULT_STOP_PCT = Decimal("0.01")  # protect_positions' stop for a position without a plan


@dataclass(frozen=True, slots=True)
class Finding:
    subject: str  # an instId (and posSide), or "account"
    liq_distance: Decimal  # price distance (position) or equity (account) left before liquidation
    stop_distance: Decimal  # price distance (position) or loss (account) until the stops fire
    multiple: Decimal

    @property
    def breached(self) -> bool:
        return self.liq_distance < self.multiple * self.stop_distance

    def sentence(self) -> str:
        if self.subject == "account":
            return (
                f"the account can lose {self.liq_distance:.2f} before liquidation (mgnRatio), less than "
                f"{self.multiple}x the {self.stop_distance:.2f} its stops would lose"
            )
        return (
            f"{self.subject} is {self.liq_distance} from its liquidation price, less than "
            f"{self.multiple}x its "
            f"stop's distance of {self.stop_distance}"
        )


def first_stop(pos: Position, stops: Iterable[AlgoOrder]) -> Decimal | None:
    """The trigger of the stop that fires first for this position (closing side, same posSide)."""
    closing = Side.SELL if pos.signed > 0 else Side.BUY
    triggers = [
        a.slTriggerPx
        for a in stops
        if a.instId == pos.instId and a.side is closing and a.posSide is pos.posSide and a.state.is_working
    ]
    if not triggers:
        return None
    return max(triggers) if closing is Side.SELL else min(triggers)


def stop_distance(pos: Position, mark: Decimal, stops: Iterable[AlgoOrder]) -> Decimal:
    trigger = first_stop(pos, stops)
    return abs(mark - trigger) if trigger is not None else mark * DEFAULT_STOP_PCT


def assess(
    positions: Iterable[Position],
    marks: Mapping[str, Decimal],
    stops: Iterable[AlgoOrder],
    instruments: Mapping[str, Instrument],
    multiple: Decimal,
    equity: Decimal | None = None,
    mgn_ratio: Decimal | None = None,
) -> list[Finding]:
    """Every measurable distance (positions without a liqPx or a mark, and an account without equity or
    mgnRatio, are not measurable and give no finding)."""
    stops = list(stops)
    out: list[Finding] = []
    stop_loss = Decimal(0)
    for pos in positions:
        if pos.is_flat:
            continue
        mark = marks.get(pos.instId) or pos.markPx
        if mark is None:
            continue
        d_stop = stop_distance(pos, mark, stops)
        inst = instruments.get(pos.instId)
        if inst is not None:
            stop_loss += abs(pos.pos) * inst.coin_per_contract * d_stop
        if pos.liqPx is not None and pos.liqPx > 0:
            side = "" if pos.posSide.value == "net" else f" {pos.posSide}"
            out.append(Finding(f"{pos.instId}{side}", abs(mark - pos.liqPx), d_stop, multiple))
    if equity is not None and mgn_ratio is not None and mgn_ratio > 0 and stop_loss > 0:
        out.append(Finding("account", equity * (1 - 1 / mgn_ratio), stop_loss, multiple))
    return out


class LiquidationGuard:
    """Holds entries while a finding breaches, releases when none does. Writes Redis only on a change
    (the first evaluation always settles the hold a previous process may have left)."""

    def __init__(
        self, halt: HaltSwitch, multiple: Decimal, on_breach: Callable[[list[Finding]], None] | None = None
    ) -> None:
        self.halt = halt
        self.multiple = multiple
        self.on_breach = on_breach
        self._held: bool | None = None
        self._reason = ""
        self._positions: dict[tuple[str, str], Position] = {}
        self._account: tuple[Decimal | None, Decimal | None] = (None, None)  # (equity, mgnRatio)
        self._changed = True

    # -- fed by the stream worker's dispatcher: no I/O, a dict write --------------------------------
    def on_position(self, pos: Position) -> None:
        self._positions[(pos.instId, str(pos.posSide))] = pos
        self._changed = True

    def on_account(self, equity: Decimal | None, mgn_ratio: Decimal | None) -> None:
        self._account = (equity, mgn_ratio)
        self._changed = True

    def check(
        self,
        marks: Mapping[str, Decimal],
        stops: Callable[[], Iterable[AlgoOrder]],
        instruments: Mapping[str, Instrument],
    ) -> list[Finding] | None:
        """Evaluate from the latest pushes and these marks (the housekeeping thread, once a second).
        Skipped (None) while flat and already settled: no Redis reads for nothing."""
        open_positions = [p for p in list(self._positions.values()) if not p.is_flat]
        if not open_positions and self._held is False and not self._changed:
            return None
        self._changed = False
        equity, ratio = self._account
        findings = assess(
            open_positions,
            marks,
            stops() if open_positions else (),
            instruments,
            self.multiple,
            equity,
            ratio,
        )
        return self.apply(findings)

    def apply(self, findings: list[Finding]) -> list[Finding]:
        breached = [f for f in findings if f.breached]
        if breached:
            reason = (
                "liquidation too close: "
                + "; ".join(f.sentence() for f in breached)
                + (
                    ": new entries held until it is not (reduce the position, add margin or lower the "
                    "leverage)"
                )
            )
            if self._held is not True or reason != self._reason:
                if self.halt.hold(HOLD, reason, WHO) or self._held is not True:
                    log.critical("LIQUIDATION DISTANCE: %s", reason)
                    if self.on_breach is not None:
                        self.on_breach(breached)
                self._held, self._reason = True, reason
        elif self._held is not False:
            if self.halt.release(HOLD, WHO):
                log.warning("liquidation distance back above %sx: entries allowed again", self.multiple)
            self._held, self._reason = False, ""
        return breached
