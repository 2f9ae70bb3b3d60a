"""Stack configuration the end-to-end tests share (not a test module)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from athena.process.launch import Stack
from athena.sim.client import SimClient
from athena.sim.config import SimConfig
from athena.sim.instruments import default_instruments
from athena.sim.server import SimServer

BTC = "BTC-USDT-SWAP"

# Loose thresholds so the sim's random book produces entries within seconds.
EAGER_SCALPER = {
    "name": "scalpbtc",
    "cls": "ScalperV1",
    "instIds": [BTC],
    "allocation": "0.5",
    "params": {
        "imbalance_window": 1,
        "imbalance_threshold": "0.05",
        "flow_threshold": "0",
        "min_trades": 0,
        "max_spread_ticks": 50,
        "take_profit_bps": "30",
        "stop_loss_bps": "40",
        "time_stop_s": "300",
        "entry_timeout_s": "3",
        "cooldown_s": "1",
    },
    "risk": {
        "leverage": "3",
        "max_order_notional": "20000",
        "max_orders_per_minute": 60,
        "max_position": "50",
    },
}
FAST_BEAT = {
    "sync_positions": 2,
    "reconcile": 4,
    "protect_positions": 2,
    "cancel_ghost_orders": 10,
    "snapshot_equity": 5,
    "check_drawdown": 5,
    "heartbeat": 10,
}


def paper_upstream(seed: int = 11) -> SimServer:
    """A started SimServer in this process playing OKX's public feed for a paper stack (StackConfig
    upstream_rest=srv.url, upstream_ws=srv.ws_url("public")); stop() it after the stack.

    BTC moves a few ticks a step (the sim's default is 20), so a book that crosses a resting order still
    shows its price (test_paper holds a maker fill to the displayed book, which a gap of more than the 25
    levels shown would not satisfy), and it prints trades every 50 ms, so a strategy sees a market within
    seconds."""
    insts = [replace(si, vol_ticks=3) if si.instId == BTC else si for si in default_instruments()]
    return SimServer(SimConfig(seed=seed, tick_interval_ms=50, instruments=insts)).start()


def describe(stack: Stack, log_lines: int = 40) -> str:
    """What a stack was doing, for a test's failure message: the stream worker's status, the venue's
    orders, fills and (paper) upstream, and the tail of every child's log. Never raises: it runs when a
    test has already failed."""
    parts: list[str] = []

    def section(title: str, fetch: Any) -> None:
        try:
            body = fetch()
        except Exception as e:  # the part that is down is itself the finding
            body = f"unavailable: {type(e).__name__}: {e}"
        parts.append(f"--- {title}\n{body if isinstance(body, str) else json.dumps(body, default=str)}")

    venue = SimClient(stack.sim_url) if stack.sim_port else None
    section("stream status", stack.stream_status)
    if venue is not None:
        section(
            "venue pending orders", lambda: venue.get("/api/v5/trade/orders-pending?instType=SWAP")["data"]
        )
        section(
            "venue order history (state, side, execType)",
            lambda: [
                (o["clOrdId"], o["state"], o["side"], o["ordType"], o["accFillSz"])
                for o in venue.get("/api/v5/trade/orders-history?instType=SWAP&limit=100")["data"]
            ],
        )
        section(
            "venue fills",
            lambda: [
                (f["ts"], f["side"], f["fillSz"], f["fillPx"], f["execType"])
                for f in venue.get("/api/v5/trade/fills?instType=SWAP&limit=100")["data"]
            ],
        )
        section("venue state", lambda: {k: v for k, v in stack.sim_admin("state").items() if k != "markets"})
    for log in sorted(stack.log_dir.glob("*.log")):
        section(
            f"{log.name} (last {log_lines} lines)",
            lambda log=log: "\n".join(log.read_text().splitlines()[-log_lines:]),
        )
    return "\n".join(parts)
