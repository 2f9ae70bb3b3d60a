"""PreTradeCheck: every order passes here before it is sent. Result: Approved | Rejected(code, text).

Entry orders (not reduceOnly) face every rule; reduce-only orders skip the halt and the rules about
adding risk (stop, buying power, exposure, leverage) but are still priced, size-capped and rate
counted. bypass=True (emergency close) is allowed only for reduce-only orders and skips everything.
A market order is priced by the last known mark; with no mark it is rejected — never priced at 0.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from athena.domain.enums import Side
from athena.domain.instrument import Instrument
from athena.domain.money import ZERO
from athena.domain.orders import OrderRequest
from athena.risk.capital import CapitalLedger
from athena.risk.config import RiskConfig
from athena.risk.halt import HaltSwitch
from athena.risk.profile import RiskProfile
from athena.risk.rate import Counter

log = logging.getLogger(__name__)


class Reason(StrEnum):
    """Stable rejection codes (logged, journaled, asserted in tests)."""

    BYPASS_NOT_REDUCE_ONLY = "bypass_not_reduce_only"
    INSTRUMENT_MISMATCH = "instrument_mismatch"
    UNKNOWN_STRATEGY = "unknown_strategy"
    HALTED = "halted"
    NO_MARK = "no_mark"
    NO_EQUITY = "no_equity"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    NO_STOP = "no_stop"
    STOP_WRONG_SIDE = "stop_wrong_side"
    RISK_PER_TRADE = "risk_per_trade"
    BUYING_POWER = "buying_power"
    MAX_POSITION = "max_position"
    TOTAL_EXPOSURE = "total_exposure"
    LEVERAGE = "leverage"
    RATE_LIMIT = "rate_limit"


@dataclass(frozen=True, slots=True)
class Approved:
    clOrdId: str
    ref_px: Decimal | None  # px, or the mark for market orders (None only on a bypass without mark)
    notional: Decimal | None
    margin: Decimal  # to reserve with CapitalCommander.reserve (0 for reduce-only)
    risk: Decimal | None = None  # entry-to-stop loss, entries only
    bypassed: bool = False
    ok: bool = True


@dataclass(frozen=True, slots=True)
class Rejected:
    clOrdId: str
    code: Reason
    text: str
    ok: bool = False

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.text}"


Result = Approved | Rejected


class MarkSource(Protocol):
    def get(self, instId: str) -> Decimal | None: ...


class PositionSource(Protocol):
    def position(self, instId: str, strategy: str | None = None) -> Decimal: ...


def size_for_risk(
    equity: Decimal, entry_px: Decimal, stop_px: Decimal, instrument: Instrument, risk_fraction: Decimal
) -> Decimal:
    """Contracts such that |entry - stop| * sz * ctVal <= risk_fraction * equity, rounded down to
    lotSz; 0 when that is below minSz (or when there is no equity or no distance to the stop)."""
    distance = abs(entry_px - stop_px)
    if equity <= 0 or risk_fraction <= 0 or distance == 0:
        return ZERO
    sz = instrument.round_sz(equity * risk_fraction / (distance * instrument.coin_per_contract))
    return sz if sz >= instrument.minSz and sz > 0 else ZERO


class PreTradeCheck:
    def __init__(
        self,
        profile: RiskProfile | Mapping[str, RiskProfile],
        config: RiskConfig,
        capital: CapitalLedger,
        halt: HaltSwitch,
        marks: MarkSource,
        counters: Callable[[str], Counter],
        positions: PositionSource | None = None,
    ) -> None:
        self._profiles = {profile.strategy: profile} if isinstance(profile, RiskProfile) else dict(profile)
        self._config = config
        self._capital = capital
        self._halt = halt
        self._marks = marks
        self._counters = counters
        self._positions: PositionSource = positions if positions is not None else capital
        self._counter_cache: dict[str, Counter] = {}

    def size_for_risk(
        self,
        equity: Decimal,
        entry_px: Decimal,
        stop_px: Decimal,
        instrument: Instrument,
        risk_fraction: Decimal | None = None,
    ) -> Decimal:
        frac = (
            self._config.risk_per_trade
            if risk_fraction is None
            else min(risk_fraction, self._config.risk_per_trade)
        )
        return size_for_risk(equity, entry_px, stop_px, instrument, frac)

    def check(
        self,
        req: OrderRequest,
        instrument: Instrument,
        equity: Decimal,
        bypass: bool = False,
        reason: str = "",
    ) -> Result:
        """reason: why a bypass is asked (flatten, stop failed, ...); logged with the bypass."""
        result = self._check(req, instrument, equity, bypass, reason)
        if isinstance(result, Rejected):
            log.info("pre-trade REJECTED %s %s: %s", req.clOrdId, result.code, result.text)
        return result

    def _check(
        self, req: OrderRequest, instrument: Instrument, equity: Decimal, bypass: bool, reason: str = ""
    ) -> Result:
        def no(code: Reason, text: str) -> Rejected:
            return Rejected(req.clOrdId, code, text)

        if req.instId != instrument.instId:
            return no(
                Reason.INSTRUMENT_MISMATCH, f"order is for {req.instId}, instrument is {instrument.instId}"
            )
        ref_px = req.px if req.px is not None else self._marks.get(req.instId)
        if bypass:
            why = reason or req.tag or "reduce-only close"
            if not req.reduceOnly:
                log.warning(
                    "pre-trade bypass REFUSED (not reduce-only) strategy=%s instId=%s clOrdId=%s reason=%s",
                    req.strategy or "-", req.instId, req.clOrdId, why,
                )  # fmt: skip
                return no(Reason.BYPASS_NOT_REDUCE_ONLY, "bypass is only allowed for reduce-only orders")
            # one line per bypassed close, naming who, what and why (the audit trail of rule skips)
            log.warning(
                "pre-trade BYPASS strategy=%s instId=%s clOrdId=%s side=%s sz=%s reason=%s",
                req.strategy or "-", req.instId, req.clOrdId, req.side, req.sz, why,
            )  # fmt: skip
            notional = instrument.notional(req.sz, ref_px) if ref_px is not None else None
            return Approved(req.clOrdId, ref_px, notional, ZERO, bypassed=True)

        profile = self._profiles.get(req.strategy)
        if profile is None:
            return no(Reason.UNKNOWN_STRATEGY, f"no risk profile for strategy {req.strategy!r}")
        if not req.reduceOnly and self._halt.is_halted():
            st = self._halt.state()
            return no(
                Reason.HALTED,
                f"trading halted: {st.reason if st else 'unknown'} (by {st.who if st else '?'})",
            )
        if ref_px is None:
            return no(Reason.NO_MARK, f"market order on {req.instId} and no mark price is known")
        notional = instrument.notional(req.sz, ref_px)
        if notional > profile.max_order_notional:
            return no(
                Reason.MAX_ORDER_NOTIONAL,
                f"notional {notional} > max_order_notional {profile.max_order_notional}",
            )

        margin, risk = ZERO, None
        if not req.reduceOnly:
            entry = self._check_entry(req, instrument, equity, profile, ref_px, notional)
            if isinstance(entry, Rejected):
                return entry
            margin, risk = entry

        limit = profile.max_orders_per_minute
        counter = self._counter(req.strategy)
        if not counter.allow(limit):  # atomic check-and-count: refused orders use no budget
            return no(
                Reason.RATE_LIMIT,
                f"{counter.count()} orders in the last minute: max_orders_per_minute is {limit}",
            )
        return Approved(req.clOrdId, ref_px, notional, margin, risk)

    def _check_entry(
        self,
        req: OrderRequest,
        inst: Instrument,
        equity: Decimal,
        profile: RiskProfile,
        px: Decimal,
        notional: Decimal,
    ) -> tuple[Decimal, Decimal] | Rejected:
        def no(code: Reason, text: str) -> Rejected:
            return Rejected(req.clOrdId, code, text)

        cfg = self._config
        if equity <= 0:
            return no(Reason.NO_EQUITY, f"equity {equity} is not positive")
        # stop presence, side, and the 1% rule
        stop = req.stop_loss_px
        if stop is None:
            return no(Reason.NO_STOP, "entry order carries no stop_loss_px")
        if (req.side is Side.BUY and stop >= px) or (req.side is Side.SELL and stop <= px):
            side = "below" if req.side is Side.BUY else "above"
            return no(
                Reason.STOP_WRONG_SIDE, f"{req.side} entry at {px}: stop {stop} must be {side} the entry"
            )
        risk = abs(px - stop) * req.sz * inst.coin_per_contract
        budget = cfg.risk_per_trade * equity
        if risk > budget:
            return no(
                Reason.RISK_PER_TRADE,
                f"risk {risk} (entry {px} to stop {stop}) > {cfg.risk_per_trade} x equity = {budget}",
            )
        # buying power
        lev = profile.leverage_cap(cfg.max_leverage)
        margin = notional / lev
        free = self._capital.free(req.strategy)
        if margin > free:
            return no(Reason.BUYING_POWER, f"margin {margin} > free allocation {free}")
        # position and exposure after the fill
        pos = self._positions.position(req.instId, req.strategy)
        after = pos + (req.sz if req.side is Side.BUY else -req.sz)
        if abs(after) > profile.max_position:
            return no(
                Reason.MAX_POSITION,
                f"position after fill {after} exceeds max_position {profile.max_position}",
            )
        ledger = self._capital.positions()
        held = {p.instId for p in ledger if p.qty != 0}
        marks = {i: m for i in held if (m := self._marks.get(i)) is not None}
        added = max(abs(after) - abs(pos), ZERO) * inst.coin_per_contract * px
        exposure = self._capital.gross_exposure(marks, ledger) + added
        # All strategies together against the ACCOUNT's equity: the cap is on what the whole account
        # holds, so measuring it against one strategy's allocation would shrink it to that share.
        account_equity = self._capital.equity(marks)
        cap = account_equity * cfg.max_total_exposure
        if exposure > cap:
            return no(
                Reason.TOTAL_EXPOSURE,
                f"total exposure {exposure} > {cfg.max_total_exposure} x account equity = {cap}",
            )
        pos_notional = abs(after) * inst.coin_per_contract * px
        if pos_notional > lev * equity:
            return no(
                Reason.LEVERAGE, f"position notional {pos_notional} / equity {equity} > leverage cap {lev}"
            )
        return margin, risk

    def _counter(self, strategy: str) -> Counter:
        if strategy not in self._counter_cache:
            self._counter_cache[strategy] = self._counters(strategy)
        return self._counter_cache[strategy]
