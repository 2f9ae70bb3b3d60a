"""`athena status` shows each strategy's counters from the stream worker's snapshot in Redis (ScalperV1's
entries and fee-gate skips), read by collect_status and rendered as the command prints them."""

from __future__ import annotations

import time
from typing import Any

import orjson
from rich.console import Console

from athena.config import Settings
from athena.process.status import collect_status, render
from athena.state.keys import Keys


def test_status_shows_strategy_counters(redis_client: Any) -> None:
    settings = Settings(env="test", account="kstatus")  # its state is read through redis_client
    keys = Keys(settings.env, settings.account)
    snapshot = {
        "at_ms": int(time.time() * 1000),
        "ticks": 12,
        "ws": {},
        "strategies": [
            {
                "name": "scalpbtc",
                "instIds": ["BTC-USDT-SWAP"],
                "stats": {"entries": 3, "fee_gate": 7, "ticks": 99},
            },
            {"name": "quiet", "instIds": ["ETH-USDT-SWAP"], "stats": {}},
        ],
    }
    redis_client.set(keys.stream_status, orjson.dumps(snapshot), ex=30)
    try:
        doc = collect_status(settings, redis_client)
        console = Console(record=True, width=200)
        console.print(render(doc))
        text = console.export_text()
    finally:
        redis_client.delete(keys.stream_status)
    assert "strategy scalpbtc: entries 3, fee_gate 7" in text, text
    assert "strategy quiet" not in text  # nothing to show
