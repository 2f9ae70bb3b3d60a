"""One trial: a deterministic backtest of one strategy with one set of params over one period.

`run_trial` is the one place a search turns (strategy, params) into a running strategy, so a change
to how strategies are loaded (by import path, params models) touches only `strategy_settings` and
`params_model` below. Nothing here reads the wall clock: the same arguments give the same metrics on
any worker.

The backtest needs a Redis for the stack's state: each process starts its own private redis-server
on first use (dying with the process), so trials never touch the broker's Redis nor each other's
keys; ATHENA_RESEARCH_REDIS_URL names one to use instead (keys under athena:research<pid>:).
"""

from __future__ import annotations

import logging
import os
from decimal import Decimal
from typing import Any

from athena.config import StrategySettings
from athena.research.data import DataSpec, events_of, window
from athena.strategies.base import StrategyParams

_scratch: dict[str, Any] = {}  # this process's private redis-server and client


def params_model(strategy: str) -> type[StrategyParams]:
    """The params model of strategy class `strategy` (ValueError naming the known ones)."""
    from athena.strategies.registry import strategy_class

    return strategy_class(strategy, strategy).Params


def _param_value(v: Any) -> Any:
    # Floats travel as JSON numbers; the strategies' params are Decimals: Decimal(str(0.3)) is 0.3,
    # Decimal(0.3) would be 0.2999999999999999888977697537...
    return Decimal(str(v)) if isinstance(v, float) else v


def strategy_settings(strategy: str, params: dict[str, Any], instIds: list[str]) -> list[StrategySettings]:
    """One strategy per instrument, capital split evenly (as `athena backtest` without --strategies)."""
    share = (Decimal(1) / len(instIds)).quantize(Decimal("0.0001"))
    values = {k: _param_value(v) for k, v in params.items()}
    return [
        StrategySettings(
            name=f"trial{i}", cls=strategy, instIds=[instId], allocation=share, params=dict(values)
        )
        for i, instId in enumerate(instIds)
    ]


def _redis() -> Any:
    import redis

    if "client" not in _scratch:
        url = os.environ.get("ATHENA_RESEARCH_REDIS_URL", "")
        if not url:
            from athena.testing.redis_server import RedisServer

            _scratch["server"] = server = RedisServer().start()
            url = server.url
        _scratch["client"] = redis.Redis.from_url(url)
    return _scratch["client"]


def _clear(client: Any, prefix: str) -> None:
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)


def run_trial(
    data_spec: dict[str, Any], strategy: str, params: dict[str, Any], period: tuple[int, int], seed: int
) -> dict[str, Any]:
    """The backtest's figures (Decimals as strings) of `strategy` with `params` over the events of
    `data_spec` with period[0] <= ts < period[1], the sim seeded with `seed`."""
    from athena.backtest.engine import run_backtest
    from athena.backtest.report import _s
    from athena.state.keys import env_prefix

    spec = DataSpec.from_json(data_spec)
    all_events = events_of(spec)
    events = window(all_events, int(period[0]), int(period[1]))
    insts = sorted({e.instId for e in all_events})  # the whole data's: every window trades the same set
    strategies = strategy_settings(strategy, params, insts)
    env = f"research{os.getpid()}"
    client = _redis()
    athena_log = logging.getLogger("athena")
    saved = athena_log.level
    athena_log.setLevel(logging.ERROR)  # per-order warnings of hundreds of trials say nothing
    try:
        _clear(client, env_prefix(env))
        result = run_backtest(events, strategies, client, seed=seed, env=env)
    finally:
        athena_log.setLevel(saved)
        _clear(client, env_prefix(env))
    figures: dict[str, Any] = _s(result.figures())
    return figures


def close_scratch() -> None:
    """Stop this process's private redis-server (it would die with the process anyway)."""
    client, server = _scratch.pop("client", None), _scratch.pop("server", None)
    if client is not None:
        client.close()
    if server is not None:
        server.stop()
