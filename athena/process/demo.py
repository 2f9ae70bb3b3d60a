"""`athena demo`: the whole stack on embedded defaults, live and visible.

Starts Redis (REDIS_URL if one answers and its DB is free, else a private one), the simulator, the
orders worker, the stream worker running ScalperV1, celery beat and (if installed) Flower, as real
child processes logging under `var/runs/<timestamp>/logs/`. A director drives the simulator so a
short run shows the whole mission: entries and fills, exchange stops, a take profit and a stop-loss
hit (the price is pushed through them), time stops (short time_stop_s), position sync and reconcile
by beat, and a WebSocket drop the stream worker recovers from. At the end (or Ctrl-C): flatten, a
final reconcile, stop every child, print a summary, write a report under `var/reports/<timestamp>/`.

`--paper` (docs/PAPER.md): the simulator is a paper venue fed by a public OKX feed (OKX's by default,
`--upstream-rest` / `--upstream-ws` for another); nothing moves that market, so the director only
drops the stack's WebSockets, and exits come as the market brings them.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from athena.domain.money import ZERO
from athena.process.launch import Stack, StackConfig, StackError, stop_on_signals

REFRESH_S = 0.5


# -- Celery task events: which tasks ran, how long they waited and took ---------------------------
@dataclass
class TaskRec:
    name: str = ""
    sent: float | None = None
    received: float | None = None
    started: float | None = None
    done: float | None = None
    runtime: float | None = None
    state: str = ""


class TaskEvents:
    """Listens to the workers' task events (worker_send_task_events) like Flower does."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.tasks: dict[str, TaskRec] = {}
        self.lock = threading.Lock()
        self._recv: Any = None
        self._thread = threading.Thread(target=self._run, name="demo-events", daemon=True)

    def start(self) -> TaskEvents:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._recv is not None:
            self._recv.should_stop = True
        self._thread.join(5)

    def _run(self) -> None:
        while self._recv is None or not self._recv.should_stop:
            try:
                with self.app.connection() as conn:
                    self._recv = self.app.events.Receiver(conn, handlers={"*": self.on_event})
                    self._recv.capture(limit=None, timeout=None, wakeup=False)
            except Exception:  # broker restart: reconnect
                time.sleep(0.5)

    def on_event(self, ev: dict[str, Any]) -> None:
        kind = str(ev.get("type", ""))
        uuid = ev.get("uuid")
        if not kind.startswith("task-") or not uuid:
            return
        with self.lock:
            rec = self.tasks.setdefault(uuid, TaskRec())
            if ev.get("name"):
                rec.name = str(ev["name"])
            ts = float(ev.get("timestamp") or time.time())
            step = kind.removeprefix("task-")
            if step == "sent":
                rec.sent = ts
            elif step == "received":
                rec.received = ts
            elif step == "started":
                rec.started = ts
            elif step in ("succeeded", "failed", "retried", "rejected", "revoked"):
                rec.done = ts
                rec.runtime = ev.get("runtime")
                rec.state = step

    def snapshot(self) -> dict[str, TaskRec]:
        with self.lock:
            return {k: TaskRec(**vars(v)) for k, v in self.tasks.items()}


def latency_table(tasks: dict[str, TaskRec]) -> dict[str, dict[str, Any]]:
    """Per task name: runs, failures, median/max wait in the queue and run time (ms)."""
    by: dict[str, dict[str, list[float]]] = {}
    out: dict[str, dict[str, Any]] = {}
    for rec in tasks.values():
        if not rec.name or rec.done is None:
            continue
        b = by.setdefault(rec.name, {"wait": [], "run": []})
        o = out.setdefault(rec.name, {"runs": 0, "failed": 0})
        o["runs"] += 1
        o["failed"] += rec.state == "failed"
        t0 = rec.sent or rec.received
        if t0 is not None and rec.started is not None:
            b["wait"].append(max(0.0, rec.started - t0) * 1000)
        if rec.runtime is not None:
            b["run"].append(float(rec.runtime) * 1000)
    for name, b in by.items():
        for k in ("wait", "run"):
            xs = sorted(b[k])
            out[name][f"{k}_p50_ms"] = round(xs[len(xs) // 2], 1) if xs else None
            out[name][f"{k}_max_ms"] = round(xs[-1], 1) if xs else None
    return dict(sorted(out.items()))


# -- what happened ---------------------------------------------------------------------------------
@dataclass
class Milestones:
    """Each mission step, with the demo second it was first seen (None = not yet)."""

    entry: float | None = None
    fill: float | None = None
    stop_placed: float | None = None
    take_profit: float | None = None
    stop_loss: float | None = None
    time_stop: float | None = None
    sync_by_beat: float | None = None
    reconcile_by_beat: float | None = None
    ws_drop: float | None = None
    ws_recovered: float | None = None

    def items(self) -> list[tuple[str, float | None]]:
        return list(vars(self).items())


@dataclass
class DemoState:
    t0: float = field(default_factory=time.monotonic)
    status: dict[str, Any] = field(default_factory=dict)
    sim: dict[str, Any] = field(default_factory=dict)
    ticks_per_s: float = 0.0
    stops_seen: set[str] = field(default_factory=set)
    equity: list[tuple[int, Decimal]] = field(default_factory=list)
    prices: dict[str, list[tuple[int, Decimal]]] = field(default_factory=dict)  # instId -> sim marks per poll
    fills: list[Any] = field(default_factory=list)
    orders: dict[str, Any] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=lambda: {"take_profit": 0, "stop_loss": 0, "time_stop": 0, "flatten": 0})
    ms: Milestones = field(default_factory=Milestones)
    notes: list[str] = field(default_factory=list)
    reconciles: list[dict[str, Any]] = field(default_factory=list)
    syncs: list[dict[str, Any]] = field(default_factory=list)
    flatten_at_ms: int | None = None
    ws_before: dict[str, int] = field(default_factory=dict)
    forced: dict[str, str] = field(default_factory=dict)
    ended_s: float | None = None  # when trading stopped (end of the run or Ctrl-C)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def note(self, text: str) -> None:
        self.notes.append(f"{self.now():6.1f}s  {text}")


def _stop_of(state: DemoState, inst_id: str) -> dict[str, Any] | None:
    for a in state.sim.get("algos", []):
        if a.get("instId") == inst_id and a.get("slTriggerPx"):
            return dict(a)
    return None


class Director:
    """Drives the simulator so every mission step happens in a short run (sim mode only)."""

    def __init__(self, stack: Stack, state: DemoState, duration: float, instruments: dict[str, Any],
                 paper: bool = False) -> None:
        self.stack, self.st, self.duration = stack, state, duration
        self.paper = paper  # a paper venue's market is the upstream's: no price pushes
        self.inst = instruments
        self.cross_after_s = 1.5  # a resting entry older than this is filled by moving the price through it

    def _push(self, inst_id: str, px: Decimal, why: str) -> None:
        self.stack.sim_admin("price", {"instId": inst_id, "px": str(px)})
        self.st.note(f"director: {inst_id} price -> {px} ({why})")

    def step(self) -> None:
        st, t = self.st, self.st.now()
        pending = st.sim.get("pending", [])
        positions = [p for p in st.sim.get("positions", []) if Decimal(p.get("pos") or "0") != 0]
        if self.paper:
            pending, positions = [], []  # nothing to push: steps 1-3 never fire
        # 1. until the first fill, fill resting entries quickly (a calm book can keep them waiting)
        if st.ms.fill is None:
            for o in pending:
                age = (time.time() * 1000 - int(o.get("cTime") or 0)) / 1000
                if o.get("reduceOnly") != "true" and age >= self.cross_after_s and o.get("px"):
                    tick = self.inst[o["instId"]].tickSz
                    px = Decimal(o["px"]) + (-3 * tick if o["side"] == "buy" else 3 * tick)
                    self._push(o["instId"], px, "trade through the resting entry")
                    return
        # 2. a stop-loss hit: push the price through a live stop
        if st.ms.stop_loss is None and "stop_loss" not in st.forced and t >= 0.12 * self.duration:
            for p in positions:
                stop = _stop_of(st, p["instId"])
                if stop is not None:
                    tick = self.inst[p["instId"]].tickSz
                    trig = Decimal(stop["slTriggerPx"])
                    px = trig - 3 * tick if stop["side"] == "sell" else trig + 3 * tick
                    st.forced["stop_loss"] = p["instId"]
                    self._push(p["instId"], px, f"through stop {stop.get('algoClOrdId')} at {trig}")
                    return
        # 3. a take profit: push the price through a working reduce-only limit order
        if st.ms.take_profit is None and "take_profit" not in st.forced and t >= 0.25 * self.duration:
            for o in pending:
                if o.get("reduceOnly") == "true" and o.get("ordType") == "limit" and o.get("px"):
                    tick = self.inst[o["instId"]].tickSz
                    px = Decimal(o["px"]) + (3 * tick if o["side"] == "sell" else -3 * tick)
                    st.forced["take_profit"] = o["instId"]
                    self._push(o["instId"], px, f"through take-profit {o.get('clOrdId')} at {o['px']}")
                    return
        # 4. one WebSocket drop, recovered by the stream worker
        if st.ms.ws_drop is None and t >= 0.45 * self.duration:
            ws = (st.status.get("stream") or {}).get("ws") or {}
            st.ws_before = {k: int(v.get("reconnects", 0)) for k, v in ws.items()}
            st.ws_before["_ticks"] = int((st.status.get("stream") or {}).get("ticks", 0))
            dropped = self.stack.sim_admin("ws/drop", {})
            st.ms.ws_drop = t
            st.note(f"director: WebSocket drop injected ({dropped.get('dropped')} connections closed)")
        # after a forced event that did not take (e.g. the stop was amended meanwhile), try again later
        for k in ("stop_loss", "take_profit"):
            if k in st.forced and getattr(st.ms, k) is None and t >= 0.85 * self.duration:
                st.forced.pop(k, None)


# -- the demo --------------------------------------------------------------------------------------
def _strategies(symbols: list[str], duration: float) -> list[dict[str, Any]]:
    time_stop = max(5, min(15, int(duration / 8)))
    out = []
    for sym in symbols:
        base = sym.split("-")[0].lower()
        out.append({
            "name": ("scalp" + base)[:12], "cls": "ScalperV1", "instIds": [sym],
            "allocation": str(min(Decimal("0.4"), (Decimal("0.9") / len(symbols)).quantize(Decimal("0.01")))),
            # a livelier ScalperV1 than production (lower thresholds, short time stop) so a 2-minute run
            # shows every kind of exit
            "params": {"time_stop_s": str(time_stop), "cooldown_s": "3", "entry_timeout_s": "5",
                       # 6 bps: the fee gate wants the TP above the sim's 2 x 0.02% maker round trip
                       "take_profit_bps": "6", "stop_loss_bps": "6", "imbalance_threshold": "0.15",
                       "flow_threshold": "0.1"},
            "risk": {"leverage": "3", "max_order_notional": "5000", "max_orders_per_minute": 30, "max_position": "50"},
        })
    return out


def _schedule(duration: float) -> dict[str, Any]:
    recon = max(5, min(30, int(duration / 5)))
    return {"sync_positions": 3, "reconcile": recon, "protect_positions": 3, "cancel_ghost_orders": 6,
            "snapshot_equity": 5, "check_drawdown": 5, "heartbeat": 10}


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        var = Path(args.var).resolve()
        self.run_dir = var / "runs" / self.stamp
        self.reports = var / "reports"
        self.report_dir: Path | None = None  # var/reports/<UTC time>-demo, made when the report is written
        port, password = _dashboard_config(args.dashboard_port)
        self.dashboard_password_configured = bool(password)
        cfg = StackConfig(
            var_dir=self.run_dir, mode="paper" if args.paper else "sim", symbols=self.symbols, redis=args.redis,
            sim_seed=args.seed, upstream_rest=args.upstream_rest, upstream_ws=args.upstream_ws,
            sim_tick_ms=100, flower=not args.no_flower, env_name="development", metrics=True,
            dashboard=not args.no_dashboard, dashboard_port=port,
            env={"ATHENA_DASHBOARD_PASSWORD": password} if password else {},
            config={"strategies": _strategies(self.symbols, args.duration), "schedule": _schedule(args.duration),
                    "total_capital": "10000"},
        )
        self.stack = Stack(cfg)
        self.st = DemoState()
        self.events: TaskEvents | None = None
        self.engine: Any = None  # the account's state in Redis (athena.wiring.account)
        self.instruments: dict[str, Any] = {}
        self.journal: Any = None
        self.settings: Any = None
        self._last_ticks: tuple[float, int] | None = None
        self._done_tasks: set[str] = set()

    # -- polling -------------------------------------------------------------------------------
    def poll(self) -> None:
        from athena.process.status import collect_status

        st = self.st
        try:
            st.status = collect_status(self.settings)
        except Exception as exc:  # a restart of Redis etc.: keep the last view
            st.note(f"status unavailable: {type(exc).__name__}")
        try:
            st.sim = self.stack.sim_admin("state", timeout=3)
        except Exception:
            pass
        stream = st.status.get("stream") or {}
        now = time.monotonic()
        ticks = int(stream.get("ticks", 0))
        if self._last_ticks is not None and now - self._last_ticks[0] >= 1.0:
            st.ticks_per_s = (ticks - self._last_ticks[1]) / (now - self._last_ticks[0])
            self._last_ticks = (now, ticks)
        elif self._last_ticks is None:
            self._last_ticks = (now, ticks)
        pnl = st.status.get("pnl") or {}
        now_ms = int(time.time() * 1000)
        if pnl.get("equity"):
            st.equity.append((now_ms, Decimal(pnl["equity"])))
        for inst_id, m in (st.sim.get("markets") or {}).items():
            if inst_id in self.symbols and m.get("mark"):
                st.prices.setdefault(inst_id, []).append((now_ms, Decimal(m["mark"])))
        for s in st.status.get("stops", []):
            if s["algoClOrdId"] not in st.stops_seen:
                st.stops_seen.add(s["algoClOrdId"])
                if st.ms.stop_placed is None:
                    st.ms.stop_placed = st.now()
                    st.note(f"exchange stop placed: {s['algoClOrdId']} {s['side']} {s['sz']} @ {s['slTriggerPx']}")
        self._poll_journal()
        self._poll_tasks()
        self._check_ws()

    def _poll_journal(self) -> None:
        st = self.st
        try:
            orders = self.journal.orders()
            fills = self.journal.fills(since_ts=self.started_ms)
        except Exception:
            return
        st.orders = {o.clOrdId: o for o in orders}
        new = fills[len(st.fills):] if len(fills) >= len(st.fills) else fills
        st.fills = fills
        for f in new:
            self._classify(f)
        if st.ms.entry is None and any(not o.req.reduceOnly and o.clOrdId.startswith("scalp") for o in orders):
            st.ms.entry = st.now()
            st.note("first entry order placed (post-only at the touch, stop attached)")

    def _classify(self, f: Any) -> None:
        st = self.st
        if st.ms.fill is None:
            st.ms.fill = st.now()
            st.note(f"first fill: {f.clOrdId} {f.side.value} {f.fillSz} @ {f.fillPx}")
        if not f.reduceOnly and not f.clOrdId.startswith(("x", "sl")):
            return
        order = st.orders.get(f.clOrdId)
        kind: str | None = None
        if st.flatten_at_ms is not None and f.ts >= st.flatten_at_ms:
            kind = "flatten"
        elif order is not None and order.clOrdId.startswith("scalp") and order.req.reduceOnly:
            kind = "take_profit" if str(order.req.ordType) == "limit" else "time_stop"
        elif f.clOrdId.startswith(("x", "sl")) or (order is not None and not order.clOrdId.startswith("scalp")):
            kind = "stop_loss"  # placed by the exchange when a stop triggered
        if kind is None or f.accFillSz != (order.accFillSz if order is not None else f.accFillSz):
            return  # count each closing order once, on its last fill
        st.exits[kind] += 1
        label = {"take_profit": "take profit", "stop_loss": "stop-loss hit", "time_stop": "time stop / close",
                 "flatten": "flatten close"}[kind]
        st.note(f"{label}: {f.clOrdId} {f.side.value} {f.fillSz} @ {f.fillPx}")
        if kind in ("take_profit", "stop_loss", "time_stop") and getattr(st.ms, kind) is None:
            setattr(st.ms, kind, st.now())

    def _poll_tasks(self) -> None:
        if self.events is None:
            return
        st = self.st
        for uuid, rec in self.events.snapshot().items():
            if rec.state != "succeeded" or uuid in self._done_tasks or rec.name not in ("athena.reconcile", "athena.sync_positions"):
                continue
            self._done_tasks.add(uuid)
            try:
                result = self.stack.celery().AsyncResult(uuid).get(timeout=2)
            except Exception:
                continue
            if not isinstance(result, dict):
                continue
            if rec.name == "athena.reconcile":
                st.reconciles.append(result)
                if st.ms.reconcile_by_beat is None:
                    st.ms.reconcile_by_beat = st.now()
                    st.note(f"reconcile by beat: {result.get('orders_checked')} orders checked, drift {result.get('drift')}")
            else:
                st.syncs.append(result)
                if st.ms.sync_by_beat is None:
                    st.ms.sync_by_beat = st.now()
                    st.note(f"position sync by beat: {len(result.get('positions', []))} open, drift {result.get('drift')}")

    def _check_ws(self) -> None:
        st = self.st
        if st.ms.ws_drop is None or st.ms.ws_recovered is not None:
            return
        stream = st.status.get("stream") or {}
        ws = stream.get("ws") or {}
        reconnected = all(int(v.get("reconnects", 0)) > st.ws_before.get(k, 0) for k, v in ws.items())
        fresh = stream.get("at_ms", 0) >= time.time() * 1000 - 3000
        if reconnected and fresh and stream.get("private") == "ready" and int(stream.get("ticks", 0)) > st.ws_before.get("_ticks", 0):
            st.ms.ws_recovered = st.now()
            st.note(f"WebSocket recovered in {st.ms.ws_recovered - st.ms.ws_drop:.1f} s "
                    f"(reconnected, logged in, resubscribed, ticks flowing)")

    # -- run -----------------------------------------------------------------------------------
    def run(self) -> int:
        from athena.state.journal import Journal
        from athena.wiring import account, load_instruments

        a = self.args
        out = sys.stdout
        print(f"athena demo: starting the stack (logs in {self.run_dir / 'logs'}) ...", file=out, flush=True)
        stop_on_signals(self.stack)
        summary: dict[str, Any] = {}
        self.started_ms = int(time.time() * 1000)  # strategies may trade before wait_ready returns
        try:
            self.stack.start()
            self.stack.wait_ready(timeout=120)
            self.settings = self.stack.settings()
            self.engine = account(self.settings)
            self.instruments = load_instruments(self.engine)
            self.journal = Journal(self.settings.db_url)
            self.events = TaskEvents(self.stack.celery()).start()
            print(f"athena demo: ready. redis {self.stack.redis_url.split('@')[-1]}, sim {self.stack.sim_url}"
                  + (f", flower http://127.0.0.1:{self.stack.flower_port}" if self.stack.flower_port else "")
                  + f"; running {a.duration:.0f} s (Ctrl-C ends early)", file=out, flush=True)
            if self.stack.dashboard_port:
                print(f"athena demo: dashboard {self.stack.dashboard_url} ({self._dashboard_login()})", file=out, flush=True)
            print(f"athena demo: metrics (Prometheus) stream worker {self.stack.metrics_url('stream')}, "
                  f"orders worker {self.stack.metrics_url('orders')}", file=out, flush=True)
            self.st = DemoState()
            if a.paper:
                print(f"athena demo: paper trading, the market is {self.stack.env.get('ATHENA_PAPER_UPSTREAM_WS')}",
                      file=out, flush=True)
            director = Director(self.stack, self.st, a.duration, self.instruments, paper=a.paper)
            try:
                self._loop(director)
            except KeyboardInterrupt:
                self.st.note("interrupted: winding down")
            self.st.ended_s = self.st.now()
            summary = self._wind_down()
        except StackError as exc:
            print(f"athena demo: the stack failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("athena demo: interrupted during start-up", file=sys.stderr)
            return 130
        finally:
            if self.events is not None:
                self.events.stop()
            self.stack.stop()
            if self.journal is not None:
                self.journal.close()
            if self.engine is not None:
                with contextlib.suppress(Exception):
                    self.engine.close()
        left = self.stack.survivors()
        summary["survivors"] = left
        self._write_report(summary)
        print(render_summary(summary), file=out, flush=True)
        return 0 if not left and summary.get("ok") else 1

    def _dashboard_login(self) -> str:
        """Where the dashboard's password is: never printed; a generated one goes to a file only its owner reads."""
        if self.dashboard_password_configured:
            return "password: the configured dashboard.password / ATHENA_DASHBOARD_PASSWORD"
        path = self.run_dir / "dashboard-password"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.stack.dashboard_password + "\n")
        return f"password in {path}"

    def _loop(self, director: Director) -> None:
        a = self.args
        live = _live_view(self) if sys.stdout.isatty() and not a.plain else None
        next_line = 0.0
        try:
            if live is not None:
                live.start()
            while self.st.now() < a.duration:
                self.stack.check_alive()
                self.poll()
                director.step()
                if live is not None:
                    live.update(render_view(self))
                elif self.st.now() >= next_line:
                    next_line = self.st.now() + 5
                    print(plain_line(self), flush=True)
                time.sleep(REFRESH_S)
        finally:
            if live is not None:
                live.stop()

    def _wind_down(self) -> dict[str, Any]:
        st = self.st
        print("athena demo: flattening (halt entries, cancel orders and stops, close positions) ...", flush=True)
        st.flatten_at_ms = int(time.time() * 1000)
        flat: dict[str, Any] = {}
        try:
            flat = self.stack.send_task("athena.flatten", {"inst_id": None, "reason": "demo end"}, timeout=90)
        except Exception as exc:
            st.note(f"flatten failed: {exc}")

        def is_flat() -> bool:
            with contextlib.suppress(Exception):
                st.sim = self.stack.sim_admin("state", timeout=3)
            pos = [p for p in st.sim.get("positions", []) if Decimal(p.get("pos") or "0") != 0]
            return not pos and not st.sim.get("pending") and not st.sim.get("algos")

        from athena.procs import wait_until
        from athena.wiring import ledger_view

        wait_until(is_flat, 30, interval=0.5)

        def ledger_flat() -> bool:  # the close fills reached Athena's shadow ledger (WS push or sync)
            try:
                ledger = ledger_view(self.engine)
                return all(ledger.expected(sym).sz == 0 for sym in self.symbols)
            except Exception:
                return False

        if not wait_until(ledger_flat, 20, interval=0.5):
            st.note("Athena's ledger still not flat 20 s after the flatten")
        final: dict[str, Any] = {}
        try:  # settle our records against the exchange once more after the flatten
            res = self.stack.celery().send_task("athena.reconcile", kwargs={})  # routed to the account's queue
            self._done_tasks.add(res.id)  # not one of beat's runs
            final = res.get(timeout=90)
            st.note(f"final reconcile: {final.get('orders_checked')} orders checked, drift {final.get('drift')}")
        except Exception as exc:
            st.note(f"final reconcile failed: {exc}")
        time.sleep(1.0)  # let the last fills reach the journal
        self.poll()
        return self._summary(flat, final, is_flat())

    def _summary(self, flat: dict[str, Any], final: dict[str, Any], flat_now: bool) -> dict[str, Any]:
        st = self.st
        entries = [o for o in st.orders.values() if o.clOrdId.startswith("scalp") and not o.req.reduceOnly]
        lat = latency_table(self.events.snapshot()) if self.events else {}
        beat_drift = [d for r in st.reconciles for d in r.get("drift", [])]
        eq = st.equity[-1][1] if st.equity else None
        pnl = st.status.get("pnl") or {}
        ms = {k: (round(v, 1) if v is not None else None) for k, v in st.ms.items()}
        ledger = self._ledger()
        try:
            corrections = [e.data for e in self.journal.events(kind="ledger_drift", since_ts=self.started_ms)]
        except Exception:
            corrections = []
        stats = {x.get("name"): x.get("stats") or {} for x in (st.status.get("stream") or {}).get("strategies", [])}
        doc = {
            "fee_gate": {"skipped": sum(int(v.get("fee_gate", 0)) for v in stats.values()),
                         "entries": sum(int(v.get("entries", 0)) for v in stats.values()),
                         "per_strategy": {k: int(v.get("fee_gate", 0)) for k, v in stats.items()}},
            "fills_ledger": {"round_trips": len(ledger.trips), "gross": str(ledger.realized), "fees": str(ledger.fees),
                             "net": str(ledger.realized + ledger.fees)},
            "ledger_corrections": corrections,
            "duration_s": self.args.duration, "ran_s": round(min(st.ended_s or 0.0, self.args.duration), 1),
            "interrupted": (st.ended_s or 0.0) < self.args.duration, "seed": self.args.seed, "symbols": self.symbols,
            "mode": "paper" if self.args.paper else "sim",
            "account": self.stack.account, "run_dir": str(self.run_dir),
            "orders": len(st.orders), "entries": len(entries),
            "fills": len(st.fills), "stops_placed": len(st.stops_seen),
            "exits": dict(st.exits),
            "beat": {"sync_positions": len(st.syncs), "reconcile": len(st.reconciles), "reconcile_drift": beat_drift},
            "final_reconcile": {"drift": final.get("drift"), "ok": final.get("ok"), "orders_checked": final.get("orders_checked")},
            "capital": final.get("capital"),
            "flatten": {"ok": flat.get("ok"), "positions_closed": flat.get("positions_closed"), "flat": flat_now},
            "ws": {"drop_at_s": ms["ws_drop"], "recovered_at_s": ms["ws_recovered"]},
            "pnl": {"equity": pnl.get("equity"), "realised": pnl.get("realised"), "fees": pnl.get("fees"),
                    "unrealised": pnl.get("unrealised"), "drawdown": pnl.get("drawdown")},
            "equity_last": str(eq) if eq is not None else None,
            "halted": st.status.get("halted"),
            "milestones": ms,
            "task_latency": lat,
            "notes": st.notes,
        }
        # beat-time drifts are shown, not fatal: PositionManager.reconcile can race a fill still in
        # flight (see the summary's ledger corrections); what must hold is the state after the flatten
        doc["ok"] = bool(final.get("drift") == [] and flat_now and capital_ok(doc["capital"]))
        return doc

    def _ledger(self) -> Any:
        """Round trips and PnL rebuilt from the journal's fills alone (a cross-check of capital)."""
        from athena.backtest.ledger import Ledger

        insts = self.instruments
        # a triggered stop's fill carries no strategy: one strategy per instrument here, so the owner is known
        owner = {sym: s["name"] for s in _strategies(self.symbols, self.args.duration) for sym in s["instIds"]}
        ledger = Ledger(insts, Decimal(10_000))
        for f in sorted(self.st.fills, key=lambda f: (f.ts, f.clOrdId, f.accFillSz)):
            if f.instId in insts:
                ledger.on_fill(f, f.strategy or owner.get(f.instId, "?"))
        return ledger

    # -- report --------------------------------------------------------------------------------
    def _write_report(self, doc: dict[str, Any]) -> None:
        from athena.backtest.report import num
        from athena.report.folders import new_run_folder
        from athena.report.render import write_report

        self.report_dir = new_run_folder(self.reports, "paper" if doc.get("mode") == "paper" else "demo")
        doc["report_dir"] = str(self.report_dir)
        ledger = self._ledger()
        doc["round_trips"] = len(ledger.trips)
        fbuf = io.StringIO()
        fw = csv.writer(fbuf, lineterminator="\n")
        fw.writerow(["ts", "strategy", "clOrdId", "instId", "side", "sz", "px", "fee", "reduceOnly"])
        for f in self.st.fills:
            fw.writerow([f.ts, f.strategy, f.clOrdId, f.instId, f.side.value, num(f.fillSz), num(f.fillPx), num(f.fee),
                         "true" if f.reduceOnly else "false"])
        write_report(demo_report_data(doc, ledger, self.st, self.started_ms, self.args.duration), self.report_dir,
                     {"fills.csv": fbuf.getvalue()})


def demo_report_data(doc: dict[str, Any], ledger: Any, st: DemoState, started_ms: int, duration: float) -> Any:
    """The demo run in the report every run kind shares: its round trips (rebuilt from the journal's
    fills), equity and marks as polled, and what only the demo has (mission, beat, latencies, events)."""
    from athena.report.model import FLATTEN, ReportData, Section, Trade, exit_reason

    def reason(cl: str, close_ts: int) -> str:
        if st.flatten_at_ms is not None and close_ts >= st.flatten_at_ms:
            return FLATTEN
        order = st.orders.get(cl)
        return exit_reason(cl, order.req if order is not None else None)

    trades = [Trade(strategy=t.strategy, instId=t.instId, side=t.side, open_ts=t.open_ts, close_ts=t.close_ts,
                    qty=t.qty, entry_px=t.entry_px, exit_px=t.exit_px, gross=t.gross, fees=t.fees, exit_clOrdId=t.exit,
                    exit_reason=reason(t.exit, t.close_ts)) for t in ledger.trips]
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
        ["WebSocket drop / recovered at (s)", f"{(doc.get('ws') or {}).get('drop_at_s')} / "
                                              f"{(doc.get('ws') or {}).get('recovered_at_s')}"],
    ]
    gate = doc.get("fee_gate")
    if gate:  # entries ScalperV1 skipped because the take profit would not cover the round trip's fees
        checks.append(["fee gate: entries skipped / sent", f"{gate.get('skipped')} / {gate.get('entries')}"])
    sections = [
        Section("Mission", ["step", "seen at (s)"], [[k.replace("_", " "), "-" if v is None else v]
                                                      for k, v in (doc.get("milestones") or {}).items()]),
        Section("Task latencies (ms)", ["task", *cols], [[k, *(v.get(c) for c in cols)] for k, v in lat.items()]),
        Section("Checks", ["check", "result"], checks),
        Section("Events", text="\n".join(doc.get("notes") or [])),
    ]
    return ReportData(
        kind="paper" if doc.get("mode") == "paper" else "demo",
        title=f"ScalperV1 {'paper' if doc.get('mode') == 'paper' else 'demo'} on {', '.join(doc.get('symbols') or [])}",
        meta={k: doc.get(k) for k in ("seed", "symbols", "account", "duration_s", "ran_s", "interrupted", "run_dir")},
        initial_equity=initial, final_equity=curve[-1][1], curve=curve, trades=trades, start_ts=started_ms, end_ts=end,
        gross_pnl=ledger.realized, fees=ledger.fees, funding=ledger.funding, funding_by_strategy=dict(ledger.funding_by),
        funding_events=list(ledger.funding_events),
        prices=st.prices, extra_figures={"orders": doc.get("orders"), "entries": doc.get("entries"),
                                         "fills": doc.get("fills"), "exchange stops placed": doc.get("stops_placed")},
        sections=sections, json_extra=doc,
    )


# -- rendering -------------------------------------------------------------------------------------
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
        f"[b]Athena demo[/b] {st.now():5.0f}/{demo.args.duration:.0f} s", f"ticks/s {st.ticks_per_s:6.1f}",
        f"WS private {stream.get('private')}", f"equity {pnl.get('equity', '-')[:12]}",
        f"realised {pnl.get('realised', '-')[:10]}", f"fees {pnl.get('fees', '-')[:10]}",
        "[red]HALTED[/red]" if s.get("halted") else "[green]trading[/green]",
        f"breaker {((s.get('breakers') or {}).get('sync_positions'))}",
    )
    book = Table(title="book", expand=True)
    for c in ("instId", "bid", "ask", "last", "mark"):
        book.add_column(c)
    for inst_id, m in sorted((st.sim.get("markets") or {}).items()):
        if inst_id in demo.symbols:
            book.add_row(inst_id, m.get("bid") or "-", m.get("ask") or "-", m.get("last") or "-", m.get("mark") or "-")
    pos = Table(title="positions (exchange) and their stops", expand=True)
    for c in ("instId", "pos", "avgPx", "stop", "stop sz"):
        pos.add_column(c)
    stops = s.get("stops") or []
    for p in s.get("positions") or []:
        mine = [x for x in stops if x["instId"] == p["instId"]]
        pos.add_row(p["instId"], p["pos"], p["avgPx"] or "-", ", ".join(x["slTriggerPx"] for x in mine) or "[red]none[/red]",
                    ", ".join(x["sz"] or "all" for x in mine))
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
    mission.add_row("exits tp/sl/time", f"{st.exits['take_profit']}/{st.exits['stop_loss']}/{st.exits['time_stop']}")
    lat = Table(title="task latencies (ms)", expand=True)
    for c in ("task", "runs", "wait p50", "run p50", "run max"):
        lat.add_column(c)
    for name, r in latency_table(demo.events.snapshot() if demo.events else {}).items():
        lat.add_row(name.removeprefix("athena."), str(r["runs"]), str(r["wait_p50_ms"]), str(r["run_p50_ms"]), str(r["run_max_ms"]))
    grid = Table.grid(expand=True)
    grid.add_column(ratio=3)
    grid.add_column(ratio=2)
    grid.add_row(Group(book, pos, orders, fills), Group(mission, lat))
    notes = "\n".join(st.notes[-8:]) or "-"
    return Panel(Group(head, grid, Panel(notes, title="events")), title=f"account {demo.stack.account}")


def _live_view(demo: Demo) -> Any:
    from rich.console import Console
    from rich.live import Live

    return Live(console=Console(), refresh_per_second=4, screen=False, transient=False,
                get_renderable=lambda: render_view(demo) if demo.st.status else "starting ...")


def plain_line(demo: Demo) -> str:
    st = demo.st
    s = st.status
    pnl = s.get("pnl") or {}
    pos = " ".join(f"{p['instId']}:{p['pos']}" for p in s.get("positions") or []) or "flat"
    line = (f"[{st.now():5.1f}s] ticks/s {st.ticks_per_s:.0f} | orders {len(st.orders)} working "
            f"{len(s.get('working_orders') or [])} | fills {len(st.fills)} | stops live {len(s.get('stops') or [])} "
            f"| pos {pos} | equity {pnl.get('equity', '-')[:10]} | tp/sl/time {st.exits['take_profit']}/"
            f"{st.exits['stop_loss']}/{st.exits['time_stop']} | halted {s.get('halted')}")
    for n in st.notes[-3:]:
        if n not in getattr(demo, "_printed", set()):
            demo.__dict__.setdefault("_printed", set()).add(n)
            line += f"\n    {n}"
    return line


def capital_ok(capital: dict[str, Any] | None) -> bool:
    return capital is not None and bool(capital) and not capital.get("clamps") and not capital.get("reserved_mismatch")


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


def render_summary(doc: dict[str, Any]) -> str:
    ex = doc.get("exits", {})
    beat = doc.get("beat", {})
    fin = doc.get("final_reconcile", {})
    ws = doc.get("ws", {})
    pnl = doc.get("pnl", {})
    fl = doc.get("fills_ledger", {})
    rec_ok = "final: " + ("no drift" if fin.get("drift") == [] else f"DRIFT {fin.get('drift')}")
    rec_ok += ", beat's: " + ("no drift" if not beat.get("reconcile_drift") else f"DRIFT {beat.get('reconcile_drift')}")
    wsl = (f"dropped at {ws['drop_at_s']} s, recovered at {ws['recovered_at_s']} s" if ws.get("recovered_at_s") is not None
           else f"dropped at {ws.get('drop_at_s')} s, NOT recovered" if ws.get("drop_at_s") is not None else "not injected")
    lines = [
        "=" * 72,
        f"Athena demo summary  ({doc.get('mode', 'sim')}, {doc.get('ran_s')} of {doc.get('duration_s')} s"
        f"{', interrupted' if doc.get('interrupted') else ''}, seed {doc.get('seed')}, account {doc.get('account')})",
        f"  orders: {doc.get('orders')} (entries {doc.get('entries')})   fills: {doc.get('fills')}   "
        f"stops placed: {doc.get('stops_placed')}   round trips: {doc.get('round_trips')}",
        f"  exits: take profit {ex.get('take_profit')}, stop-loss hit {ex.get('stop_loss')}, "
        f"time stop {ex.get('time_stop')}, flatten {ex.get('flatten')}",
        f"  beat: position sync {beat.get('sync_positions')} runs, reconcile {beat.get('reconcile')} runs; "
        f"reconcile: {rec_ok}",
        f"  WebSocket drop: {wsl}",
        f"  flatten: flat={doc.get('flatten', {}).get('flat')}   halted={doc.get('halted')}",
        f"  PnL (capital): realised {pnl.get('realised')}  fees {pnl.get('fees')}  equity {pnl.get('equity')}",
        f"  PnL (from fills): gross {fl.get('gross')}  fees {fl.get('fees')}  net {fl.get('net')}",
        f"  fee gate: {(doc.get('fee_gate') or {}).get('skipped')} entries skipped (take profit within the round "
        f"trip's fees), {(doc.get('fee_gate') or {}).get('entries')} sent",
        f"  ledger corrections by sync/reconcile during the run: {len(doc.get('ledger_corrections', []))}",
        f"  capital: {capital_line(doc.get('capital'))}",
        "  mission: " + ", ".join(f"{k}={'yes' if v is not None else 'NO'}" for k, v in doc.get("milestones", {}).items()),
        f"  children left running: {len(doc.get('survivors', []))}",
        f"  report: {doc.get('report_dir')}",
        f"  logs:   {doc.get('run_dir')}/logs",
        "=" * 72,
    ]
    return "\n".join(lines)


def _dashboard_config(port: int | None) -> tuple[int, str]:
    """(port, password) for the demo's dashboard: the configured port (dashboard.port) when it is
    free, else 0 (any free one); the configured password, else "" (the stack makes one up)."""
    import socket

    from dotenv import dotenv_values

    from athena.config import ROOT, ConfigError, load_settings

    password = ""
    # .env read, not loaded: the demo's own environment (which its children inherit) stays as it was
    environ = {**{k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None}, **os.environ}
    try:
        settings = load_settings(environ=environ, dotenv=False)
        password = settings.dashboard.password.get_secret_value()
        wanted = settings.dashboard.port if port is None else port
    except ConfigError:
        wanted = 8780 if port is None else port
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", wanted))
        except OSError:
            return 0, password
    return wanted, password



def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="athena demo", description="run the whole stack against the simulator, live")
    p.add_argument("--duration", type=float, default=120.0, help="seconds of trading (default 120)")
    p.add_argument("--symbols", default="BTC-USDT-SWAP,ETH-USDT-SWAP")
    p.add_argument("--seed", type=int, default=7, help="simulator seed")
    p.add_argument("--var", default="var", help="where runs/ (logs, journal) and reports/ go")
    p.add_argument("--redis", default="auto", help="auto (REDIS_URL if free, else private) | private | a URL")
    p.add_argument("--no-flower", action="store_true", help="do not start Flower")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the web dashboard")
    p.add_argument("--dashboard-port", type=int, default=None,
                   help="the dashboard's port (default: dashboard.port, 8780; another if it is taken)")
    p.add_argument("--plain", action="store_true", help="plain periodic lines instead of the live view")
    p.add_argument("--paper", action="store_true",
                   help="paper trading: the simulator matches against a public OKX feed (docs/PAPER.md)")
    p.add_argument("--upstream-rest", default="", help="--paper: the feed's REST API (default https://www.okx.com)")
    p.add_argument("--upstream-ws", default="",
                   help="--paper: the feed's public WebSocket (default wss://ws.okx.com:8443/ws/v5/public)")
    a = p.parse_args(argv)
    if a.duration <= 0:
        p.error("--duration must be > 0")
    return Demo(a).run()


_ = (ZERO, field)
