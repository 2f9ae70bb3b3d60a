"""The report's interactive charts (plotly): equity and drawdown, price with entries and exits, the
distribution of trade PnL. Each is an HTML fragment without plotly.js (the page inlines it once).

Decimals become floats here and only here: a chart's coordinates are formatting, not accounting.
Div ids are fixed, so the same run gives the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from athena.report.figures import drawdown_series
from athena.report.model import ReportData

TEMPLATE = "plotly_white"
REASON_COLOURS = {
    "take_profit": "#1a7f37",
    "stop_loss": "#cf222e",
    "market_close": "#9a6700",
    "flatten": "#8250df",
    "external": "#57606a",
    "reversal": "#0969da",
}


MAX_POINTS = 4000  # per line: a day of 1 s samples would make the page slow to open


def thin(points: list[tuple[int, Decimal]], limit: int = MAX_POINTS) -> list[tuple[int, Decimal]]:
    """At most about `limit` points: of each run of consecutive samples, its lowest and highest (in
    time order), so a spike or a drawdown's trough is never thinned away; the last point is kept."""
    if len(points) <= limit:
        return points
    k = -(-len(points) // (limit // 2))
    out: list[tuple[int, Decimal]] = []
    for i in range(0, len(points), k):
        chunk = points[i : i + k]
        lo = min(chunk, key=lambda p: p[1])
        hi = max(chunk, key=lambda p: p[1])
        out.extend(sorted({lo, hi}))
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _html(fig: go.Figure, div_id: str) -> str:
    fig.update_layout(
        template=TEMPLATE, margin={"l": 60, "r": 20, "t": 40, "b": 40}, height=fig.layout.height or 380
    )
    return str(
        pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
    )


def equity_chart(data: ReportData) -> str:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05)
    curve = thin(data.curve)
    fig.add_trace(
        go.Scatter(
            x=[iso(ts) for ts, _ in curve],
            y=[float(e) for _, e in curve],
            name="equity",
            mode="lines",
            line={"color": "#1f6feb"},
        ),
        row=1,
        col=1,
    )
    dd = thin(drawdown_series(data.curve))
    fig.add_trace(
        go.Scatter(
            x=[iso(ts) for ts, _ in dd],
            y=[float(d) for _, d in dd],
            name="drawdown",
            mode="lines",
            fill="tozeroy",
            line={"color": "#cf222e"},
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", row=2, col=1)
    fig.update_layout(title="Equity and drawdown", height=480, showlegend=False)
    return _html(fig, "chart-equity")


def price_chart(data: ReportData, instId: str, n: int) -> str:
    fig = go.Figure()
    prices = thin(data.prices.get(instId, []))
    if prices:
        fig.add_trace(
            go.Scatter(
                x=[iso(ts) for ts, _ in prices],
                y=[float(p) for _, p in prices],
                name="mark",
                mode="lines",
                line={"color": "#8c959f", "width": 1},
            )
        )
    trades = [t for t in data.trades if t.instId == instId]
    for side, symbol, colour in (("long", "triangle-up", "#1a7f37"), ("short", "triangle-down", "#cf222e")):
        mine = [t for t in trades if t.side == side]
        if mine:
            fig.add_trace(
                go.Scatter(
                    x=[iso(t.open_ts) for t in mine],
                    y=[float(t.entry_px) for t in mine],
                    mode="markers",
                    name=f"{side} entry",
                    marker={"symbol": symbol, "size": 10, "color": colour},
                    text=[f"{t.strategy} {side} {t.qty} @ {t.entry_px}" for t in mine],
                    hoverinfo="text+x",
                )
            )
    for reason in sorted({t.exit_reason for t in trades}):
        mine = [t for t in trades if t.exit_reason == reason]
        fig.add_trace(
            go.Scatter(
                x=[iso(t.close_ts) for t in mine],
                y=[float(t.exit_px) for t in mine],
                mode="markers",
                name=f"exit: {reason}",
                marker={"symbol": "x", "size": 9, "color": REASON_COLOURS.get(reason, "#57606a")},
                text=[f"{t.strategy} exit {reason} @ {t.exit_px}, net {t.net}" for t in mine],
                hoverinfo="text+x",
            )
        )
    fig.update_layout(title=f"{instId}: price, entries and exits", yaxis_title="price")
    return _html(fig, f"chart-price-{n}")


def pnl_chart(data: ReportData) -> str:
    nets = [t.net for t in data.trades]
    fig = go.Figure()
    for label, picked, colour in (
        ("winners", [x for x in nets if x > 0], "#1a7f37"),
        ("losers and breakeven", [x for x in nets if x <= 0], "#cf222e"),
    ):
        fig.add_trace(
            go.Histogram(
                x=[float(x) for x in picked],
                name=label,
                marker={"color": colour},
                nbinsx=max(5, min(50, len(nets))),
            )
        )
    fig.update_layout(
        title="Net PnL per trade", barmode="overlay", xaxis_title="net PnL", yaxis_title="trades", bargap=0.05
    )
    fig.update_traces(opacity=0.75)
    return _html(fig, "chart-pnl")


def charts(data: ReportData) -> list[str]:
    insts = sorted(set(data.prices) | {t.instId for t in data.trades})
    return [equity_chart(data), *(price_chart(data, i, n) for n, i in enumerate(insts)), pnl_chart(data)]
