"""`athena demo`'s run: starts the stack, polls what happened into DemoState while the director
drives the simulator and the view shows it, then winds down (flatten, final reconcile), prints the
summary and writes the report."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from athena.process.demo.director import Director
from athena.process.demo.report import capital_ok, fills_ledger, write_demo_report
from athena.process.demo.state import DemoState, TaskEvents, latency_table
from athena.process.demo.view import live_view, plain_line, render_summary, render_view
from athena.process.launch import Stack, StackConfig, StackError, stop_on_signals

REFRESH_S = 0.5


# -- the demo --------------------------------------------------------------------------------------
def _strategies(symbols: list[str], duration: float) -> list[dict[str, Any]]:
    time_stop = max(5, min(15, int(duration / 8)))
    out = []
    for sym in symbols:
        base = sym.split("-")[0].lower()
        out.append(
            {
                "name": ("scalp" + base)[:12],
                "cls": "ScalperV1",
                "instIds": [sym],
                "allocation": str(
                    min(Decimal("0.4"), (Decimal("0.9") / len(symbols)).quantize(Decimal("0.01")))
                ),
                # a livelier ScalperV1 than production (lower thresholds, short time stop) so a 2-minute run
                # shows every kind of exit
                "params": {
                    "time_stop_s": str(time_stop),
                    "cooldown_s": "3",
                    "entry_timeout_s": "5",
                    # 6 bps: the fee gate wants the TP above the sim's 2 x 0.02% maker round trip
                    "take_profit_bps": "6",
                    "stop_loss_bps": "6",
                    "imbalance_threshold": "0.15",
                    "flow_threshold": "0.1",
                },
                "risk": {
                    "leverage": "3",
                    "max_order_notional": "5000",
                    "max_orders_per_minute": 30,
                    "max_position": "50",
                },
            }
        )
    return out


def _schedule(duration: float) -> dict[str, Any]:
    recon = max(5, min(30, int(duration / 5)))
    return {
        "sync_positions": 3,
        "reconcile": recon,
        "protect_positions": 3,
        "cancel_ghost_orders": 6,
        "snapshot_equity": 5,
        "check_drawdown": 5,
        "heartbeat": 10,
    }


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
            var_dir=self.run_dir,
            mode="paper" if args.paper else "sim",
            symbols=self.symbols,
            redis=args.redis,
            sim_seed=args.seed,
            upstream_rest=args.upstream_rest,
            upstream_ws=args.upstream_ws,
            sim_tick_ms=100,
            flower=not args.no_flower,
            env_name="development",
            metrics=True,
            dashboard=not args.no_dashboard,
            dashboard_port=port,
            env={"ATHENA_DASHBOARD_PASSWORD": password} if password else {},
            config={
                "strategies": _strategies(self.symbols, args.duration),
                "schedule": _schedule(args.duration),
                "total_capital": "10000",
            },
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
                    st.note(
                        f"exchange stop placed: {s['algoClOrdId']} {s['side']} {s['sz']} @ {s['slTriggerPx']}"
                    )
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
        new = fills[len(st.fills) :] if len(fills) >= len(st.fills) else fills
        st.fills = fills
        for f in new:
            self._classify(f)
        if st.ms.entry is None and any(
            not o.req.reduceOnly and o.clOrdId.startswith("scalp") for o in orders
        ):
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
        elif f.clOrdId.startswith(("x", "sl")) or (
            order is not None and not order.clOrdId.startswith("scalp")
        ):
            kind = "stop_loss"  # placed by the exchange when a stop triggered
        if kind is None or f.accFillSz != (order.accFillSz if order is not None else f.accFillSz):
            return  # count each closing order once, on its last fill
        st.exits[kind] += 1
        label = {
            "take_profit": "take profit",
            "stop_loss": "stop-loss hit",
            "time_stop": "time stop / close",
            "flatten": "flatten close",
        }[kind]
        st.note(f"{label}: {f.clOrdId} {f.side.value} {f.fillSz} @ {f.fillPx}")
        if kind in ("take_profit", "stop_loss", "time_stop") and getattr(st.ms, kind) is None:
            setattr(st.ms, kind, st.now())

    def _poll_tasks(self) -> None:
        if self.events is None:
            return
        st = self.st
        for uuid, rec in self.events.snapshot().items():
            if (
                rec.state != "succeeded"
                or uuid in self._done_tasks
                or rec.name not in ("athena.reconcile", "athena.sync_positions")
            ):
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
                    st.note(
                        f"reconcile by beat: {result.get('orders_checked')} orders checked, drift "
                        f"{result.get('drift')}"
                    )
            else:
                st.syncs.append(result)
                if st.ms.sync_by_beat is None:
                    st.ms.sync_by_beat = st.now()
                    st.note(
                        f"position sync by beat: {len(result.get('positions', []))} open, drift "
                        f"{result.get('drift')}"
                    )

    def _check_ws(self) -> None:
        st = self.st
        if st.ms.ws_drop is None or st.ms.ws_recovered is not None:
            return
        stream = st.status.get("stream") or {}
        ws = stream.get("ws") or {}
        reconnected = all(int(v.get("reconnects", 0)) > st.ws_before.get(k, 0) for k, v in ws.items())
        fresh = stream.get("at_ms", 0) >= time.time() * 1000 - 3000
        if (
            reconnected
            and fresh
            and stream.get("private") == "ready"
            and int(stream.get("ticks", 0)) > st.ws_before.get("_ticks", 0)
        ):
            st.ms.ws_recovered = st.now()
            st.note(
                f"WebSocket recovered in {st.ms.ws_recovered - st.ms.ws_drop:.1f} s "
                f"(reconnected, logged in, resubscribed, ticks flowing)"
            )

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
            print(
                f"athena demo: ready. redis {self.stack.redis_url.split('@')[-1]}, sim {self.stack.sim_url}"
                + (f", flower http://127.0.0.1:{self.stack.flower_port}" if self.stack.flower_port else "")
                + f"; running {a.duration:.0f} s (Ctrl-C ends early)",
                file=out,
                flush=True,
            )
            if self.stack.dashboard_port:
                print(
                    f"athena demo: dashboard {self.stack.dashboard_url} ({self._dashboard_login()})",
                    file=out,
                    flush=True,
                )
            print(
                f"athena demo: metrics (Prometheus) stream worker {self.stack.metrics_url('stream')}, "
                f"orders worker {self.stack.metrics_url('orders')}",
                file=out,
                flush=True,
            )
            self.st = DemoState()
            if a.paper:
                print(
                    "athena demo: paper trading, the market is "
                    f"{self.stack.env.get('ATHENA_PAPER_UPSTREAM_WS')}",
                    file=out,
                    flush=True,
                )
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
        """Where the dashboard's password is: never printed; a generated one goes to a file only its owner
        reads."""
        if self.dashboard_password_configured:
            return "password: the configured dashboard.password / ATHENA_DASHBOARD_PASSWORD"
        path = self.run_dir / "dashboard-password"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.stack.dashboard_password + "\n")
        return f"password in {path}"

    def _loop(self, director: Director) -> None:
        a = self.args
        live = live_view(self) if sys.stdout.isatty() and not a.plain else None
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
        print(
            "athena demo: flattening (halt entries, cancel orders and stops, close positions) ...", flush=True
        )
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
            res = self.stack.celery().send_task(
                "athena.reconcile", kwargs={}
            )  # routed to the account's queue
            self._done_tasks.add(res.id)  # not one of beat's runs
            final = res.get(timeout=90)
            st.note(
                f"final reconcile: {final.get('orders_checked')} orders checked, drift {final.get('drift')}"
            )
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
        stats = {
            x.get("name"): x.get("stats") or {} for x in (st.status.get("stream") or {}).get("strategies", [])
        }
        doc = {
            "fee_gate": {
                "skipped": sum(int(v.get("fee_gate", 0)) for v in stats.values()),
                "entries": sum(int(v.get("entries", 0)) for v in stats.values()),
                "per_strategy": {k: int(v.get("fee_gate", 0)) for k, v in stats.items()},
            },
            "fills_ledger": {
                "round_trips": len(ledger.trips),
                "gross": str(ledger.realized),
                "fees": str(ledger.fees),
                "net": str(ledger.realized + ledger.fees),
            },
            "ledger_corrections": corrections,
            "duration_s": self.args.duration,
            "ran_s": round(min(st.ended_s or 0.0, self.args.duration), 1),
            "interrupted": (st.ended_s or 0.0) < self.args.duration,
            "seed": self.args.seed,
            "symbols": self.symbols,
            "mode": "paper" if self.args.paper else "sim",
            "account": self.stack.account,
            "run_dir": str(self.run_dir),
            "orders": len(st.orders),
            "entries": len(entries),
            "fills": len(st.fills),
            "stops_placed": len(st.stops_seen),
            "exits": dict(st.exits),
            "beat": {
                "sync_positions": len(st.syncs),
                "reconcile": len(st.reconciles),
                "reconcile_drift": beat_drift,
            },
            "final_reconcile": {
                "drift": final.get("drift"),
                "ok": final.get("ok"),
                "orders_checked": final.get("orders_checked"),
            },
            "capital": final.get("capital"),
            "flatten": {
                "ok": flat.get("ok"),
                "positions_closed": flat.get("positions_closed"),
                "flat": flat_now,
            },
            "ws": {"drop_at_s": ms["ws_drop"], "recovered_at_s": ms["ws_recovered"]},
            "pnl": {
                "equity": pnl.get("equity"),
                "realised": pnl.get("realised"),
                "fees": pnl.get("fees"),
                "unrealised": pnl.get("unrealised"),
                "drawdown": pnl.get("drawdown"),
            },
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
        # a triggered stop's fill carries no strategy: one strategy per instrument here, so the owner is known
        owner = {
            sym: s["name"] for s in _strategies(self.symbols, self.args.duration) for sym in s["instIds"]
        }
        return fills_ledger(self.st.fills, self.instruments, owner)

    # -- report --------------------------------------------------------------------------------
    def _write_report(self, doc: dict[str, Any]) -> None:
        self.report_dir = write_demo_report(
            doc, self._ledger(), self.st, self.reports, self.started_ms, self.args.duration
        )


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
    p = argparse.ArgumentParser(
        prog="athena demo", description="run the whole stack against the simulator, live"
    )
    p.add_argument("--duration", type=float, default=120.0, help="seconds of trading (default 120)")
    p.add_argument("--symbols", default="BTC-USDT-SWAP,ETH-USDT-SWAP")
    p.add_argument("--seed", type=int, default=7, help="simulator seed")
    p.add_argument("--var", default="var", help="where runs/ (logs, journal) and reports/ go")
    p.add_argument("--redis", default="auto", help="auto (REDIS_URL if free, else private) | private | a URL")
    p.add_argument("--no-flower", action="store_true", help="do not start Flower")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the web dashboard")
    p.add_argument(
        "--dashboard-port",
        type=int,
        default=None,
        help="the dashboard's port (default: dashboard.port, 8780; another if it is taken)",
    )
    p.add_argument("--plain", action="store_true", help="plain periodic lines instead of the live view")
    p.add_argument(
        "--paper",
        action="store_true",
        help="paper trading: the simulator matches against a public OKX feed (docs/PAPER.md)",
    )
    p.add_argument(
        "--upstream-rest", default="", help="--paper: the feed's REST API (default https://www.okx.com)"
    )
    p.add_argument(
        "--upstream-ws",
        default="",
        help="--paper: the feed's public WebSocket (default wss://ws.okx.com:8443/ws/v5/public)",
    )
    a = p.parse_args(argv)
    if a.duration <= 0:
        p.error("--duration must be > 0")
    return Demo(a).run()
