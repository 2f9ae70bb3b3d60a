"""Metrics read from the real sources when Prometheus scrapes (nothing here is a running guess).

- AccountCollector (the orders worker's endpoint): the capital ledger in Redis (equity, realised PnL,
  fees, funding, drawdown against the high-water mark, each strategy's positions), the exchange's
  positions as last synced and the exchange stop records (stop coverage), the halt switch and the
  breakers, and the journal (orders by outcome, fills, rejections by code, ledger drift corrections).
- StreamCollector (the stream worker's endpoint): its WebSockets (connected, age of the last data
  message) and its tick count, from the running StreamService.

Amounts are Decimals in the ledger and become floats only here, at Prometheus's boundary. Reads are
read-only: no scrape raises the high-water mark or writes anything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import Session, select

from athena.bus import EventBus
from athena.config import Settings
from athena.domain import AlgoOrder, OrderState
from athena.engine import Account
from athena.okx.port import ExchangePort
from athena.oms.positions import PositionManager
from athena.state.journal import Journal
from athena.state.journal_tables import EventRow, FillRow, OrderRow

log = logging.getLogger(__name__)

BREAKERS = ("sync_positions",)  # athena.ops.sync.BREAKER: the breakers Athena keeps
OUTCOMES = (OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED)  # final: their counts only grow
ZERO = Decimal(0)


def _f(v: Decimal) -> float:
    return float(v)


def reject_code(reason: str) -> str:
    """'51008: Insufficient margin' -> '51008'; a local refusal ('halted: ...') keeps its word."""
    code = reason.split(":", 1)[0].strip()
    return code if code and len(code) <= 32 and " " not in code else "unknown"


class JournalCounts:
    """The journal's running totals, one SQL aggregate each."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def orders_by_outcome(self) -> dict[str, int]:
        q = select(OrderRow.state, func.count()).group_by(OrderRow.state)
        with Session(self.journal.engine) as s:
            counts = {str(state): int(n) for state, n in s.exec(q).all()}
        return {str(o): counts.get(str(o), 0) for o in OUTCOMES}

    def rejects_by_code(self) -> dict[str, int]:
        q = (
            select(OrderRow.reason, func.count())
            .where(OrderRow.state == str(OrderState.REJECTED))
            .group_by(OrderRow.reason)
        )
        out: dict[str, int] = {}
        with Session(self.journal.engine) as s:
            for reason, n in s.exec(q).all():
                code = reject_code(reason or "")
                out[code] = out.get(code, 0) + int(n)
        return out

    def fills(self) -> int:
        with Session(self.journal.engine) as s:
            return int(s.exec(select(func.count()).select_from(FillRow)).one())

    def drift_corrections(self) -> int:
        q = select(func.count()).select_from(EventRow).where(EventRow.kind == "ledger_drift")
        with Session(self.journal.engine) as s:
            return int(s.exec(q).one())


class ExchangeStops:
    """The stops that cover positions, on the exchange's word: its pending algo orders (listed at most
    every `max_age_s`, within OKX's 20 requests / 2 s for that endpoint), plus the stops our records
    show placed since that listing (a fill's stop is placed within milliseconds; the next listing would
    see it up to max_age_s later). A stop we recorded but the exchange never listed (refused, or never
    sent) covers nothing once a listing after it has been taken. Without an exchange client (or while
    the listing fails) our records alone are used."""

    def __init__(self, acct: Account, rest: ExchangePort | None, max_age_s: float = 2.0) -> None:
        self.acct = acct
        self.rest = rest
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._listed: list[AlgoOrder] = []
        self._listed_ms = 0
        self._failing = False

    def _refresh(self) -> None:
        now_ms = int(self.acct.clock() * 1000)
        if self.rest is None or (self._listed_ms and now_ms - self._listed_ms < self.max_age_s * 1000):
            return
        try:
            listed = self.rest.algos_pending()
        except Exception as exc:
            if not self._failing:
                log.warning(
                    "stop coverage: the exchange's stops not listed (%s); using our records",
                    type(exc).__name__,
                )
            self._failing = True
            self._listed_ms = 0
            return
        self._failing = False
        self._listed, self._listed_ms = [a for a in listed if a.state.is_working], now_ms

    def working(self) -> list[AlgoOrder]:
        with self._lock:
            self._refresh()
            listed, listed_ms = list(self._listed), self._listed_ms
        records = self.acct.algos.working()
        if not listed_ms:
            return records
        seen = {a.algoClOrdId for a in listed}
        return listed + [a for a in records if a.uTime > listed_ms and a.algoClOrdId not in seen]


def coverage(
    acct: Account, ledger: PositionManager, stops: ExchangeStops
) -> dict[str, tuple[Decimal, Decimal]]:
    """instId -> (open contracts on the exchange as last synced, contracts its working stops cover)."""
    working = stops.working()
    out: dict[str, tuple[Decimal, Decimal]] = {}
    positions = ledger.exchange_positions()
    short_of = {(p.instId, p.posSide): c for p, c in PositionManager.unprotected(positions, working)}
    for p in positions:
        if p.is_flat:
            continue
        size = abs(p.pos)
        prev = out.get(p.instId, (ZERO, ZERO))
        out[p.instId] = (prev[0] + size, prev[1] + short_of.get((p.instId, p.posSide), size))
    return out


class AccountCollector(Collector):
    def __init__(self, acct: Account, journal: Journal, stops: ExchangeStops | None = None) -> None:
        self.acct = acct
        self.stops = stops or ExchangeStops(acct, None)
        self.settings: Settings = acct.settings
        self.counts = JournalCounts(journal)
        self.ledger = PositionManager(acct.redis, acct.keys, EventBus(), subscribe=False, clock=acct.clock)
        self._failing = False

    def describe(self) -> list[Any]:
        return []  # collected on scrape only (registering must not read Redis or the journal)

    def collect(self) -> Iterator[Any]:
        try:
            families = list(self._families())
        except Exception:
            if not self._failing:
                log.warning(
                    "account metrics not read (Redis or the journal); served again when they answer",
                    exc_info=True,
                )
            self._failing = True
            up = GaugeMetricFamily(
                "athena_metrics_source_up", "1 when the ledger, Redis and the journal were read"
            )
            up.add_metric([], 0)
            yield up
            return
        self._failing = False
        up = GaugeMetricFamily(
            "athena_metrics_source_up", "1 when the ledger, Redis and the journal were read"
        )
        up.add_metric([], 1)
        yield up
        yield from families

    def symbols(self) -> list[str]:
        s = self.settings
        return sorted(set(s.symbols) | {i for st in s.strategies for i in st.instIds})

    def _families(self) -> Iterator[Any]:
        acct, cap = self.acct, self.acct.capital
        marks = {i: m for i in self.symbols() if (m := acct.marks.get(i)) is not None}
        unreal = cap.unrealised(marks)
        total = cap.total_capital
        equity = GaugeMetricFamily(
            "athena_equity_usdt",
            "Equity: capital + realised (net) + unrealised at the last mark; strategy=all is the account",
            labels=["account", "strategy"],
        )
        account_equity = total + cap.realised() + unreal.total
        equity.add_metric([self.settings.account, "all"], _f(account_equity))
        for name in cap.strategies():
            eq = cap.allocation(name) * total + cap.realised(name) + unreal.by_strategy.get(name, ZERO)
            equity.add_metric([self.settings.account, name], _f(eq))
        yield equity
        yield _gauge(
            "athena_realised_pnl_usdt",
            "Realised PnL net of fees and funding (the capital ledger)",
            cap.realised(),
        )
        yield _gauge(
            "athena_fees_usdt_total",
            "Trading fees booked, cumulative (negative = paid, OKX's sign)",
            cap.fees(),
        )
        yield _gauge(
            "athena_funding_usdt_total", "Funding booked, cumulative (negative = paid)", cap.funding()
        )
        hwm = cap.high_water_mark()
        dd = (hwm - account_equity) / hwm if hwm > 0 and account_equity < hwm else ZERO
        yield _gauge("athena_drawdown_ratio", "Fraction of equity below the high-water mark", dd)
        yield _gauge(
            "athena_drawdown_limit_ratio",
            "risk.max_drawdown: the drawdown that halts",
            self.settings.risk.max_drawdown,
        )
        yield _gauge("athena_unrealised_pnl_usdt", "Unrealised PnL at the last marks", unreal.total)

        pos = GaugeMetricFamily(
            "athena_position_contracts",
            "Signed contracts held, by strategy (the capital ledger)",
            labels=["instId", "strategy"],
        )
        for p in cap.positions():
            pos.add_metric([p.instId, p.strategy], _f(p.qty))
        yield pos

        covered = GaugeMetricFamily(
            "athena_position_stop_covered",
            "1 when the instrument is flat or its open position "
            "is covered by working exchange stops, 0 when not",
            labels=["instId"],
        )
        cov = coverage(acct, self.ledger, self.stops)
        for inst in sorted(set(self.symbols()) | set(cov)):
            size, by_stops = cov.get(inst, (ZERO, ZERO))
            covered.add_metric([inst], 0 if by_stops < size else 1)
        yield covered

        outcomes = CounterMetricFamily(
            "athena_orders", "Orders that reached a final state (journal)", labels=["outcome"]
        )
        for outcome, n in self.counts.orders_by_outcome().items():
            outcomes.add_metric([outcome], n)
        yield outcomes
        fills = CounterMetricFamily("athena_fills", "Fills booked (journal)")
        fills.add_metric([], self.counts.fills())
        yield fills
        rejects = CounterMetricFamily(
            "athena_rejects", "Rejected orders by OKX sCode (or local refusal)", labels=["code"]
        )
        for code, n in sorted(self.counts.rejects_by_code().items()):
            rejects.add_metric([code], n)
        yield rejects
        drift = CounterMetricFamily(
            "athena_reconcile_drift", "Ledger positions corrected to the exchange (journal)"
        )
        drift.add_metric([], self.counts.drift_corrections())
        yield drift

        breakers = GaugeMetricFamily("athena_breaker_open", "1 while the breaker is open", labels=["name"])
        for name in BREAKERS:
            breakers.add_metric([name], 1 if acct.breaker(name).is_open() else 0)
        yield breakers
        yield _gauge(
            "athena_halted",
            "1 while new entries are refused (halt, or an automatic hold)",
            Decimal(1 if acct.halt.is_halted() else 0),
        )


class StreamCollector(Collector):
    """The stream worker's WebSockets and ticks; status() is StreamService.status (None: not running)."""

    def __init__(self, status: Callable[[], dict[str, Any] | None]) -> None:
        self.status = status

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        st = self.status()
        connected = GaugeMetricFamily(
            "athena_ws_connected", "1 while the WebSocket is logged in / subscribed", labels=["conn"]
        )
        age = GaugeMetricFamily(
            "athena_ws_last_message_age_seconds", "Seconds since the last data message", labels=["conn"]
        )
        ticks = CounterMetricFamily("athena_ticks", "Market data events dispatched to the strategies")
        if st is not None:
            now_ms = time.time() * 1000
            for conn, w in sorted((st.get("ws") or {}).items()):
                connected.add_metric([conn], 1 if w.get("state") == "ready" else 0)
                last = w.get("last_message_ms")
                if last is not None:
                    age.add_metric([conn], max(0.0, (now_ms - last) / 1000))
            ticks.add_metric([], int(st.get("ticks", 0)))
        yield connected
        yield age
        yield ticks


def _gauge(name: str, doc: str, value: Decimal) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc)
    g.add_metric([], _f(value))
    return g
