"""The demo's report: the run in the report every run kind shares (athena.report), the ledger
rebuilt from the journal's fills, and the final reconcile's capital check."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from athena.process.demo.state import DemoState


def fills_ledger(fills: list[Any], instruments: dict[str, Any], owner: dict[str, str]) -> Any:
    """Round trips and PnL rebuilt from the journal's fills alone (a cross-check of capital)."""
    from athena.backtest.ledger import Ledger

    insts = instruments
    ledger = Ledger(insts, Decimal(10_000))
    for f in sorted(fills, key=lambda f: (f.ts, f.clOrdId, f.accFillSz)):
        if f.instId in insts:
            ledger.on_fill(f, f.strategy or owner.get(f.instId, "?"))
    return ledger


def write_demo_report(
    doc: dict[str, Any], ledger: Any, st: DemoState, reports: Path, started_ms: int, duration: float
) -> Path:
    """The report under reports/<UTC time>-demo (or -paper), with the fills as fills.csv; its folder."""
    from athena.backtest.report import num
    from athena.report.folders import new_run_folder
    from athena.report.render import write_report

    report_dir = new_run_folder(reports, "paper" if doc.get("mode") == "paper" else "demo")
    doc["report_dir"] = str(report_dir)
    doc["round_trips"] = len(ledger.trips)
    fbuf = io.StringIO()
    fw = csv.writer(fbuf, lineterminator="\n")
    fw.writerow(["ts", "strategy", "clOrdId", "instId", "side", "sz", "px", "fee", "reduceOnly"])
    for f in st.fills:
        fw.writerow(
            [
                f.ts,
                f.strategy,
                f.clOrdId,
                f.instId,
                f.side.value,
                num(f.fillSz),
                num(f.fillPx),
                num(f.fee),
                "true" if f.reduceOnly else "false",
            ]
        )
    write_report(
        demo_report_data(doc, ledger, st, started_ms, duration), report_dir, {"fills.csv": fbuf.getvalue()}
    )
    return report_dir


def demo_report_data(
    doc: dict[str, Any], ledger: Any, st: DemoState, started_ms: int, duration: float
) -> Any:
    """The demo run in the report every run kind shares: its round trips (rebuilt from the journal's
    fills), equity and marks as polled, and what only the demo has (mission, beat, latencies, events)."""
    from athena.report.model import FLATTEN, ReportData, Section, exit_reason, trade_from_trip

    def reason(cl: str, close_ts: int) -> str:
        if st.flatten_at_ms is not None and close_ts >= st.flatten_at_ms:
            return FLATTEN
        order = st.orders.get(cl)
        return exit_reason(cl, order.req if order is not None else None)

    trades = [trade_from_trip(t, reason(t.exit, t.close_ts)) for t in ledger.trips]
    initial = Decimal(10_000)
    curve = [(started_ms, initial), *((ts, eq) for ts, eq in st.equity if ts > started_ms)]
    end = max([curve[-1][0], *(t.close_ts for t in trades)])
    lat = doc.get("task_latency") or {}
    cols = ("runs", "failed", "wait_p50_ms", "wait_max_ms", "run_p50_ms", "run_max_ms")
    checks: list[list[Any]] = [
        ["final reconcile drift", json.dumps((doc.get("final_reconcile") or {}).get("drift"))],
        ["reconcile drift seen by beat", json.dumps((doc.get("beat") or {}).get("reconcile_drift"))],
        ["capital", capital_line(doc.get("capital"))],
        ["flat after the flatten", str((doc.get("flatten") or {}).get("flat"))],
        ["ledger corrections by sync/reconcile", len(doc.get("ledger_corrections") or [])],
        [
            "WebSocket drop / recovered at (s)",
            f"{(doc.get('ws') or {}).get('drop_at_s')} / {(doc.get('ws') or {}).get('recovered_at_s')}",
        ],
    ]
    gate = doc.get("fee_gate")
    if gate:  # entries ScalperV1 skipped because the take profit would not cover the round trip's fees
        checks.append(["fee gate: entries skipped / sent", f"{gate.get('skipped')} / {gate.get('entries')}"])
    sections = [
        Section(
            "Mission",
            ["step", "seen at (s)"],
            [
                [k.replace("_", " "), "-" if v is None else v]
                for k, v in (doc.get("milestones") or {}).items()
            ],
        ),
        Section(
            "Task latencies (ms)", ["task", *cols], [[k, *(v.get(c) for c in cols)] for k, v in lat.items()]
        ),
        Section("Checks", ["check", "result"], checks),
        Section("Events", text="\n".join(doc.get("notes") or [])),
    ]
    return ReportData(
        kind="paper" if doc.get("mode") == "paper" else "demo",
        title=f"ScalperV1 {'paper' if doc.get('mode') == 'paper' else 'demo'} on "
        f"{', '.join(doc.get('symbols') or [])}",
        meta={
            k: doc.get(k)
            for k in ("seed", "symbols", "account", "duration_s", "ran_s", "interrupted", "run_dir")
        },
        initial_equity=initial,
        final_equity=curve[-1][1],
        curve=curve,
        trades=trades,
        start_ts=started_ms,
        end_ts=end,
        gross_pnl=ledger.realized,
        fees=ledger.fees,
        funding=ledger.funding,
        funding_by_strategy=dict(ledger.funding_by),
        funding_events=list(ledger.funding_events),
        prices=st.prices,
        extra_figures={
            "orders": doc.get("orders"),
            "entries": doc.get("entries"),
            "fills": doc.get("fills"),
            "exchange stops placed": doc.get("stops_placed"),
        },
        sections=sections,
        json_extra=doc,
    )


def capital_ok(capital: dict[str, Any] | None) -> bool:
    return (
        capital is not None
        and bool(capital)
        and not capital.get("clamps")
        and not capital.get("reserved_mismatch")
    )


def capital_line(capital: dict[str, Any] | None) -> str:
    """The final reconcile's capital check: counted clamps and reserved/reservation mismatches."""
    if not capital:
        return "NOT CHECKED (no final reconcile)"
    if capital_ok(capital):
        return "reservations consistent, 0 clamps"
    parts = []
    if capital.get("clamps"):
        cls = ", ".join(str(c.get("clOrdId")) for c in capital.get("recent_clamps", [])[:5])
        parts.append(f"{capital['clamps']} CLAMPED release(s) ({cls})")
    if capital.get("reserved_mismatch"):
        parts.append(f"reserved != open reservations: {capital['reserved_mismatch']}")
    return "ERROR " + "; ".join(parts)
