"""The backtest report: trades.csv, fills.csv, equity.svg (hand-written SVG), summary.json, summary.html.

Byte-for-byte repeatable: no wall-clock time, Decimals as plain strings, sorted keys, fixed layout.
"""

from __future__ import annotations

import csv
import html
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from athena.backtest.engine import BacktestResult
from athena.domain import fmt

W, H, PAD = 800, 300, 50
Q2 = Decimal("0.01")
Q8 = Decimal("1e-8")  # USDT precision on OKX; the ledger itself stays exact


def num(v: Decimal) -> str:
    exp = v.as_tuple().exponent
    return fmt(v.quantize(Q8) if isinstance(exp, int) and exp < -8 else v)


def _s(v: Any) -> Any:
    if isinstance(v, Decimal):
        return num(v)
    if isinstance(v, dict):
        return {k: _s(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_s(x) for x in v]
    return v


def summary(result: BacktestResult, meta: dict[str, Any]) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    for t in result.trips:
        p = per.setdefault(t.strategy, {"trades": 0, "wins": 0, "gross_pnl": Decimal(0), "fees": Decimal(0)})
        p["trades"] += 1
        p["wins"] += 1 if t.net > 0 else 0
        p["gross_pnl"] += t.gross
        p["fees"] += t.fees
    for p in per.values():
        p["net_pnl"] = p["gross_pnl"] + p["fees"]
    return _s({"meta": meta, "figures": result.figures(), "strategies": per, "strategy_stats": result.stats})


def trades_csv(result: BacktestResult) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["strategy", "instId", "side", "open_ts", "close_ts", "qty", "entry_px", "exit_px", "gross_pnl",
                "fees", "net_pnl", "exit_clOrdId"])
    for t in result.trips:
        w.writerow([t.strategy, t.instId, t.side, t.open_ts, t.close_ts, num(t.qty), num(t.entry_px),
                    num(t.exit_px), num(t.gross), num(t.fees), num(t.net), t.exit])
    return out.getvalue()


def fills_csv(result: BacktestResult) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["ts", "strategy", "clOrdId", "instId", "side", "sz", "px", "fee", "reduceOnly", "execType"])
    for strategy, f in result.ledger.fills:
        w.writerow([f.ts, strategy, f.clOrdId, f.instId, f.side.value, num(f.fillSz), num(f.fillPx), num(f.fee),
                    "true" if f.reduceOnly else "false", f.execType])
    return out.getvalue()


def equity_svg(curve: list[tuple[int, Decimal]]) -> str:
    t0, t1 = curve[0][0], curve[-1][0]
    lo = min(e for _, e in curve)
    hi = max(e for _, e in curve)
    span_t = Decimal(max(1, t1 - t0))
    span_e = hi - lo if hi > lo else Decimal(1)
    pts = []
    for ts, eq in curve:
        x = (PAD + Decimal(ts - t0) * (W - 2 * PAD) / span_t).quantize(Q2)
        y = (PAD + (hi - eq) * (H - 2 * PAD) / span_e).quantize(Q2)
        pts.append(f"{x},{y}")
    secs = (t1 - t0) // 1000
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="monospace" font-size="11">',
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>',
        f'<rect x="{PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" fill="none" stroke="#cccccc"/>',
        f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{" ".join(pts)}"/>',
        f'<text x="{PAD}" y="{PAD - 8}">equity {fmt(hi.quantize(Q2))}</text>',
        f'<text x="{PAD}" y="{H - PAD + 16}">{fmt(lo.quantize(Q2))}</text>',
        f'<text x="{W - PAD}" y="{H - PAD + 16}" text-anchor="end">+{secs} s</text>',
        "</svg>",
        "",
    ])


def summary_html(doc: dict[str, Any], svg: str, trades: str) -> str:
    rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                     for k, v in doc["figures"].items())
    strat = "\n".join(
        f"<tr><th>{html.escape(name)}</th><td>{p['trades']}</td><td>{p['wins']}</td><td>{p['net_pnl']}</td>"
        f"<td>{p['fees']}</td></tr>" for name, p in sorted(doc["strategies"].items())
    )
    lines = trades.strip().split("\n")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in lines[0].split(","))
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in ln.split(",")) + "</tr>"
                     for ln in lines[1:201])
    meta = html.escape(json.dumps(doc["meta"], sort_keys=True))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Athena backtest</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:3px 8px;text-align:right}}</style>
</head><body>
<h1>Athena backtest</h1>
<p><code>{meta}</code></p>
<h2>Figures</h2>
<table>{rows}</table>
<h2>Equity</h2>
{svg}
<h2>Strategies</h2>
<table><tr><th>strategy</th><th>trades</th><th>wins</th><th>net PnL</th><th>fees</th></tr>
{strat}</table>
<h2>Trades (first 200)</h2>
<table><tr>{head}</tr>
{body}</table>
</body></html>
"""


def write_report(result: BacktestResult, out: Path, meta: dict[str, Any]) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    doc = summary(result, meta)
    trades = trades_csv(result)
    svg = equity_svg(result.curve)
    files = {
        "trades.csv": trades,
        "fills.csv": fills_csv(result),
        "equity.svg": svg,
        "summary.json": json.dumps(doc, indent=2, sort_keys=True) + "\n",
        "summary.html": summary_html(doc, svg, trades),
    }
    for name, text in files.items():
        (out / name).write_text(text)
    return doc


def print_summary(doc: dict[str, Any], result: BacktestResult, out: Path | None, limit: int = 20) -> str:
    lines = ["trades:"]
    for t in result.trips[:limit]:
        lines.append(f"  {t.strategy:<10} {t.instId:<15} {t.side:<5} qty {num(t.qty):>8} "
                     f"{num(t.entry_px):>12} -> {num(t.exit_px):<12} net {num(t.net)}")
    if len(result.trips) > limit:
        lines.append(f"  ... {len(result.trips) - limit} more in trades.csv")
    f = doc["figures"]
    lines += [
        f"trades {f['trades']}  wins {f['wins']}  win rate {f['win_rate']}",
        f"gross PnL {f['gross_pnl']}  fees {f['fees']}  net PnL {f['net_pnl']}",
        f"equity {f['initial_equity']} -> {f['final_equity']} (exchange {f['exchange_equity']})",
        f"max drawdown {f['max_drawdown']} ({f['max_drawdown_pct']}%)",
        f"exposure: in market {f['time_in_market_pct']}% of the time, max {f['max_exposure']}",
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
    out.append(f"gaps: {src.get('gap_count', len(gaps))}" + (f" (first: {'; '.join(gaps[:3])})" if gaps else ""))
    out.append(f"book: {src['book']}")
    for note in (src.get("notes") or [])[:5]:
        out.append(f"note: {note}")
    return out
