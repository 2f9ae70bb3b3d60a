"""Stack configuration the end-to-end tests share (not a test module)."""

from __future__ import annotations

from dataclasses import replace

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
