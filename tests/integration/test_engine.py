"""Engine start-up checks that need no exchange: instruments come from the Redis cache here."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from athena.config import load_settings
from athena.engine import Engine


def test_inverse_swaps_are_refused_at_start(redis_client: Any, redis_url: str) -> None:
    settings = load_settings(env="test", environ={"REDIS_URL": redis_url, "ATHENA_SYMBOLS": "BTC-USD-SWAP",
                                                   "ATHENA_ACCOUNT": "inv"}, dotenv=False)
    settings = settings.model_copy(update={"strategies": []})
    eng = Engine(settings, role="test")
    try:
        row = {"instId": "BTC-USD-SWAP", "ctVal": "100", "ctValCcy": "USD", "lotSz": "1", "tickSz": "0.1",
               "minSz": "1", "settleCcy": "BTC", "ctType": "inverse", "instType": "SWAP", "state": "live"}
        redis_client.set(eng.keys.kv("instruments"), orjson.dumps([row]))
        with pytest.raises(RuntimeError, match="inverse swaps are not supported"):
            _ = eng.instruments
    finally:
        eng.close()
