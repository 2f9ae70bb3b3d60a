"""`athena status`: the account at a glance, read from Redis (no worker needed).

Positions with their exchange stops and the distance to them, working orders, PnL, equity and
drawdown against its limit, the halt and strategy pauses, breakers, each WebSocket's state and the
age of its last message (the stream worker's snapshot), the workers' heartbeats (athena.state.workers)
and the last reconcile with its drift. A table (rich) by default, `--json` for machines, `--watch`
to refresh in place. Exit codes: 0 shown, 2 configuration, 3 Redis down.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from athena import queues as q
from athena.config import Settings
from athena.process.control import EXIT_OK, _settings, command, preflight

STALE_STREAM_MS = 10_000  # the stream worker writes its snapshot every second


def _loads(raw: Any) -> Any:
    return orjson.loads(raw) if raw else None


def _dec(v: Any) -> Decimal | None:
    try:
        return Decimal(str(v)) if v not in (None, "") else None
    except InvalidOperation:
        return None


def collect_status(settings: Settings, redis: Any = None) -> dict[str, Any]:
    """Everything `athena status` shows, JSON-ready (Decimals as strings, times as epoch ms)."""
    from athena.state.workers import WorkerRegistry, identity_of
    from athena.wiring import account, ledger_view

    eng = account(settings, redis=redis)  # the account's state in Redis: no journal, no exchange
    try:
        r, k = eng.redis, eng.keys
        now_ms = int(time.time() * 1000)
        stream, heartbeat, last_reconcile = r.mget(k.stream_status, k.heartbeat, k.last_reconcile)
        halt = eng.halt.state()
        symbols = sorted(set(settings.symbols) | {i for s in settings.strategies for i in s.instIds})
        marks = {i: eng.marks.get(i) for i in symbols}
        stops = eng.algos.working()
        positions = []
        # the exchange's positions as last synced (no instruments, journal or REST: a read of Redis)
        for p in ledger_view(eng).exchange_positions():
            if p.is_flat:
                continue
            mark = marks.get(p.instId) or p.markPx
            closing = "sell" if p.signed > 0 else "buy"
            covering = [a for a in stops if a.instId == p.instId and str(a.side) == closing]
            # the stop nearest the mark is the one that fires first
            stop = min(covering, key=lambda a: abs((mark or a.slTriggerPx) - a.slTriggerPx), default=None)
            distance = (abs(mark - stop.slTriggerPx) / mark * 100) if stop is not None and mark else None
            positions.append({
                "instId": p.instId, "posSide": str(p.posSide), "pos": str(p.pos), "avgPx": _s(p.avgPx),
                "mark": _s(mark), "upl": _s(p.upl), "stop_px": _s(stop.slTriggerPx) if stop else None,
                "stop_sz": _s(stop.sz) if stop else None, "stop_state": str(stop.state) if stop else None,
                "stop_distance_pct": f"{distance:.2f}" if distance is not None else None,
            })  # fmt: skip
        orders = [
            {"clOrdId": o.clOrdId, "instId": o.instId, "side": str(o.req.side), "ordType": str(o.req.ordType),
             "sz": str(o.req.sz), "px": _s(o.req.px), "state": str(o.state), "accFillSz": str(o.accFillSz),
             "reduceOnly": o.req.reduceOnly, "strategy": o.req.strategy, "cTime": o.cTime}
            for o in eng.store.working()
        ]  # fmt: skip
        snap = eng.capital.snapshot({i: m for i, m in marks.items() if m is not None})
        limit = settings.risk.max_drawdown
        registry = WorkerRegistry(r)
        queues = q.AccountQueues(settings.account)
        me = identity_of(settings)
        ident = "/".join(me[x] for x in ("env", "account", "mode", "key"))
        workers = [
            {"node": e.node, "queue": e.queue, "role": e.role, "host": e.host, "pid": e.pid,
             "last_beat_ms": e.ts,
             "started_ms": e.started, "alive": e.age_ms(now_ms) < 15_000, "ours": e.identity == ident,
             "account": e.account, "env": e.env}
            for e in registry.entries(queues.all, include_stale=True)
        ]  # fmt: skip
        stream_doc = _loads(stream)
        return {
            "account": settings.account, "mode": settings.mode, "env": settings.env, "at_ms": now_ms,
            "halted": halt is not None, "halt": asdict(halt) if halt is not None else None,
            "holds": {name: asdict(h) for name, h in eng.halt.holds().items()},
            "paused_strategies": eng.pause.paused(),
            "breakers": {"sync_positions": eng.breaker("sync_positions").state() or "closed"},
            "marks": {i: _s(m) for i, m in marks.items()},
            "positions": positions, "working_orders": orders,
            "stops": [{"algoClOrdId": a.algoClOrdId, "instId": a.instId, "side": str(a.side), "sz": _s(a.sz),
                       "slTriggerPx": str(a.slTriggerPx), "state": str(a.state)} for a in stops],
            "pnl": {"equity": str(snap.equity), "realised": str(snap.realised),
                    "unrealised": str(snap.unrealised), "fees": str(snap.fees), "funding": str(snap.funding),
                    "hwm": str(snap.hwm), "drawdown": str(snap.drawdown),
                    "max_drawdown": str(limit), "daily_realised": str(snap.daily_realised),
                    "missing_marks": list(snap.missing_marks)},
            "stream": stream_doc,
            "stream_fresh": bool(stream_doc and now_ms - int(stream_doc.get("at_ms", 0)) < STALE_STREAM_MS),
            "heartbeat": _loads(heartbeat),
            "last_reconcile": _loads(last_reconcile),
            "workers": workers,
        }  # fmt: skip
    finally:
        if redis is None:
            eng.close()


def _s(v: Any) -> str | None:
    return None if v is None else str(v)


# -- rendering ---------------------------------------------------------------------------------------
def ago(ms: Any, now_ms: int) -> str:
    """'3 s ago', '4 min ago', '2 h ago', '3 d ago'; '-' for no time."""
    if not ms:
        return "-"
    s = max(0, (now_ms - int(ms)) // 1000)
    if s < 90:
        return f"{s} s ago"
    if s < 90 * 60:
        return f"{s // 60} min ago"
    if s < 36 * 3600:
        return f"{s // 3600} h ago"
    return f"{s // 86400} d ago"


def render(doc: dict[str, Any]) -> Any:
    """The status as rich renderables (one Group)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    now = int(doc["at_ms"])
    t = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now / 1000))
    parts: list[Any] = [
        Text(f"Athena  account {doc['account']}  mode {doc['mode']}  env {doc['env']}  at {t}", style="bold")
    ]

    halt = doc.get("halt")
    if halt:
        parts.append(
            Text(f"HALTED since {ago(halt['ts'], now)} by {halt['who']}: {halt['reason']}", style="bold red")
        )
    else:
        parts.append(Text("trading: not halted", style="green"))
    for name, h in (doc.get("holds") or {}).items():
        parts.append(
            Text(
                f"entries HELD ({name}) since {ago(h.get('ts'), now)}: {h.get('reason')} (lifts by itself)",
                style="bold yellow",
            )
        )
    for name, p in (doc.get("paused_strategies") or {}).items():
        parts.append(
            Text(
                f"strategy {name} PAUSED {ago(p.get('ts'), now)} by {p.get('who')}: {p.get('reason')}",
                style="yellow",
            )
        )
    breakers = ", ".join(f"{k}: {v}" for k, v in (doc.get("breakers") or {}).items())
    parts.append(Text(f"breakers: {breakers or 'none'}"))

    pnl = doc.get("pnl") or {}
    dd, limit = _dec(pnl.get("drawdown")), _dec(pnl.get("max_drawdown"))
    dd_text = f"{dd * 100:.2f}% of max {limit * 100:.2f}%" if dd is not None and limit else "-"
    money = Table(title="PnL (USDT)", show_edge=False)
    for c in ("equity", "realised", "unrealised", "fees", "high-water", "drawdown"):
        money.add_column(c, justify="right")
    money.add_row(
        pnl.get("equity", "-"),
        pnl.get("realised", "-"),
        pnl.get("unrealised", "-"),
        pnl.get("fees", "-"),
        pnl.get("hwm", "-"),
        dd_text,
    )
    parts.append(money)

    pos = Table(title="positions and their exchange stops", show_edge=False)
    for c in ("instId", "side", "pos", "avgPx", "mark", "uPnL", "stop", "to stop"):
        pos.add_column(c, justify="right" if c not in ("instId", "side") else "left")
    for p in doc.get("positions") or []:
        stop = (
            f"{p['stop_px']} ({p['stop_state']})" if p.get("stop_px") else Text("NO STOP", style="bold red")
        )
        dist = f"{p['stop_distance_pct']}%" if p.get("stop_distance_pct") else "-"
        pos.add_row(
            p["instId"],
            p["posSide"],
            p["pos"],
            p.get("avgPx") or "-",
            p.get("mark") or "-",
            p.get("upl") or "-",
            stop,
            dist,
        )
    if not doc.get("positions"):
        pos.add_row("flat", "", "", "", "", "", "", "")
    parts.append(pos)

    orders = Table(title="working orders", show_edge=False)
    for c in ("clOrdId", "instId", "side", "type", "sz", "px", "state", "filled", "age"):
        orders.add_column(c)
    for o in doc.get("working_orders") or []:
        orders.add_row(
            o["clOrdId"],
            o["instId"],
            o["side"] + (" (reduce)" if o.get("reduceOnly") else ""),
            o["ordType"],
            o["sz"],
            o.get("px") or "mkt",
            o["state"],
            o["accFillSz"],
            ago(o.get("cTime"), now),
        )
    if not doc.get("working_orders"):
        orders.add_row("none", "", "", "", "", "", "", "", "")
    parts.append(orders)

    ws = Table(title="WebSockets (stream worker)", show_edge=False)
    for c in ("connection", "state", "last message", "last frame", "messages", "reconnects"):
        ws.add_column(c)
    stream = doc.get("stream") or {}
    if not stream:
        ws.add_row("-", Text("no stream worker snapshot", style="red"), "", "", "", "")
    for name, w in (stream.get("ws") or {}).items():
        state = str(w.get("state"))
        ws.add_row(
            name,
            Text(state, style="green" if state == "ready" else "yellow"),
            ago(w.get("last_message_ms"), now),
            ago(w.get("last_frame_ms"), now),
            str(w.get("messages", "")),
            str(w.get("reconnects", "")),
        )
    if stream:
        fresh = "" if doc.get("stream_fresh") else "  (STALE: is the stream worker running?)"
        parts.append(
            Text(
                f"stream worker snapshot {ago(stream.get('at_ms'), now)}: {stream.get('ticks', 0)} "
                f"ticks{fresh}"
            )
        )
        for strat in (
            stream.get("strategies") or []
        ):  # their own counters (ScalperV1: entries, fee gate skips)
            st = strat.get("stats") or {}
            shown = ", ".join(
                f"{k} {st[k]}" for k in ("entries", "fee_gate", "refused", "take_profits") if k in st
            )
            if shown:
                parts.append(Text(f"  strategy {strat.get('name')}: {shown}"))
    parts.append(ws)

    workers = Table(title="workers (heartbeats)", show_edge=False)
    for c in ("node", "queue", "host/pid", "last heartbeat", "up since", ""):
        workers.add_column(c)
    for w in doc.get("workers") or []:
        note = "" if w["ours"] else f"another deployment ({w['account']}/{w['env']})"
        style = "green" if w["alive"] else "red"
        workers.add_row(
            w["node"],
            w["queue"],
            f"{w['host']}/{w['pid']}",
            Text(ago(w["last_beat_ms"], now), style=style),
            ago(w["started_ms"], now),
            note,
        )
    if not doc.get("workers"):
        workers.add_row(
            Text("no worker has a heartbeat on this account's queues", style="red"), "", "", "", "", ""
        )
    parts.append(workers)

    rec = doc.get("last_reconcile")
    if rec:
        drift = rec.get("drift") or []
        style = "green" if not drift else "red"
        parts.append(
            Text(
                f"last reconcile {ago(rec.get('at_ms'), now)} ({rec.get('by')}): {rec.get('orders_checked')} "
                f"orders checked, drift: {json.dumps(drift) if drift else 'none'}",
                style=style,
            )
        )
    else:
        parts.append(Text("last reconcile: none recorded", style="yellow"))
    hb = doc.get("heartbeat")
    parts.append(
        Text(
            f"dead-man's switch: {'armed ' + ago(hb.get('at_ms'), now) if hb else 'not armed (no heartbeat)'}"
        )
    )
    return Group(*parts)


@command("status")
def status_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="athena status",
        description="positions, stops, orders, PnL, halt, workers, "
        "WebSockets, last reconcile (read from Redis)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes with --watch")
    a = p.parse_args(argv)
    settings = _settings()
    ready = preflight(settings)
    if a.json:
        print(json.dumps(collect_status(settings, ready.redis), indent=2, default=str))
        return EXIT_OK
    from rich.console import Console

    console = Console()
    if not a.watch:
        console.print(render(collect_status(settings, ready.redis)))
        return EXIT_OK
    from rich.live import Live

    try:
        with Live(render(collect_status(settings, ready.redis)), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(a.interval)
                live.update(render(collect_status(settings, ready.redis)), refresh=True)
    except KeyboardInterrupt:
        return EXIT_OK
