"""Write a run's report folder: report.html (one Jinja2 template for backtest, paper and demo, with
plotly.js inlined so it opens offline), trades.csv, summary.json.

Nothing here reads the wall clock: the same run gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from athena.domain import fmt
from athena.report.charts import charts, iso
from athena.report.figures import figures, tables
from athena.report.model import EXIT_REASONS, ReportData, Trade

Q8 = Decimal("1e-8")  # USDT precision on OKX; the figures themselves stay exact
TRADES_SHOWN = 500


def num(v: Decimal) -> str:
    """A Decimal as a plain string, at most 8 places (the settle currency's precision)."""
    exp = v.as_tuple().exponent
    return fmt(v.quantize(Q8) if isinstance(exp, int) and exp < -8 else v)


def plain(v: Any) -> Any:
    """JSON-able: Decimals as plain strings."""
    if isinstance(v, Decimal):
        return num(v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [plain(x) for x in v]
    return v


TRADE_COLUMNS = [
    "strategy",
    "instId",
    "side",
    "open_ts",
    "close_ts",
    "open_time",
    "close_time",
    "duration_s",
    "qty",
    "entry_px",
    "exit_px",
    "gross_pnl",
    "fees",
    "net_pnl",
    "exit_reason",
    "exit_clOrdId",
]


def trade_row(t: Trade) -> list[str]:
    return [
        t.strategy,
        t.instId,
        t.side,
        str(t.open_ts),
        str(t.close_ts),
        iso(t.open_ts),
        iso(t.close_ts),
        num(Decimal(t.duration_ms) / 1000),
        num(t.qty),
        num(t.entry_px),
        num(t.exit_px),
        num(t.gross),
        num(t.fees),
        num(t.net),
        t.exit_reason,
        t.exit_clOrdId,
    ]


def trades_csv(trades: list[Trade]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(TRADE_COLUMNS)
    for t in trades:
        w.writerow(trade_row(t))
    return out.getvalue()


def summary(data: ReportData) -> dict[str, Any]:
    """summary.json: what the page shows, exact."""
    return plain(
        {
            **data.json_extra,
            "kind": data.kind,
            "title": data.title,
            "meta": data.meta,
            "figures": figures(data),
            "tables": tables(data),
        }
    )


# -- formatting for the page (money stays Decimal until here) ---------------------------------------
def money(v: Decimal | None) -> str:
    return "—" if v is None else f"{v:,.2f}"


def pct(v: Decimal | None) -> str:
    return "—" if v is None else f"{v:,.2f} %"


def frac_pct(v: Decimal | None) -> str:
    return "—" if v is None else f"{v * 100:,.1f} %"


def ratio(v: Decimal | None) -> str:
    return "—" if v is None else f"{v:,.2f}"


def duration(seconds: Decimal | int | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    d, rest = divmod(s, 86_400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    if d:
        return f"{d}d {h:02d}h {m:02d}m"
    if h:
        return f"{h}h {m:02d}m {sec:02d}s"
    return f"{m}m {sec:02d}s" if m else f"{Decimal(seconds):.1f} s" if s < 10 else f"{sec}s"


def when(ms: int | None) -> str:
    return "—" if ms is None else iso(ms).replace("T", " ").replace("Z", " UTC")


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("athena.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.tests["decimal"] = lambda v: isinstance(v, Decimal)
    env.filters.update(
        money=money,
        pct=pct,
        frac_pct=frac_pct,
        ratio=ratio,
        duration=duration,
        when=when,
        num=num,
        json=lambda v: json.dumps(plain(v), indent=2, sort_keys=True),
    )
    return env


@cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def render_html(data: ReportData) -> str:
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            data=data,
            f=figures(data),
            tables=tables(data),
            charts=charts(data),
            reasons=EXIT_REASONS,
            trades=data.trades[:TRADES_SHOWN],
            more=max(0, len(data.trades) - TRADES_SHOWN),
            plotly_js=plotly_js(),
        )
    )


def write_report(data: ReportData, folder: Path, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Write report.html, trades.csv, summary.json (and `extra` files, e.g. fills.csv) into folder
    (made by athena.report.folders.new_run_folder). Returns the summary."""
    doc = summary(data)
    files = {
        "report.html": render_html(data),
        "trades.csv": trades_csv(data.trades),
        "summary.json": json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n",
        **(extra or {}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return doc
