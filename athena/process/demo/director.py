"""The demo's director: drives the simulator so every mission step happens in a short run."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from athena.process.demo.state import DemoState
from athena.process.launch import Stack


def _stop_of(state: DemoState, inst_id: str) -> dict[str, Any] | None:
    for a in state.sim.get("algos", []):
        if a.get("instId") == inst_id and a.get("slTriggerPx"):
            return dict(a)
    return None


class Director:
    """Drives the simulator so every mission step happens in a short run (sim mode only)."""

    def __init__(
        self,
        stack: Stack,
        state: DemoState,
        duration: float,
        instruments: dict[str, Any],
        paper: bool = False,
    ) -> None:
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
