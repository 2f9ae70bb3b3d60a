"""A seeded synthetic market in OKX push format (books5 + trades), for `--synthetic` and the sample file.

A hidden regime (up / flat / down) persists for a while; the book leans and takers trade with it and
the mid drifts its way, so an imbalance + flow strategy has something real to find. Integer ticks
and Decimal sizes only; random.Random(seed) makes every run identical.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from athena.domain import fmt
from athena.sim.instruments import SimInstrument, default_instruments

STEP_MS = 100
LEVELS = 5


def _instrument(instId: str, sims: Sequence[SimInstrument] | None = None) -> SimInstrument:
    for si in sims if sims is not None else default_instruments():
        if si.instId == instId:
            return si
    raise ValueError(f"no synthetic parameters for {instId}")


def synthetic_pushes(
    seed: int,
    duration_s: int = 600,
    instIds: tuple[str, ...] = ("BTC-USDT-SWAP",),
    start_ms: int = 1_700_000_000_000,
    sims: Sequence[SimInstrument] | None = None,
) -> Iterator[dict[str, Any]]:
    """OKX push messages in time order: one books5 per instrument per 100 ms, trades in between.
    sims: the instrument table (default: the sim's own)."""
    rng = random.Random(seed)
    state = {}
    for instId in instIds:
        si = _instrument(instId, sims)
        state[instId] = {
            "si": si,
            "mid": int(si.start_px / si.inst.tickSz),
            "regime": 0,
            "trade": 0,
            "seq": 0,
        }
    for step in range(duration_s * 1000 // STEP_MS):
        ts = start_ms + step * STEP_MS
        for instId in instIds:
            st = state[instId]
            yield from _step(rng, st, instId, ts)


def _step(rng: random.Random, st: dict[str, Any], instId: str, ts: int) -> Iterator[dict[str, Any]]:
    si: SimInstrument = st["si"]
    tick, lot = si.inst.tickSz, si.inst.lotSz
    if rng.random() < 0.01:
        st["regime"] = rng.choice((-1, 0, 0, 1))
    regime = st["regime"]
    v = max(1, si.vol_ticks // 4)
    move = rng.randint(-v, v) + (regime * rng.randint(0, v) if rng.random() < 0.3 else 0)
    st["mid"] = max(100, st["mid"] + move)
    bid_t = st["mid"]
    ask_t = bid_t + (1 if rng.random() < 0.85 else rng.randint(2, 4))
    depth = int(si.depth_sz)
    lean = Decimal(1) + Decimal(regime) * Decimal("0.8") * Decimal(rng.randint(5, 10)) / 10

    def size(bias: Decimal) -> str:
        raw = Decimal(rng.randint(depth // 4, depth)) * bias
        return fmt(max(lot, (raw / lot).quantize(Decimal(1)) * lot))

    bids = [[fmt((bid_t - i) * tick), size(lean), "0", str(rng.randint(1, 9))] for i in range(LEVELS)]
    asks = [[fmt((ask_t + i) * tick), size(2 - lean), "0", str(rng.randint(1, 9))] for i in range(LEVELS)]
    st["seq"] += 1
    yield {
        "arg": {"channel": "books5", "instId": instId},
        "data": [{"asks": asks, "bids": bids, "instId": instId, "ts": str(ts), "seqId": st["seq"]}],
    }
    n = rng.choice((0, 0, 1, 1, 2))
    if n:
        trades = []
        for k in range(n):
            up = rng.random() < (0.5 + 0.3 * regime)
            st["trade"] += 1
            px = (ask_t if up else bid_t) * tick
            sz = Decimal(rng.randint(1, max(1, depth // 5))) * lot * 10
            trades.append(
                {
                    "instId": instId,
                    "tradeId": str(st["trade"]),
                    "px": fmt(px),
                    "sz": fmt(sz),
                    "side": "buy" if up else "sell",
                    "ts": str(ts + 1 + k),
                }
            )
        yield {"arg": {"channel": "trades", "instId": instId}, "data": trades}
