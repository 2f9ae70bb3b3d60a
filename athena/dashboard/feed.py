"""What the dashboard shows, read where `athena status` reads it: the account's hot state in Redis
(athena.process.status.collect_status), the recent fills and equity snapshots from the journal, the
strategies from Settings. One poller builds it every `dashboard.refresh_s` and every open page gets
the same document (Server-Sent Events), so ten tabs cost what one does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from athena.config import Settings

log = logging.getLogger("athena.dashboard")

FILLS_SHOWN = 20
CURVE_POINTS = 400  # what the chart draws at most (older history is thinned to this)
HISTORY_S = 24 * 3600  # equity snapshots read back from the journal at start
KEEP_EVERY_MS = 2_000  # of the per-poll equity points one every 2 s is kept: 50 000 of them are 28 h


def _dec(v: Any) -> Decimal | None:
    try:
        return Decimal(str(v)) if v not in (None, "") else None
    except InvalidOperation:
        return None


def thin(points: list[Any], n: int) -> list[Any]:
    """At most n points, evenly spaced, keeping the first and the last."""
    if len(points) <= n or n < 2:
        return list(points)
    step = (len(points) - 1) / (n - 1)
    return [points[round(i * step)] for i in range(n)]


class Feed:
    def __init__(self, settings: Settings, redis: Any, journal: Any) -> None:
        self.settings = settings
        self.redis = redis
        self.journal = journal
        # (ts ms, equity, drawdown) as strings: the journal's snapshots, then what each poll saw
        self.curve: deque[tuple[int, str, str]] = deque(maxlen=50_000)
        self.latest: tuple[int, str, str] | None = None  # the newest point, until it is kept
        self.doc: dict[str, Any] = {"at_ms": 0, "loading": True}
        self.text = json.dumps(self.doc)
        self.version = 0
        self._changed = asyncio.Event()
        self._building = asyncio.Lock()  # the poller and an action's refresh: one build at a time

    # -- building the document (in a worker thread: Redis and SQLite calls block) -------------------------
    def build(self) -> dict[str, Any]:
        from athena.process.control import explain
        from athena.process.status import collect_status

        now_ms = int(time.time() * 1000)
        try:
            status = collect_status(self.settings, self.redis)
        except Exception as exc:  # Redis down or restarting: say so, keep polling
            message, _ = explain(exc)
            return {
                "at_ms": now_ms,
                "account": self.settings.account,
                "mode": self.settings.mode,
                "env": self.settings.env,
                "error": message,
                "curve": self._curve_points(),
            }
        pnl = status.get("pnl") or {}
        if pnl.get("equity"):
            self._add_point((now_ms, str(pnl["equity"]), str(pnl.get("drawdown") or "0")))
        paused = status.get("paused_strategies") or {}
        status["strategies"] = [
            {"name": s.name, "cls": s.cls, "instIds": s.instIds, "enabled": s.enabled,
             "allocation": str(s.allocation),
             "paused": paused.get(s.name)}
            for s in self.settings.strategies
        ]  # fmt: skip
        self._unrealised(status.get("positions") or [])
        status["fills"] = self._fills()
        status["curve"] = self._curve_points()
        return status

    def _unrealised(self, positions: list[dict[str, Any]]) -> None:
        """Each position's uPnL from its mark (linear swaps: (mark - avgPx) x pos x contract size), where
        the last sync gave none; the contract sizes come from the instruments cached in Redis, never
        from the exchange (no cache: the column stays empty)."""
        if not positions or all(p.get("upl") for p in positions):
            return
        from athena.domain import Instrument
        from athena.state.keys import Keys

        raw = self.redis.get(Keys(self.settings.env, self.settings.account).instruments)
        if not raw:
            return
        insts = {row["instId"]: Instrument.from_okx(row) for row in orjson.loads(raw)}
        for p in positions:
            inst, mark, avg = insts.get(p["instId"]), _dec(p.get("mark")), _dec(p.get("avgPx"))
            if p.get("upl") or inst is None or mark is None or avg is None:
                continue
            sign = Decimal(-1) if p.get("posSide") == "short" else Decimal(1)
            p["upl"] = f"{(mark - avg) * sign * Decimal(p['pos']) * inst.coin_per_contract:.4f}"

    def load_history(self) -> None:
        """The journal's equity snapshots of the last day (beat's snapshot_equity), once at start."""
        try:
            snaps = self.journal.equity(since_ts=int(time.time() * 1000) - HISTORY_S * 1000)
        except Exception as exc:
            log.warning("dashboard: no equity history from the journal (%s)", type(exc).__name__)
            return
        for s in snaps:
            self.curve.append((s.ts, str(s.equity), str(s.drawdown if s.drawdown is not None else "0")))

    def _fills(self) -> list[dict[str, Any]]:
        try:
            fills = self.journal.recent_fills(FILLS_SHOWN)
        except Exception as exc:
            log.warning("dashboard: fills unavailable (%s)", type(exc).__name__)
            return []
        return [{"ts": f.ts, "clOrdId": f.clOrdId, "instId": f.instId, "side": str(f.side),
                 "sz": str(f.fillSz),
                 "px": str(f.fillPx), "fee": str(f.fee), "strategy": f.strategy, "reduceOnly": f.reduceOnly}
                for f in fills]  # fmt: skip

    def _add_point(self, point: tuple[int, str, str]) -> None:
        if not self.curve or point[0] - self.curve[-1][0] >= KEEP_EVERY_MS:
            self.curve.append(point)
            self.latest = None
        else:
            self.latest = point

    def _curve_points(self) -> list[list[Any]]:
        points = sorted(self.curve) + ([self.latest] if self.latest else [])
        return [[ts, eq, dd] for ts, eq, dd in thin(points, CURVE_POINTS)]

    # -- publishing -------------------------------------------------------------------------------------
    async def refresh(self) -> None:
        async with self._building:
            doc = await asyncio.to_thread(self.build)
        self.doc, self.text = doc, json.dumps(doc, default=str)
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def run(self) -> None:
        await asyncio.to_thread(self.load_history)
        interval = self.settings.dashboard.refresh_s
        while True:
            started = time.monotonic()
            try:
                await self.refresh()
            except Exception:  # never let the live view die; the next poll tries again
                log.exception("dashboard: refreshing the view failed")
            await asyncio.sleep(max(0.05, interval - (time.monotonic() - started)))

    async def next(self, seen: int, timeout: float) -> None:
        """Until a document newer than version `seen` exists (or timeout: the SSE keep-alive)."""
        if self.version > seen:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass
