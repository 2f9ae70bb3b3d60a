"""What the demo saw: the workers' task events (which tasks ran, how long they waited and took) and
the state every part of the demo reads (the director drives by it, the view shows it, the report
writes it)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


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
    exits: dict[str, int] = field(
        default_factory=lambda: {"take_profit": 0, "stop_loss": 0, "time_stop": 0, "flatten": 0}
    )
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
