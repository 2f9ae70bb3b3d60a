"""The backtest's report: a folder var/backtest/<UTC time>-<strategy classes>/ with report.html
(athena.report's template: figures, interactive charts, breakdowns), trades.csv (with exit reason and
duration), fills.csv and summary.json.

Byte-for-byte repeatable for the same run: no wall-clock time inside the files (only in the folder's
name), Decimals as plain strings, sorted keys, fixed layout.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from athena.backtest.engine import BacktestResult
from athena.report.folders import label_of, new_run_folder
from athena.report.model import ReportData, Section, Trade, trade_from_trip
from athena.report.render import num, plain
from athena.report.render import write_report as write_folder

__all__ = ["fills_csv", "num", "print_summary", "report_data", "source_lines", "write_report"]
_s = plain  # the old name of athena.report.render.plain (JSON-able, Decimals as strings), for its callers


def trades_of(result: BacktestResult) -> list[Trade]:
    return [trade_from_trip(t, result.exit_reasons.get(t.exit, "unknown")) for t in result.trips]


def report_data(result: BacktestResult, meta: dict[str, Any], kind: str = "backtest") -> ReportData:
    """A backtest (or anything that produced a BacktestResult, e.g. paper trading) as a report."""
    classes = sorted({s["cls"] for s in meta.get("strategies", []) if "cls" in s})
    sections = []
    if result.stats:
        keys = sorted({k for st in result.stats.values() for k in st})
        sections.append(
            Section(
                "Strategy counters",
                ["strategy", *keys],
                [[name, *(st.get(k, 0) for k in keys)] for name, st in sorted(result.stats.items())],
            )
        )
    src = meta.get("source")
    if src:
        sections.append(Section("Data", text="\n".join(source_lines(src))))
    if result.errors:
        sections.append(Section("Errors", text="\n".join(str(e) for e in result.errors[:50])))
    insts = sorted({t.instId for t in result.trips}) or meta.get("instIds") or sorted(result.prices)
    return ReportData(
        kind=kind,  # type: ignore[arg-type]
        title=f"{' + '.join(classes) or 'strategies'} on {', '.join(insts)}",
        meta=meta,
        initial_equity=result.initial,
        final_equity=result.final_equity,
        curve=result.curve,
        trades=trades_of(result),
        start_ts=result.start_ts,
        end_ts=result.end_ts,
        gross_pnl=result.ledger.realized,
        fees=result.ledger.fees,
        funding=result.ledger.funding,
        funding_by_strategy=dict(result.ledger.funding_by),
        funding_events=list(result.ledger.funding_events),
        prices=result.prices,
        time_in_market_ms=result.time_in_market_ms,
        max_exposure=result.max_exposure,
        extra_figures={
            "events": result.events,
            "fills": len(result.ledger.fills),
            "exchange_equity": result.exchange_equity,
            "errors": len(result.errors),
        },
        sections=sections,
        json_extra={"strategy_stats": {name: dict(st) for name, st in sorted(result.stats.items())}},
    )


def fills_csv(result: BacktestResult) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["ts", "strategy", "clOrdId", "instId", "side", "sz", "px", "fee", "reduceOnly", "execType"])
    for strategy, f in result.ledger.fills:
        w.writerow(
            [
                f.ts,
                strategy,
                f.clOrdId,
                f.instId,
                f.side.value,
                num(f.fillSz),
                num(f.fillPx),
                num(f.fee),
                "true" if f.reduceOnly else "false",
                f.execType,
            ]
        )
    return out.getvalue()


def write_report(result: BacktestResult, parent: Path, meta: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """A new folder under parent (never one that exists), the report in it: (folder, summary)."""
    folder = new_run_folder(parent, label_of([s["cls"] for s in meta.get("strategies", []) if "cls" in s]))
    doc = write_folder(report_data(result, meta), folder, {"fills.csv": fills_csv(result)})
    return folder, doc


def _q(v: Any, places: str = "0.01") -> str:
    return "-" if v is None else num(Decimal(v).quantize(Decimal(places)))


def print_summary(doc: dict[str, Any], result: BacktestResult, out: Path | None, limit: int = 20) -> str:
    lines = ["trades:"]
    for t in trades_of(result)[:limit]:
        lines.append(
            f"  {t.strategy:<10} {t.instId:<15} {t.side:<5} qty {num(t.qty):>8} "
            f"{num(t.entry_px):>12} -> {num(t.exit_px):<12} net {num(t.net):<12} {t.exit_reason}"
        )
    if len(result.trips) > limit:
        lines.append(f"  ... {len(result.trips) - limit} more in trades.csv")
    f = doc["figures"]
    pf = _q(f["profit_factor"], "0.0001") if f["profit_factor"] is not None else f["profit_factor_note"]
    lines += [
        f"trades {f['trades']}  wins {f['wins']}  win rate {_q(f['win_rate'], '0.0001')}  profit "
        f"factor {pf}  "
        f"expectancy {_q(f['expectancy'], '0.0001')}",
        f"gross PnL {f['gross_pnl']}  fees {f['fees']}  funding {f['funding']}  net PnL {f['net_pnl']}",
        f"equity {f['initial_equity']} -> {f['final_equity']} (exchange {f['exchange_equity']})",
        f"max drawdown {f['max_drawdown']} ({_q(f['max_drawdown_pct'], '0.0001')}%) lasting "
        f"{_q(f['max_drawdown_duration_s'], '1')} s",
        f"Sharpe {_q(f['sharpe'])}  Sortino {_q(f['sortino'])}  Calmar {_q(f['calmar'])}  "
        f"({f['ratio_returns']} {f['ratio_bar']} returns, annualised over 365 days)",
        f"exposure: in market {_q(f['time_in_market_pct'])}% of the time, max {f['max_exposure']}",
    ]
    lines += source_lines(doc["meta"].get("source"))
    if out is not None:
        lines.append(f"report: {out}")
    return "\n".join(lines)


def source_lines(src: dict[str, Any] | None) -> list[str]:
    """What the data was: format, period, gaps (the first few), how the book was made."""
    if not src:
        return []
    out = [f"data: {src['format']}: {src['description']}"]
    p = src.get("period") or {}
    if p:
        out.append(f"period: {p['start']} .. {p['end']} ({p['seconds']} s)")
    gaps = src.get("gaps") or []
    out.append(
        f"gaps: {src.get('gap_count', len(gaps))}" + (f" (first: {'; '.join(gaps[:3])})" if gaps else "")
    )
    out.append(f"book: {src['book']}")
    for note in (src.get("notes") or [])[:5]:
        out.append(f"note: {note}")
    return out
