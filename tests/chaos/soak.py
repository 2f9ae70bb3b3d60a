"""Chaos soak: the whole stack (Stack: Redis with AOF, sim, orders worker, stream worker, beat) trading
against the simulator while faults are injected, with invariants checked continuously and at the end.

    .venv/bin/python -m tests.chaos.soak --duration 1800      # the long run (prints the figures)
    .venv/bin/pytest -m chaos tests/chaos                     # the CI version (ATHENA_CHAOS_DURATION, 120 s)

Faults: REST 5xx (50001 or 50013, half of them executed anyway) / timeouts / 50011 / 51149 item codes
on orders the exchange did place, at a few percent on trade paths; batches (cancel-algos) that partly
fail with per-item codes; fills pushed before REST acks, duplicate and reordered pushes (all the whole
run); WS drops every ~duration/6; one 35 s push stall; clock skew beyond OKX's 30 s (50102, 60006 on a
WebSocket login) until the clients re-measure it, then back; a maintenance (the WebSocket notice, the
connections closed and refused, REST answering 503); REST down while the WebSocket stays up, and the
reverse; the orders worker killed -9 mid-placement twice and restarted; the stream worker killed, the
price pushed through every working stop while it is down (their fills reach no push), and started again;
Redis restarted once (appendonly yes: AOF keeps orders, locks, the event stream and the broker's queues).
Invariants: no clOrdId accepted twice by the exchange; every exchange fill journaled exactly once
(per order: journal fill sizes add up to the exchange's); shadow ledger == exchange positions; every
open position covered by a live exchange stop within 2 s (outside fault windows; during them, by the
next protect_positions run); net realised PnL (fees included) == the sim's own cash change once flat; every
fill committed with its order is emitted (a killed worker's, once its outbox claim expires); every
lock has a TTL; no process left behind.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from athena.process.demo.run import _schedule, _strategies
from athena.process.launch import Stack, StackConfig
from athena.procs import wait_until
from athena.state.journal import Journal
from athena.state.orders import DEFAULT_CLAIM_TTL_S

ZERO = Decimal(0)
COVER_S = 2.0  # an open position must have a covering stop this soon after it opened/grew
SYMBOLS = ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
BACKGROUND = {
    "rest_5xx": {"rate": 0.03, "path": "/api/v5/trade/"},
    "rest_timeout": {"rate": 0.02, "path": "/api/v5/trade/"},
    "rest_timeout_hold_s": 6.0,  # > the client's 5 s read timeout: AMBIGUOUS; expTime then drops it
    "rest_rate_limit": {"rate": 0.03, "path": "/api/v5/trade/"},
    "rest_5xx_code": "50001,50013",
    "rest_5xx_execute_rate": 0.5,  # a 503 after the order was in fact placed (or cancelled)
    # 51149 "order timed out" (the first two trade requests, then a few percent) ...
    "rest_scode": {"count": 2, "rate": 0.02, "path": "/api/v5/trade/"},
    "rest_scode_execute": True,  # ... on an order the exchange did place
    # some items of a batch (cancel-algos) refused and not processed: the first batch, then one in five
    "batch_partial": {"count": 1, "rate": 0.2, "path": "/api/v5/trade/"},
    # the orders worker places over its private WebSocket: an op never answered (run or not), or answered
    # with an outcome-unknown code (51149, 50013) after it ran or before
    "ws_op_timeout": {"rate": 0.02, "path": "/api/v5/trade/"},
    "ws_op_timeout_execute": True,
    "ws_op_error": {"count": 1, "rate": 0.03, "path": "/api/v5/trade/"},
    "ws_op_error_code": "51149,50013",
    "ws_op_error_execute": True,
    "push_before_ack": True,
    "duplicate_pushes": 0.05,
    "reorder_pushes": 0.05,
}
SKEW_S = 40.0  # the exchange's clock this far ahead: beyond OKX's 30 s tolerance (50102, WS login 60006)
OUTAGE_S = 8.0  # REST down, WebSocket down, maintenance


@dataclass
class Report:
    duration_s: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)
    events: Counter[str] = field(default_factory=Counter)  # kills, restarts
    checks: Counter[str] = field(default_factory=Counter)  # invariant checks passed, by invariant
    violations: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # known defects still open (reported, not asserted)
    orders: int = 0
    fills_exchange: int = 0
    fills_journal: int = 0
    positions_opened: int = 0
    max_uncovered_s: float = 0.0
    max_uncovered_in_fault_s: float = 0.0
    pnl_exchange: Decimal | None = None
    pnl_booked: Decimal | None = None
    survivors: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"chaos soak: {self.duration_s:.0f} s of faults",
            "faults injected: " + ", ".join(f"{k}={v}" for k, v in sorted(self.faults.items())),
            "process events: " + ", ".join(f"{k}={v}" for k, v in sorted(self.events.items())),
            f"orders accepted by the exchange: {self.orders}; fills: exchange {self.fills_exchange}, "
            f"journal {self.fills_journal}; positions opened/grown: {self.positions_opened}",
            f"stop coverage: max uncovered {self.max_uncovered_s:.2f} s outside fault windows, "
            f"{self.max_uncovered_in_fault_s:.2f} s inside",
            f"PnL: exchange cash change {self.pnl_exchange}, booked net realised {self.pnl_booked}",
            "invariant checks passed: "
            + ", ".join(f"{k}={v}" for k, v in sorted(self.checks.items()))
            + f" (total {sum(self.checks.values())})",
            f"violations: {len(self.violations)}",
            *[f"  - {v}" for v in self.violations[:30]],
            f"open findings: {len(self.findings)}",
            *[f"  - {v}" for v in self.findings],
            f"processes left behind: {self.survivors}",
        ]
        return out


class Soak:
    def __init__(self, var_dir: Path, duration_s: float, seed: int = 7, log: Any = print) -> None:
        self.duration = duration_s
        self.log = log
        cfg = StackConfig(
            var_dir=var_dir,
            mode="sim",
            symbols=SYMBOLS,
            redis_persistence=True,
            sim_seed=seed,
            sim_tick_ms=100,
            env_name="development",
            log_level="INFO",
            config={
                "strategies": _strategies(SYMBOLS, 120),
                "total_capital": "10000",
                "schedule": {**_schedule(120), "visibility_timeout": 15},
            },  # a killed task comes back in 15 s
        )
        self.stack = Stack(cfg)
        self.r = Report()
        self.fault_windows: list[tuple[float, float]] = []  # monotonic (start, end) of disruptive events
        self._stop = threading.Event()
        self._uncovered: dict[tuple[str, str], tuple[float, Decimal]] = {}
        self._last_pos: dict[tuple[str, str], Decimal] = {}
        self._rest_fired = 0
        self._later: list[tuple[float, str]] = []  # (monotonic time, what): a fault's second step
        self._deaf = False  # a violation reported: the private WebSockets halted
        self.engine: Any = None
        self._lock = threading.Lock()

    # -- helpers -------------------------------------------------------------------------------
    def admin(self, path: str, body: Any = None) -> Any:
        for _ in range(20):
            try:
                return self.stack.sim_admin(path, body, timeout=10)
            except Exception:
                time.sleep(0.5)
        raise RuntimeError(f"sim admin {path} unreachable")

    def window(self, start: float, seconds: float) -> None:
        with self._lock:
            self.fault_windows.append((start, start + seconds))

    def in_fault(self, t0: float, t1: float) -> bool:
        # a position uncovered across a disruption (+ one protect_positions period + slack) is excused
        # from 2 s
        with self._lock:
            return any(s - COVER_S <= t1 and t0 <= e + 8.0 for s, e in self.fault_windows)

    def violation(self, text: str) -> None:
        self.log(f"VIOLATION: {text}")
        self.r.violations.append(text)

    # -- continuous invariants -----------------------------------------------------------------
    def _monitor(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._check_once()
            except Exception as exc:  # Redis restarting, sim busy: the next round checks again
                self.r.events["monitor_skipped"] += 1
                if self.r.events["monitor_skipped"] % 20 == 1:
                    self.log(f"monitor: skipped a round ({type(exc).__name__}: {exc})")

    def _check_once(self) -> None:
        # a background REST fault (5xx, 6 s timeout hold, 50011) on a stop request legitimately delays the
        # stop: each one opens a fault window covering the hold and the retry
        fired = self.stack.sim_admin("faults", timeout=5)["fired"]
        now = time.monotonic()
        rest = sum(
            int(fired.get(k, 0))
            for k in (
                "rest_5xx",
                "rest_timeout",
                "rest_rate_limit",
                "rest_scode",
                "batch_partial",
                "ws_op_timeout",
                "ws_op_error",
            )
        )
        if rest > self._rest_fired:
            self.window(now - 7.0, 12.0)
        self._rest_fired = rest
        st = self.stack.sim_admin("state", timeout=5)
        if st.get("dupClOrdIds"):
            self.violation(f"clOrdId accepted twice by the exchange: {st['dupClOrdIds']}")
        else:
            self.r.checks["no_duplicate_clordid"] += 1
        cover: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        for a in st["algos"]:
            cover[(a["instId"], a.get("posSide") or "net")] += Decimal(a["sz"] or "0")
        seen = set()
        for p in st["positions"]:
            pos = abs(Decimal(p["pos"] or "0"))
            key = (p["instId"], p.get("posSide") or "net")
            if pos == 0:
                continue
            seen.add(key)
            if pos > self._last_pos.get(key, ZERO):
                self.r.positions_opened += 1
            self._last_pos[key] = pos
            if cover[key] >= pos:
                if key in self._uncovered:
                    since, _ = self._uncovered.pop(key)
                    self._covered_after(since, now, key)
                self.r.checks["position_covered_by_stop"] += 1
            elif key not in self._uncovered:
                self._uncovered[key] = (now, pos)
            elif now - self._uncovered[key][0] > COVER_S and not self.in_fault(self._uncovered[key][0], now):
                since, _ = self._uncovered.pop(key)
                self.violation(
                    f"{key} open {pos} with stops covering {cover[key]} for {now - since:.1f} s (no "
                    "fault active)"
                )
        for key in list(self._uncovered):
            if key not in seen:  # closed before a stop came: fine (a quick exit), not a violation
                del self._uncovered[key]
        for key in list(self._last_pos):
            if key not in seen:
                del self._last_pos[key]
        # the stream worker never gives up its private WebSockets (a deaf worker would hear no fill)
        status = self.stack.stream_status() or {}
        if status.get("private") == "auth_failed" and not self._deaf:
            self._deaf = True
            self.violation("the stream worker's private WebSockets halted (auth_failed): it hears no fill")
        elif status.get("private") is not None:
            self.r.checks["private_ws_alive"] += 1
        # every lock and lease expires by itself
        eng = self.engine
        for pattern in (eng.keys.lock("*"), eng.keys.lease("*")):
            for k in eng.redis.scan_iter(match=pattern, count=200):
                if eng.redis.pttl(k) == -1:
                    self.violation(f"lock without TTL: {k!r}")
                else:
                    self.r.checks["lock_has_ttl"] += 1

    def _covered_after(self, since: float, now: float, key: tuple[str, str]) -> None:
        took = now - since
        if self.in_fault(since, now):
            self.r.max_uncovered_in_fault_s = max(self.r.max_uncovered_in_fault_s, took)
        else:
            self.r.max_uncovered_s = max(self.r.max_uncovered_s, took)

    # -- faults --------------------------------------------------------------------------------
    def kill_orders_mid_placement(self) -> None:
        """kill -9 the orders worker while a placement is in flight (an order SENT but not acked)."""
        from athena.domain import OrderState

        eng = self.engine
        # hold the next placement in the sim (as a slow exchange would) so the kill lands while it is
        # in flight
        # (by REST or, the orders worker's default, its private WebSocket: an op never answered)
        held = {"count": 1, "rate": 0.02, "path": "/api/v5/trade/order"}
        self.admin("faults", {"rest_timeout": held, "ws_op_timeout": held})
        deadline = time.monotonic() + 60
        mid = False
        while time.monotonic() < deadline:
            try:
                if any(o.state in (OrderState.CREATED, OrderState.SENT) for o in eng.store.working()):
                    mid = True
                    break
            except Exception:
                pass
            time.sleep(0.02)
        t = time.monotonic()
        self.stack.kill9("orders")
        self.admin(
            "faults",
            {"rest_timeout": BACKGROUND["rest_timeout"], "ws_op_timeout": BACKGROUND["ws_op_timeout"]},
        )
        self.r.events["orders_kill9_mid_placement" if mid else "orders_kill9"] += 1
        self.log(
            f"orders worker killed -9 ({'mid-placement' if mid else 'no placement in flight within 60 s'})"
        )
        self.stack.restart("orders", timeout=90)
        self.window(t, time.monotonic() - t + 15)  # + the redelivery (visibility timeout)

    def skew(self, seconds: float) -> None:
        """Shift the exchange's clock: every client's measured offset is wrong until it re-measures it."""
        t = time.monotonic()
        self.admin("skew", {"seconds": seconds})
        if seconds:
            self.admin("ws/drop", {})  # the private WebSockets log in again under the skew (60006 first)
        self.r.events["clock_skew_on" if seconds else "clock_skew_off"] += 1
        self.window(t, 15.0)
        self.log(f"exchange clock skewed by {seconds:+.0f} s")

    def maintenance(self) -> None:
        """OKX's service upgrade: the notice, the connections closed a moment later and refused for a while,
        REST answering 503 (50001) meanwhile. Nothing is executed."""
        t = time.monotonic()
        self.admin("ws/notice", {"close_after_s": 1.0})
        self.admin(
            "faults",
            {
                "rest_5xx": {"rate": 1.0, "path": "/api/v5/"},
                "rest_5xx_code": "50001",
                "rest_5xx_execute_rate": 0.0,
            },
        )
        self.later(1.5, "maintenance_ws_down")
        self.later(OUTAGE_S, "maintenance_end")
        self.r.events["maintenance"] += 1
        self.window(t, OUTAGE_S + 5)
        self.log(f"maintenance: notice, WebSocket closed and refused, REST 503 for {OUTAGE_S:.0f} s")

    def maintenance_end(self) -> None:
        self.admin(
            "faults", {k: BACKGROUND[k] for k in ("rest_5xx", "rest_5xx_code", "rest_5xx_execute_rate")}
        )
        self.log("maintenance over")

    def outage(self, what: str) -> None:
        """REST down while the WebSocket stays up ("rest"), or the reverse ("ws"), for OUTAGE_S."""
        t = time.monotonic()
        self.admin("faults", {f"{what}_down_s": OUTAGE_S})
        self.r.events[f"{what}_down"] += 1
        self.window(t, OUTAGE_S + 5)
        self.log(f"{'REST' if what == 'rest' else 'WebSocket'} down for {OUTAGE_S:.0f} s, the other side up")

    def restart_stream_firing_stops(self) -> None:
        """Kill the stream worker, push the price through every working stop while it is down (their fills
        reach no push: reconcile must find them), then start it again."""
        t = time.monotonic()
        # a moment with a stop working, if one comes within 20 s (positions live for seconds here)
        wait_until(lambda: bool(self.stack.sim_admin("state", timeout=5)["algos"]), 20, interval=0.2)
        self.stack.kill9("stream")  # a crash: quicker than a clean stop, so the stop is still there
        killed = time.monotonic()
        st = self.stack.sim_admin("state", timeout=5)
        by_inst: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
        for a in st["algos"]:
            if a.get("slTriggerPx"):
                by_inst[a["instId"]].append((a["side"], Decimal(a["slTriggerPx"])))
        fired = 0
        for inst, stops in by_inst.items():
            sells = [px for side, px in stops if side == "sell"]
            buys = [px for side, px in stops if side == "buy"]
            if sells and not buys:
                px = (min(sells) * Decimal("0.998")).quantize(Decimal("0.1"))
            elif buys and not sells:
                px = (max(buys) * Decimal("1.002")).quantize(Decimal("0.1"))
            else:
                continue  # stops on both sides of one instrument (a hedge in net mode cannot be): leave them
            self.admin("price", {"instId": inst, "px": str(px)})
            fired += len(stops)
        self.r.events["stops_fired_while_stream_down"] += fired
        self.log(f"stream worker killed; price pushed through {fired} working stop(s)")
        self.stack.start_child("stream", timeout=90)
        self.r.events["stream_restart"] += 1
        self.window(t, time.monotonic() - t + 10)
        self.log(f"stream worker started again {time.monotonic() - killed:.1f} s after the kill")

    def later(self, after_s: float, what: str) -> None:
        with self._lock:
            self._later.append((time.monotonic() + after_s, what))

    def restart(self, name: str) -> None:
        t = time.monotonic()
        self.stack.restart(name, timeout=90)
        if name == "redis":
            self.engine.redis.connection_pool.disconnect()
            # kombu 5.x can crash a prefork worker on the broker reconnect ("Unrecoverable error:
            # AttributeError 'NoneType' object has no attribute 'hostname'"); compose's restart policy brings
            # it back, so do we, and report it
            time.sleep(10)
            for w in ("orders", "stream", "beat"):
                if not self.stack.child(w).alive():
                    self.r.events[f"{w}_died_on_redis_restart"] += 1
                    self.r.findings.append(
                        f"{w} worker exited on the Redis restart (kombu reconnect AttributeError); restarted"
                    )
                    self.log(
                        f"{w} worker died on the Redis restart; restarting it (as a process manager would)"
                    )
                    self.stack.restart(w, timeout=90)
        self.r.events[f"{name}_restart"] += 1
        self.window(t, time.monotonic() - t + 5)
        self.log(f"{name} restarted in {time.monotonic() - t:.1f} s")

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> Report:
        from athena.wiring import account

        t_start = time.monotonic()
        with self.stack:
            settings = self.stack.settings()
            self.engine = account(settings)
            self.admin("faults", BACKGROUND)
            mon = threading.Thread(target=self._monitor, name="chaos-monitor", daemon=True)
            mon.start()
            D = self.duration
            t0 = time.monotonic()
            plan = [
                (0.05, "skew_on"),
                (0.12, "kill_orders"),
                (0.2, "skew_off"),
                (0.25, "stall"),
                (0.33, "maintenance"),
                (0.45, "rest_down"),
                (0.55, "kill_orders"),
                (0.6, "ws_down"),
                (0.7, "restart_stream"),
                (0.8, "restart_redis"),
            ]
            drops = [i * D / 6 for i in range(1, 6)]
            # every planned fault happens, however short the run
            while (elapsed := time.monotonic() - t0) < D or plan or self._later:
                if drops and elapsed >= drops[0]:
                    drops.pop(0)
                    self.admin("ws/drop", {})
                    self.window(time.monotonic(), 3)
                if plan and elapsed >= plan[0][0] * D:
                    _, what = plan.pop(0)
                    self.inject(what)
                with self._lock:
                    due = [w for at, w in self._later if at <= time.monotonic()]
                    self._later = [(at, w) for at, w in self._later if at > time.monotonic()]
                for what in due:
                    self.inject(what)
                self.stack.check_alive()
                time.sleep(0.2)
            self.r.duration_s = time.monotonic() - t0
            self.r.faults = dict(self.admin("faults")["fired"])
            self.admin("faults/clear", {})
            self.admin("skew", {"seconds": 0})
            self.window(time.monotonic(), 30)
            self._final(settings)
            self._stop.set()
            mon.join(10)
        self.r.survivors = self.stack.survivors()
        if self.r.survivors:
            self.violation(f"processes left behind: {self.r.survivors}")
        self.log(f"soak total wall time {time.monotonic() - t_start:.0f} s")
        return self.r

    def inject(self, what: str) -> None:
        if what == "kill_orders":
            self.kill_orders_mid_placement()
        elif what == "stall":
            self.admin("faults", {"stall_s": 35})
            self.window(time.monotonic(), 35)
            self.log("35 s push stall injected")
        elif what == "skew_on":
            self.skew(SKEW_S)
        elif what == "skew_off":
            self.skew(0.0)
        elif what == "maintenance":
            self.maintenance()
        elif what == "maintenance_ws_down":
            self.admin("faults", {"ws_down_s": OUTAGE_S - 1.5})
        elif what == "maintenance_end":
            self.maintenance_end()
        elif what == "rest_down":
            self.outage("rest")
        elif what == "ws_down":
            self.outage("ws")
        elif what == "restart_stream":
            self.restart_stream_firing_stops()
        elif what == "restart_redis":
            self.restart("redis")
        else:
            raise ValueError(what)

    def _final(self, settings: Any) -> None:
        eng = self.engine
        st = self.stack
        # after the faults the stream worker is logged in again (its status is written every few seconds)
        if wait_until(lambda: (st.stream_status() or {}).get("private") == "ready", 60, interval=1.0):
            self.r.checks["private_ws_ready_at_end"] += 1
        else:
            self.violation(
                f"the stream worker's private WebSockets not ready 60 s after the faults: "
                f"{(st.stream_status() or {}).get('private')}"
            )
        st.send_task("athena.halt", {"reason": "chaos soak: end", "who": "chaos"}, timeout=60)

        # a fill committed by a worker killed before it emitted the fill's side effects (journal, ledger,
        # capital) waits for its outbox claim to expire, then reconcile (every few seconds here) emits it
        if wait_until(lambda: eng.store.outbox_length() == 0, DEFAULT_CLAIM_TTL_S + 60, interval=1.0):
            self.r.checks["outbox_emitted"] += 1
        else:
            self.violation(
                f"{eng.store.outbox_length()} committed fills never emitted {DEFAULT_CLAIM_TTL_S + 60:.0f} s "
                "after the faults"
            )

        # quiesce: the exchange and the ledger agree again (sync_positions runs every 3 s)
        def ledger_matches() -> bool:
            return not self._ledger_diff()

        if not wait_until(ledger_matches, 90, interval=1.0):
            self.violation(f"ledger != exchange after 90 s without faults: {self._ledger_diff()}")
        else:
            self.r.checks["ledger_equals_exchange"] += 1
        st.send_task("athena.flatten", {"reason": "chaos soak: end"}, queue="orders", timeout=120)

        def flat() -> bool:
            s = self.stack.sim_admin("state", timeout=5)
            return (
                not [p for p in s["positions"] if Decimal(p["pos"] or "0") != 0]
                and not s["pending"]
                and not s["algos"]
            )

        if not wait_until(flat, 90, interval=1.0):
            self.violation("not flat 90 s after flatten")
        s = self.stack.sim_admin("state", timeout=5)
        self.r.orders = int(s.get("ordersAccepted", 0))
        if s.get("dupClOrdIds"):
            self.violation(f"clOrdId accepted twice: {s['dupClOrdIds']}")
        else:
            self.r.checks["no_duplicate_clordid"] += 1
        wait_until(ledger_matches, 60, interval=1.0)
        diff = self._ledger_diff()
        if diff:
            self.violation(f"ledger != exchange after flatten: {diff}")
        else:
            self.r.checks["ledger_equals_exchange"] += 1
        self._check_fills()
        # PnL: the exchange's own cash change vs what Athena booked (net realised: fees included), all
        # flat now
        cash = Decimal(s["cash"])
        self.r.pnl_exchange = cash - settings.sim.initial_usdt
        self.r.pnl_booked = eng.capital.realised()  # net: fees included
        if self.r.pnl_exchange != self.r.pnl_booked:
            by_fill = sum(self.ex_pnl.values(), ZERO)
            journal = Journal(settings.db_url)
            try:
                strat = {f.clOrdId: f.strategy for f in journal.fills()}
            finally:
                journal.close()
            detail = {c: (str(v), strat.get(c, "<not journaled>")) for c, v in self.ex_pnl.items()}
            self.violation(
                f"PnL: exchange {self.r.pnl_exchange} (fills' pnl+fee {by_fill}) != booked "
                f"{self.r.pnl_booked} (realised {eng.capital.realised()}, fees {eng.capital.fees()}); "
                f"per clOrdId (exchange pnl+fee, strategy): {detail}"
            )
        else:
            self.r.checks["pnl_equals_exchange"] += 1
        for pattern in (eng.keys.lock("*"), eng.keys.lease("*")):
            for k in eng.redis.scan_iter(match=pattern, count=200):
                if eng.redis.pttl(k) == -1:
                    self.violation(f"lock without TTL at the end: {k!r}")
        self.r.checks["no_stuck_lock"] += 1

    def _ledger_diff(self) -> dict[str, Any]:
        from athena.wiring import ledger_view

        eng = self.engine
        s = self.stack.sim_admin("state", timeout=5)
        ex = {(p["instId"], p.get("posSide") or "net"): Decimal(p["pos"] or "0") for p in s["positions"]}
        ex = {k: v for k, v in ex.items() if v != 0}
        led = {(k[0], str(k[1])): e.sz for k, e in ledger_view(eng).ledger().items() if e.sz != 0}
        # long/short ledgers are signed (short negative) while the exchange's pos is positive in
        # long_short_mode
        led = {k: (-v if k[1] == "short" and v < 0 else v) for k, v in led.items()}
        return {
            f"{k}": (str(ex.get(k, ZERO)), str(led.get(k, ZERO)))
            for k in set(ex) | set(led)
            if ex.get(k, ZERO) != led.get(k, ZERO)
        }

    def _check_fills(self) -> None:
        """Every exchange fill journaled exactly once: per order, the journal's fill sizes add up to the
        exchange's (a duplicate journal row or a missed fill breaks the sum)."""
        from athena.okx.rest import OkxRestGateway
        from athena.state.journal import Journal

        gw = OkxRestGateway(self.stack.settings())
        ex_by_ord: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.ex_pnl: dict[str, Decimal] = defaultdict(
            lambda: ZERO
        )  # by clOrdId: fillPnl + fee, for diagnosis
        cl_of: dict[str, str] = {}
        ex_rows: dict[str, list[str]] = defaultdict(list)  # by ordId, to name what a violation saw
        after = None
        n = 0
        for _ in range(10_000):
            env = gw._call(
                "GET", "/api/v5/trade/fills-history", {"instType": "SWAP", "after": after, "limit": 100}
            )
            rows = env["data"]
            for f in rows:
                ex_by_ord[f["ordId"]] += Decimal(f["fillSz"])
                ex_rows[f["ordId"]].append(
                    f"{f.get('instId')} {f.get('clOrdId') or '-'} {f.get('side')} {f.get('fillSz')}"
                    f"@{f.get('fillPx')} trade={f.get('tradeId')} bill={f.get('billId')}"
                )
                cl_of[f["ordId"]] = f.get("clOrdId") or ""
                self.ex_pnl[f.get("clOrdId") or f["ordId"]] += Decimal(f.get("fillPnl") or "0") + Decimal(
                    f.get("fee") or "0"
                )
                n += 1
            if len(rows) < 100:
                break
            after = rows[-1]["billId"]
        gw.close()
        self.r.fills_exchange = n
        journal = Journal(self.stack.settings().db_url)
        try:
            jr = journal.fills()
        finally:
            journal.close()
        self.r.fills_journal = len(jr)
        keys = Counter(f.fill_key for f in jr)
        dups = [k for k, c in keys.items() if c > 1]
        if dups:
            self.violation(f"fills journaled twice: {dups[:5]}")
        j_by_ord: dict[str, Decimal] = defaultdict(lambda: ZERO)
        ord_of_cl = {c: o for o, c in cl_of.items() if c}
        for f in jr:
            oid = f.ordId or ord_of_cl.get(f.clOrdId) or f"?{f.clOrdId}"
            j_by_ord[oid] += f.fillSz
        bad = {
            o: (str(ex_by_ord.get(o, ZERO)), str(j_by_ord.get(o, ZERO)))
            for o in set(ex_by_ord) | set(j_by_ord)
            if ex_by_ord.get(o, ZERO) != j_by_ord.get(o, ZERO)
        }
        if bad:
            self.violation(
                f"journal fills != exchange fills for {len(bad)} orders (exchange, journal): "
                f"{dict(list(bad.items())[:5])}"
            )
            for o in list(bad)[:5]:
                self.log(f"  exchange fills of ordId {o}: {ex_rows.get(o, [])}")
                journal = [
                    (f.clOrdId, str(f.fillSz), f.tradeId)
                    for f in jr
                    if (f.ordId or ord_of_cl.get(f.clOrdId)) == o
                ]
                self.log(f"  journal fills of ordId {o}: {journal}")
        else:
            self.r.checks["fills_journaled_exactly_once"] += len(ex_by_ord)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Athena chaos soak against the simulator")
    p.add_argument("--duration", type=float, default=120.0, help="seconds of faults (CI 120, long 1800)")
    p.add_argument("--var", default="var/chaos", help="run directory (logs, journal, Redis AOF)")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    var = Path(a.var).resolve() / time.strftime("%Y%m%d-%H%M%S")
    report = Soak(
        var, a.duration, a.seed, log=lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", flush=True)
    ).run()
    print("\n".join(report.lines()), flush=True)
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
