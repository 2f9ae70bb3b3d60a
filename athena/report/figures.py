"""The figures a trader reads, computed from trades and the equity curve. All Decimal.

Risk-adjusted ratios (Sharpe, Sortino, Calmar) use the equity curve resampled to fixed bars (the
equity at each bar's end is the last sample at or before it) and are annualised for a market that
trades every day of the year: periods per year = 365 days / bar, risk-free rate 0. The bar is one
day for runs of 30 days or more, one hour for runs of 2 days or more, else one minute, so that even
a short run has returns to measure (a ratio over a few minutes says little: the report shows how many
returns it rests on). A ratio whose denominator is zero, or with fewer than 2 returns, is None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from athena.domain.money import ZERO
from athena.report.model import ReportData, Trade

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
YEAR_MS = 365 * DAY_MS
Q4 = Decimal("0.0001")
Q2 = Decimal("0.01")


def q4(v: Decimal | None) -> Decimal | None:
    return None if v is None else v.quantize(Q4)


def bar_for(span_ms: int) -> tuple[int, str]:
    if span_ms >= 30 * DAY_MS:
        return DAY_MS, "1 day"
    if span_ms >= 2 * DAY_MS:
        return HOUR_MS, "1 hour"
    return MINUTE_MS, "1 minute"


def bar_returns(curve: list[tuple[int, Decimal]], bar_ms: int) -> list[Decimal]:
    """Simple returns between consecutive bar ends, from the first sample on."""
    if not curve:
        return []
    t0, end = curve[0][0], curve[-1][0]
    out: list[Decimal] = []
    i, prev = 0, curve[0][1]
    t = t0 + bar_ms
    while t <= end:
        while i + 1 < len(curve) and curve[i + 1][0] <= t:
            i += 1
        eq = curve[i][1]
        out.append(eq / prev - 1 if prev != 0 else ZERO)
        prev = eq
        t += bar_ms
    return out


def _mean(xs: list[Decimal]) -> Decimal:
    return sum(xs, ZERO) / len(xs)


def sharpe(returns: list[Decimal], periods_per_year: Decimal) -> Decimal | None:
    """mean / sample standard deviation (n-1) x sqrt(periods per year)."""
    if len(returns) < 2:
        return None
    m = _mean(returns)
    var = sum(((r - m) ** 2 for r in returns), ZERO) / (len(returns) - 1)
    return None if var == 0 else m / var.sqrt() * periods_per_year.sqrt()


def sortino(returns: list[Decimal], periods_per_year: Decimal) -> Decimal | None:
    """mean / downside deviation (sqrt of the mean of min(r, 0)^2 over all n) x sqrt(periods per year)."""
    if len(returns) < 2:
        return None
    down = sum((min(r, ZERO) ** 2 for r in returns), ZERO) / len(returns)
    return None if down == 0 else _mean(returns) / down.sqrt() * periods_per_year.sqrt()


def drawdown(curve: list[tuple[int, Decimal]]) -> dict[str, Any]:
    """The largest peak-to-trough fall, in currency and as a fraction of its peak, and how long it
    lasted: from the peak until equity was back at that peak, or until the end if it never was."""
    out: dict[str, Any] = {
        "max_drawdown": ZERO,
        "max_drawdown_frac": ZERO,
        "max_drawdown_duration_ms": 0,
        "max_drawdown_recovered": True,
        "max_drawdown_peak_ts": None,
        "max_drawdown_trough_ts": None,
    }
    if not curve:
        return out
    peak, peak_ts = curve[0][1], curve[0][0]
    worst_open = False
    for ts, eq in curve:
        if eq >= peak:
            if worst_open and out["max_drawdown_peak_ts"] == peak_ts:
                out.update(max_drawdown_duration_ms=ts - peak_ts, max_drawdown_recovered=True)
                worst_open = False
            peak, peak_ts = eq, ts
            continue
        fall = peak - eq
        if fall > out["max_drawdown"]:
            out.update(
                max_drawdown=fall,
                max_drawdown_frac=fall / peak if peak > 0 else ZERO,
                max_drawdown_peak_ts=peak_ts,
                max_drawdown_trough_ts=ts,
                max_drawdown_recovered=False,
            )
            worst_open = True
    if worst_open:
        out["max_drawdown_duration_ms"] = curve[-1][0] - out["max_drawdown_peak_ts"]
    return out


def drawdown_series(curve: list[tuple[int, Decimal]]) -> list[tuple[int, Decimal]]:
    """(ms, equity - running peak): 0 at a peak, negative below it."""
    out, peak = [], None
    for ts, eq in curve:
        peak = eq if peak is None or eq > peak else peak
        out.append((ts, eq - peak))
    return out


def trade_stats(trades: list[Trade]) -> dict[str, Any]:
    """Counts and PnL of closed trades. Profit factor = gross winnings / gross losses (net of fees):
    None when there is no losing trade (infinite; profit_factor_note says so) or no trade at all."""
    n = len(trades)
    wins = [t.net for t in trades if t.net > 0]
    losses = [t.net for t in trades if t.net < 0]
    won, lost = sum(wins, ZERO), sum(losses, ZERO)
    net = sum((t.net for t in trades), ZERO)
    if not n:
        pf, note = None, "no trades"
    elif not losses:
        pf, note = None, "infinite: no losing trade"
    else:
        pf, note = won / -lost, None
    return {
        "trades": n,
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": Decimal(len(wins)) / n if n else None,
        "gross_pnl": sum((t.gross for t in trades), ZERO),
        "fees": sum((t.fees for t in trades), ZERO),
        "net_pnl": net,
        "profit_factor": pf,
        "profit_factor_note": note,
        "expectancy": net / n if n else None,  # mean net PnL per trade
        "avg_win": won / len(wins) if wins else None,
        "avg_loss": lost / len(losses) if losses else None,
        "largest_win": max(wins) if wins else None,
        "largest_loss": min(losses) if losses else None,
        "avg_duration_s": Decimal(sum(t.duration_ms for t in trades)) / n / 1000 if n else None,
    }


def time_in_trades_ms(trades: Iterable[Trade]) -> int:
    """Length of the union of the trades' open..close intervals."""
    total, end = 0, None
    for a, b in sorted((t.open_ts, t.close_ts) for t in trades):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def figures(data: ReportData) -> dict[str, Any]:
    """Every headline figure of a run, Decimals unrounded except the ratios (4 places)."""
    span = max(0, data.end_ts - data.start_ts)
    net = data.final_equity - data.initial_equity
    stats = trade_stats(data.trades)
    dd = drawdown(data.curve)
    bar_ms, bar_name = bar_for(span)
    rets = bar_returns(data.curve, bar_ms)
    per_year = Decimal(YEAR_MS) / bar_ms
    calmar = None
    if len(rets) >= 2 and dd["max_drawdown_frac"] > 0:
        calmar = _mean(rets) * per_year / dd["max_drawdown_frac"]
    in_market = (
        data.time_in_market_ms if data.time_in_market_ms is not None else time_in_trades_ms(data.trades)
    )
    return {
        "start_ts": data.start_ts,
        "end_ts": data.end_ts,
        "initial_equity": data.initial_equity,
        "final_equity": data.final_equity,
        "net_pnl": net,  # the equity's change: realised, fees, funding and what is still open
        "return_pct": net * 100 / data.initial_equity if data.initial_equity else None,
        "gross_pnl": data.gross_pnl,
        "fees": data.fees,
        "funding": data.funding,
        "unrealized_pnl": net - data.gross_pnl - data.fees - data.funding,
        **{f"trade_{k}" if k in ("gross_pnl", "fees", "net_pnl") else k: v for k, v in stats.items()},
        "sharpe": q4(sharpe(rets, per_year)),
        "sortino": q4(sortino(rets, per_year)),
        "calmar": q4(calmar),
        "ratio_bar": bar_name,
        "ratio_returns": len(rets),
        "annualisation": (
            f"{bar_name} returns x {per_year} periods a year (365 days: crypto trades every day); "
            "risk-free rate 0"
        ),
        "max_drawdown": dd["max_drawdown"],
        "max_drawdown_pct": dd["max_drawdown_frac"] * 100,
        "max_drawdown_duration_s": Decimal(dd["max_drawdown_duration_ms"]) / 1000,
        "max_drawdown_recovered": dd["max_drawdown_recovered"],
        "max_drawdown_peak_ts": dd["max_drawdown_peak_ts"],
        "max_drawdown_trough_ts": dd["max_drawdown_trough_ts"],
        "time_in_market_pct": Decimal(in_market) * 100 / span if span else None,
        "max_exposure": data.max_exposure,
        **data.extra_figures,
    }


def utc_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def table(
    trades: list[Trade], key: Callable[[Trade], str], funding: dict[str, Decimal] | None = None
) -> list[dict[str, Any]]:
    """One row per key (sorted): trades, wins, win rate, gross, fees, net, expectancy, profit factor,
    mean duration. funding (by the same key), when given, is a column of its own."""
    groups: dict[str, list[Trade]] = {}
    for t in trades:
        groups.setdefault(key(t), []).append(t)
    keys = sorted(set(groups) | set(funding or {}))
    rows = []
    for k in keys:
        s = trade_stats(groups.get(k, []))
        row = {
            "key": k,
            **{
                c: s[c]
                for c in (
                    "trades",
                    "wins",
                    "win_rate",
                    "gross_pnl",
                    "fees",
                    "net_pnl",
                    "expectancy",
                    "profit_factor",
                    "profit_factor_note",
                    "avg_duration_s",
                )
            },
        }
        if funding is not None:
            row["funding"] = funding.get(k, ZERO)
        rows.append(row)
    return rows


def _funding_by(
    events: list[tuple[int, str, str, Decimal]], key: Callable[[int, str, str], str]
) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for ts, instId, strategy, amount in events:
        k = key(ts, instId, strategy)
        out[k] = out.get(k, ZERO) + amount
    return out


def tables(data: ReportData) -> dict[str, list[dict[str, Any]]]:
    """Per exit reason, instrument, strategy and UTC day (trades by exit time, funding by settlement
    time: a day or an instrument that only paid funding has a row too)."""
    ev = data.funding_events
    by_strategy = _funding_by(ev, lambda ts, i, s: s) if ev else data.funding_by_strategy
    return {
        "exit_reason": table(data.trades, lambda t: t.exit_reason),
        "instrument": table(data.trades, lambda t: t.instId, _funding_by(ev, lambda ts, i, s: i)),
        "strategy": table(data.trades, lambda t: t.strategy, by_strategy),
        "day": table(
            data.trades, lambda t: utc_day(t.close_ts), _funding_by(ev, lambda ts, i, s: utc_day(ts))
        ),
    }
