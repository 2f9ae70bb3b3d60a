"""The demo on the terminal: the live view (rich), the plain periodic line, the final summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from athena.process.demo.report import capital_line
from athena.process.demo.state import latency_table

if TYPE_CHECKING:
    from athena.process.demo.run import Demo


def _mark(v: float | None) -> str:
    return f"yes ({v:.0f}s)" if v is not None else "-"


def render_view(demo: Demo) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    st = demo.st
    s = st.status
    stream = s.get("stream") or {}
    pnl = s.get("pnl") or {}
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"[b]Athena demo[/b] {st.now():5.0f}/{demo.args.duration:.0f} s",
        f"ticks/s {st.ticks_per_s:6.1f}",
        f"WS private {stream.get('private')}",
        f"equity {pnl.get('equity', '-')[:12]}",
        f"realised {pnl.get('realised', '-')[:10]}",
        f"fees {pnl.get('fees', '-')[:10]}",
        "[red]HALTED[/red]" if s.get("halted") else "[green]trading[/green]",
        f"breaker {((s.get('breakers') or {}).get('sync_positions'))}",
    )
    book = Table(title="book", expand=True)
    for c in ("instId", "bid", "ask", "last", "mark"):
        book.add_column(c)
    for inst_id, m in sorted((st.sim.get("markets") or {}).items()):
        if inst_id in demo.symbols:
            book.add_row(
                inst_id, m.get("bid") or "-", m.get("ask") or "-", m.get("last") or "-", m.get("mark") or "-"
            )
    pos = Table(title="positions (exchange) and their stops", expand=True)
    for c in ("instId", "pos", "avgPx", "stop", "stop sz"):
        pos.add_column(c)
    stops = s.get("stops") or []
    for p in s.get("positions") or []:
        mine = [x for x in stops if x["instId"] == p["instId"]]
        pos.add_row(
            p["instId"],
            p["pos"],
            p["avgPx"] or "-",
            ", ".join(x["slTriggerPx"] for x in mine) or "[red]none[/red]",
            ", ".join(x["sz"] or "all" for x in mine),
        )
    orders = Table(title="working orders", expand=True)
    for c in ("clOrdId", "side", "type", "sz", "px", "state"):
        orders.add_column(c)
    for o in (s.get("working_orders") or [])[:8]:
        orders.add_row(o["clOrdId"], o["side"], o["ordType"], o["sz"], o["px"] or "mkt", o["state"])
    fills = Table(title=f"fills ({len(st.fills)})", expand=True)
    for c in ("clOrdId", "side", "sz", "px", "fee"):
        fills.add_column(c)
    for f in st.fills[-6:]:
        fills.add_row(f.clOrdId, f.side.value, str(f.fillSz), str(f.fillPx), str(f.fee))
    mission = Table(title="mission", expand=True)
    mission.add_column("step")
    mission.add_column("seen")
    for k, v in st.ms.items():
        mission.add_row(k.replace("_", " "), _mark(v))
    mission.add_row(
        "exits tp/sl/time", f"{st.exits['take_profit']}/{st.exits['stop_loss']}/{st.exits['time_stop']}"
    )
    lat = Table(title="task latencies (ms)", expand=True)
    for c in ("task", "runs", "wait p50", "run p50", "run max"):
        lat.add_column(c)
    for name, r in latency_table(demo.events.snapshot() if demo.events else {}).items():
        lat.add_row(
            name.removeprefix("athena."),
            str(r["runs"]),
            str(r["wait_p50_ms"]),
            str(r["run_p50_ms"]),
            str(r["run_max_ms"]),
        )
    grid = Table.grid(expand=True)
    grid.add_column(ratio=3)
    grid.add_column(ratio=2)
    grid.add_row(Group(book, pos, orders, fills), Group(mission, lat))
    notes = "\n".join(st.notes[-8:]) or "-"
    return Panel(Group(head, grid, Panel(notes, title="events")), title=f"account {demo.stack.account}")


def live_view(demo: Demo) -> Any:
    from rich.console import Console
    from rich.live import Live

    return Live(
        console=Console(),
        refresh_per_second=4,
        screen=False,
        transient=False,
        get_renderable=lambda: render_view(demo) if demo.st.status else "starting ...",
    )


def plain_line(demo: Demo) -> str:
    st = demo.st
    s = st.status
    pnl = s.get("pnl") or {}
    pos = " ".join(f"{p['instId']}:{p['pos']}" for p in s.get("positions") or []) or "flat"
    line = (
        f"[{st.now():5.1f}s] ticks/s {st.ticks_per_s:.0f} | orders {len(st.orders)} working "
        f"{len(s.get('working_orders') or [])} | fills {len(st.fills)} | stops live "
        f"{len(s.get('stops') or [])} "
        f"| pos {pos} | equity {pnl.get('equity', '-')[:10]} | tp/sl/time {st.exits['take_profit']}/"
        f"{st.exits['stop_loss']}/{st.exits['time_stop']} | halted {s.get('halted')}"
    )
    for n in st.notes[-3:]:
        if n not in getattr(demo, "_printed", set()):
            demo.__dict__.setdefault("_printed", set()).add(n)
            line += f"\n    {n}"
    return line


def render_summary(doc: dict[str, Any]) -> str:
    ex = doc.get("exits", {})
    beat = doc.get("beat", {})
    fin = doc.get("final_reconcile", {})
    ws = doc.get("ws", {})
    pnl = doc.get("pnl", {})
    fl = doc.get("fills_ledger", {})
    rec_ok = "final: " + ("no drift" if fin.get("drift") == [] else f"DRIFT {fin.get('drift')}")
    rec_ok += ", beat's: " + (
        "no drift" if not beat.get("reconcile_drift") else f"DRIFT {beat.get('reconcile_drift')}"
    )
    wsl = (
        f"dropped at {ws['drop_at_s']} s, recovered at {ws['recovered_at_s']} s"
        if ws.get("recovered_at_s") is not None
        else f"dropped at {ws.get('drop_at_s')} s, NOT recovered"
        if ws.get("drop_at_s") is not None
        else "not injected"
    )
    lines = [
        "=" * 72,
        f"Athena demo summary  ({doc.get('mode', 'sim')}, {doc.get('ran_s')} of {doc.get('duration_s')} s"
        f"{', interrupted' if doc.get('interrupted') else ''}, seed {doc.get('seed')}, account "
        f"{doc.get('account')})",
        f"  orders: {doc.get('orders')} (entries {doc.get('entries')})   fills: {doc.get('fills')}   "
        f"stops placed: {doc.get('stops_placed')}   round trips: {doc.get('round_trips')}",
        f"  exits: take profit {ex.get('take_profit')}, stop-loss hit {ex.get('stop_loss')}, "
        f"time stop {ex.get('time_stop')}, flatten {ex.get('flatten')}",
        f"  beat: position sync {beat.get('sync_positions')} runs, reconcile {beat.get('reconcile')} runs; "
        f"reconcile: {rec_ok}",
        f"  WebSocket drop: {wsl}",
        f"  flatten: flat={doc.get('flatten', {}).get('flat')}   halted={doc.get('halted')}",
        f"  PnL (capital): realised {pnl.get('realised')}  fees {pnl.get('fees')}  equity "
        f"{pnl.get('equity')}",
        f"  PnL (from fills): gross {fl.get('gross')}  fees {fl.get('fees')}  net {fl.get('net')}",
        f"  fee gate: {(doc.get('fee_gate') or {}).get('skipped')} entries skipped (take profit within "
        "the round "
        f"trip's fees), {(doc.get('fee_gate') or {}).get('entries')} sent",
        f"  ledger corrections by sync/reconcile during the run: {len(doc.get('ledger_corrections', []))}",
        f"  capital: {capital_line(doc.get('capital'))}",
        "  mission: "
        + ", ".join(f"{k}={'yes' if v is not None else 'NO'}" for k, v in doc.get("milestones", {}).items()),
        f"  children left running: {len(doc.get('survivors', []))}",
        f"  report: {doc.get('report_dir')}",
        f"  logs:   {doc.get('run_dir')}/logs",
        "=" * 72,
    ]
    return "\n".join(lines)
