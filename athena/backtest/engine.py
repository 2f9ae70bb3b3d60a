"""Run a backtest: market events -> sim exchange + the real strategy/OMS stack, on a simulated clock.

Per event: the clock jumps to the event's ts; the exchange sees the market (resting orders and stops
may fill); the strategies see the tick; every resulting call and push is drained before the next
event. Nothing reads the wall clock, so a seed or a file always gives the same result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from time import perf_counter_ns
from typing import Any

import orjson

from athena.backtest.bridge import BacktestSender, attach
from athena.backtest.feed import MarketEvent
from athena.backtest.ledger import Ledger, RoundTrip, max_drawdown
from athena.backtest.stack import build_stack, make_settings
from athena.bus import EventType
from athena.config import RiskSettings, StrategySettings
from athena.domain import Fill, Tick
from athena.domain.money import ZERO
from athena.report.model import exit_reason
from athena.sim.exchange import Exchange
from athena.sim.history import FUNDING_EVERY
from athena.sim.instruments import SimInstrument, default_instruments
from athena.strategies.clock import SimClock


@dataclass
class BacktestResult:
    initial: Decimal
    final_equity: Decimal
    exchange_equity: Decimal  # the sim's own account equity, as a cross-check
    ledger: Ledger
    curve: list[tuple[int, Decimal]]
    events: int
    start_ts: int
    end_ts: int
    time_in_market_ms: int
    max_exposure: Decimal
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    exit_reasons: dict[str, str] = field(default_factory=dict)  # closing clOrdId -> why (athena.report.model)
    prices: dict[str, list[tuple[int, Decimal]]] = field(
        default_factory=dict
    )  # instId -> marks at each sample

    @property
    def trips(self) -> list[RoundTrip]:
        return self.ledger.trips

    def figures(self) -> dict[str, Any]:
        trips = self.trips
        wins = sum(1 for t in trips if t.net > 0)
        dd, dd_frac = max_drawdown(self.curve)
        span = max(1, self.end_ts - self.start_ts)
        net = self.final_equity - self.initial
        return {
            "events": self.events,
            "start_ts": self.start_ts,
            "end_ts": self.end_ts,
            "fills": len(self.ledger.fills),
            "trades": len(trips),
            "wins": wins,
            "win_rate": (Decimal(wins) / len(trips)).quantize(Decimal("0.0001")) if trips else None,
            "gross_pnl": self.ledger.realized,
            "fees": self.ledger.fees,
            "funding": self.ledger.funding,
            "unrealized_pnl": (
                self.final_equity
                - self.initial
                - self.ledger.realized
                - self.ledger.fees
                - self.ledger.funding
            ),
            "net_pnl": net,
            "initial_equity": self.initial,
            "final_equity": self.final_equity,
            "exchange_equity": self.exchange_equity,
            "max_drawdown": dd,
            "max_drawdown_pct": (dd_frac * 100).quantize(Decimal("0.0001")),
            "time_in_market_pct": (Decimal(self.time_in_market_ms) * 100 / span).quantize(Decimal("0.01")),
            "max_exposure": self.max_exposure,
            "errors": len(self.errors),
        }


def default_strategies(
    instIds: Sequence[str], params: dict[str, Any] | None = None, cls: str = "ScalperV1"
) -> list[StrategySettings]:
    """One strategy of class `cls` (ScalperV1 unless told; any name the loader resolves) per
    instrument, capital split evenly. Names: scalp0, scalp1, ... for ScalperV1, else from the class."""
    share = (Decimal(1) / len(instIds)).quantize(Decimal("0.0001"))
    stem = (
        "scalp"
        if cls == "ScalperV1"
        else "".join(c for c in cls.rpartition(":")[2] if c.isalnum())[:9] or "strat"
    )
    return [
        StrategySettings(
            name=f"{stem}{i}", cls=cls, instIds=[instId], allocation=share, params=dict(params or {})
        )
        for i, instId in enumerate(instIds)
    ]


class Backtest:
    """One replay: feed events with step(), then result(). run_backtest() is the usual way in; tests may
    pass their own Exchange (e.g. one with a fault injected) and step through events."""

    def __init__(
        self,
        strategies: Sequence[StrategySettings],
        redis: Any,
        *,
        seed: int = 7,
        total_capital: Decimal = Decimal(10_000),
        risk: RiskSettings | None = None,
        sample_ms: int = 1_000,
        env: str = "backtest",
        exchange: Exchange | None = None,
        clock: SimClock | None = None,
        sims: Sequence[SimInstrument] | None = None,
        strategies_dir: str = "",
    ) -> None:
        self.clock = clock or SimClock(0)
        sims = list(sims) if sims is not None else default_instruments()
        self.instruments = {si.instId: si.inst for si in sims}
        self.exchange = exchange or Exchange(
            sims, seed=seed, clock=self.clock.now_ms, initial_usdt=total_capital
        )
        self.sender = BacktestSender(self.exchange)
        settings = make_settings(strategies, total_capital, risk, strategies_dir)
        self.stack = build_stack(redis, settings, self.instruments, self.sender, self.clock, env=env)
        attach(self.sender, self.stack)
        self._store_fee_tier(redis)
        self.total_capital = total_capital
        self.ledger = Ledger(self.instruments, total_capital)
        self.stack.bus.subscribe(EventType.ORDER_FILLED, self._on_fill)
        self.sample_ms = sample_ms
        self.marks: dict[str, Decimal] = {}
        self.curve: list[tuple[int, Decimal]] = []
        self.prices: dict[str, list[tuple[int, Decimal]]] = {}
        self.n = self.start = self.end = self.next_sample = self.in_market_ms = 0
        self.max_exposure = ZERO
        self.tick_timings: list[tuple[int, int]] | None = None
        self.funding_rates: dict[str, Decimal] = {}  # the last funding-rate print per instId
        self.next_funding = 0  # ms of the next settlement (OKX: every 8 h at 00:00 / 08:00 / 16:00 UTC)

    def _store_fee_tier(self, redis: Any) -> None:
        """The sim's fee tier where the pre-flight stores the exchange's (athena.ops.preflight), so the
        strategies' fee_rates read the rates fills are charged at, as they do live."""
        from athena.okx.parse import trade_fee as parse_trade_fee

        tier = parse_trade_fee(self.exchange.trade_fee({"instType": "SWAP"}))
        redis.set(self.stack.keys.trade_fee, orjson.dumps(tier, default=str))

    def _on_fill(self, fill: Fill) -> None:
        self.ledger.on_fill(fill, fill.strategy or self.stack.routes.get(fill.clOrdId, "unassigned"))

    def step(self, ev: MarketEvent) -> None:
        clock, stack, sender, ledger = self.clock, self.stack, self.sender, self.ledger
        if self.n == 0:
            self.start = self.next_sample = ev.ts
            clock.set(ev.ts)
        self.n += 1
        fills_before = len(ledger.fills)
        if ledger.open_positions():
            self.in_market_ms += max(0, ev.ts - clock.now_ms())
        clock.set(ev.ts)
        end = self.end = clock.now_ms()
        if (
            ev.funding is not None
        ):  # first: a downloaded rate stamped at its fundingTime is the one settled then
            self.funding_rates[ev.instId] = ev.funding
        self._settle_funding(end)
        if ev.book is None and ev.trade is None:
            self._print(ev)
            return
        self.exchange.on_market(book=ev.book, trade=ev.trade)
        sender.drain()
        if ev.book is not None:
            mark = self.exchange.mark_of(ev.instId)
            if mark is not None and self.marks.get(ev.instId) != mark:
                self.marks[ev.instId] = mark
                stack.marks.set(ev.instId, mark, ev.ts)
        tick = Tick(ev.instId, book=ev.book, trade=ev.trade)
        if self.tick_timings is None:
            stack.bus.publish(EventType.TICK, tick)
        else:
            t0 = perf_counter_ns()
            stack.bus.publish(EventType.TICK, tick)
            self.tick_timings.append((perf_counter_ns() - t0, len(sender.calls)))
        sender.drain()
        self.max_exposure = max(self.max_exposure, ledger.exposure(self.marks))
        if end >= self.next_sample or len(ledger.fills) != fills_before:
            point = (end, ledger.equity(self.marks))
            if self.curve and self.curve[-1][0] == end:
                self.curve[-1] = point
            else:
                self.curve.append(point)
            if end >= self.next_sample:
                self.next_sample = end - end % self.sample_ms + self.sample_ms
                for instId, mark in self.marks.items():
                    self.prices.setdefault(instId, []).append((end, mark))

    def _settle_funding(self, now: int) -> None:
        """At each 8-hour settlement the open positions pay (or receive) funding at the last rate the data
        printed for their instrument (none printed: none charged), on the exchange and in the ledger."""
        if not self.next_funding:
            self.next_funding = (now // FUNDING_EVERY + 1) * FUNDING_EVERY
        while now >= self.next_funding:
            if self.funding_rates:
                for bill in self.exchange.settle_funding(self.funding_rates):
                    self.ledger.on_funding(bill["instId"], Decimal(bill["pnl"]), self.next_funding)
                self.sender.drain()
            self.next_funding += FUNDING_EVERY

    def _print(self, ev: MarketEvent) -> None:
        """A mark-price or funding-rate print: the exchange's mark follows the real one (stops and
        equity use it); a funding rate is charged at the next settlement (_settle_funding)."""
        if ev.mark is not None and ev.instId in self.exchange.markets:
            self.exchange.set_mark(ev.instId, ev.mark)
            self.sender.drain()
            self.marks[ev.instId] = ev.mark
            self.stack.marks.set(ev.instId, ev.mark, ev.ts)

    def result(self) -> BacktestResult:
        final = self.ledger.equity(self.marks)
        curve = list(self.curve)
        if not curve or curve[-1] != (self.end, final):
            curve.append((self.end, final))
        return BacktestResult(
            initial=self.total_capital,
            final_equity=final,
            exchange_equity=self.exchange.totals()["eq"],
            ledger=self.ledger,
            curve=curve,
            events=self.n,
            start_ts=self.start,
            end_ts=self.end,
            time_in_market_ms=self.in_market_ms,
            max_exposure=self.max_exposure,
            stats={s.name: dict(getattr(s, "stats", {})) for s in self.stack.strategies},
            errors=list(self.stack.errors),
            exit_reasons={t.exit: self._exit_reason(t.exit) for t in self.ledger.trips},
            prices={k: list(v) for k, v in self.prices.items()},
        )

    def _exit_reason(self, clOrdId: str) -> str:
        order = self.stack.orders.get(clOrdId)
        return exit_reason(clOrdId, order.req if order is not None else None)


def run_backtest(
    events: Iterable[MarketEvent],
    strategies: Sequence[StrategySettings],
    redis: Any,
    *,
    seed: int = 7,
    total_capital: Decimal = Decimal(10_000),
    risk: RiskSettings | None = None,
    sample_ms: int = 1_000,
    env: str = "backtest",
    tick_timings: list[tuple[int, int]] | None = None,
    sims: Sequence[SimInstrument] | None = None,
    strategies_dir: str = "",
) -> BacktestResult:
    """Replay events through strategies + OMS against the sim. `redis` must be a private/empty namespace
    (keys live under athena:{env}:backtest:); the caller owns the connection.

    tick_timings (bench only): gets (ns spent in the strategies' tick handling, exchange calls it made)
    per event. Timings never enter the result, which stays deterministic. sims: the instrument table
    (default: the sim's own). strategies_dir: the folder strategy classes are also looked up in."""
    bt = Backtest(
        strategies,
        redis,
        seed=seed,
        total_capital=total_capital,
        risk=risk,
        sample_ms=sample_ms,
        env=env,
        sims=sims,
        strategies_dir=strategies_dir,
    )
    bt.tick_timings = tick_timings
    for ev in events:
        bt.step(ev)
    return bt.result()
