"""Market data that drives the Exchange: a seeded synthetic feed, and replay of recorded OKX pushes.

Synthetic model per instrument, in integer ticks (no floats touch prices): the mid does a random walk
whose step has a component predicted by the order-flow imbalance shown on the previous step (the book's
bid/ask size tilt and the taker-side mix of trades), plus noise; spreads are 1-4 ticks; depth grows
away from the touch.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from athena.sim.book import L2Book, make_book
from athena.sim.exchange import Exchange

_D2: dict[float, Decimal] = {}  # round(x, 2) -> Decimal(str(...)): a few hundred values, built once each


def _d2(x: float) -> Decimal:
    r = round(x, 2)
    d = _D2.get(r)
    if d is None:
        d = _D2[r] = Decimal(str(r))
    return d


class SyntheticMarket:
    def __init__(
        self,
        exchange: Exchange,
        seed: int = 7,
        inst_ids: list[str] | None = None,
        trades_per_step: int = 2,
        predictive: float = 0.35,
    ) -> None:
        self.ex = exchange
        self.rng = random.Random(seed)
        self.inst_ids = inst_ids or list(exchange.insts)
        self.trades_per_step = trades_per_step
        self.predictive = predictive  # share of the next move explained by the current imbalance
        self.imbalance = dict.fromkeys(self.inst_ids, 0.0)
        self.steps = 0

    def step(self) -> None:
        for inst_id in self.inst_ids:
            self._step_one(inst_id)
        self.steps += 1

    def _step_one(self, inst_id: str) -> None:
        ex, rng = self.ex, self.rng
        si = ex.insts[inst_id]
        tick, lot = si.inst.tickSz, si.inst.lotSz
        m = ex.markets[inst_id]
        ref = m.mid or m.last or si.start_px
        mid_ticks = int(ref / tick)
        prev = self.imbalance[inst_id]
        noise = rng.gauss(0.0, si.vol_ticks * (1 - self.predictive))
        move = round(noise + prev * si.vol_ticks * self.predictive * 2)
        mid_ticks = max(10, mid_ticks + move)
        imb = max(-1.0, min(1.0, prev * 0.6 + rng.gauss(0.0, 0.5)))
        self.imbalance[inst_id] = imb
        spread = 1 + (rng.randint(1, 3) if rng.random() < 0.25 else 0)
        scale = _d2(rng.uniform(0.6, 1.4))
        bw = _d2(1 + 0.6 * imb)
        aw = _d2(1 - 0.6 * imb)
        bids, asks = make_book(
            mid_ticks,
            tick,
            lot,
            si.depth_sz * scale,
            levels=25,
            spread_ticks=spread,
            bid_weight=bw,
            ask_weight=aw,
        )
        ex.on_book(inst_id, bids, asks)
        for _ in range(rng.randint(0, self.trades_per_step)):
            side = "buy" if rng.random() < 0.5 + 0.3 * imb else "sell"
            book = ex.markets[inst_id].asks if side == "buy" else ex.markets[inst_id].bids
            if not book:
                continue
            sz = lot * rng.randint(1, max(1, int(si.depth_sz / lot / 20)))
            ex.on_trade(inst_id, book[0][0], sz, side)


def _levels(rows: list[list[str]]) -> list[tuple[Decimal, Decimal, int]]:
    return [
        (Decimal(r[0]), Decimal(r[1]), int(r[3]) if len(r) > 3 and str(r[3]).isdigit() else 1) for r in rows
    ]


class Replay:
    """Feed recorded OKX public pushes (one push JSON per line) into the Exchange."""

    def __init__(self, exchange: Exchange) -> None:
        self.ex = exchange
        self.books: dict[str, L2Book] = {}

    def apply(self, msg: dict[str, Any]) -> bool:
        arg, data = msg.get("arg") or {}, msg.get("data") or []
        ch, inst_id = arg.get("channel", ""), arg.get("instId", "")
        if inst_id not in self.ex.insts or not data:
            return False
        for d in data:
            ts = int(d["ts"]) if d.get("ts") else None
            if ch == "books" or (ch.startswith("books") and "l2-tbt" in ch):
                book = self.books.setdefault(inst_id, L2Book())
                book.apply(d, msg.get("action") == "snapshot")
                bids, asks = book.levels()
                self.ex.on_book(inst_id, bids, asks, ts)
            elif ch in ("books5", "bbo-tbt"):
                self.ex.on_book(inst_id, _levels(d.get("bids", [])), _levels(d.get("asks", [])), ts)
            elif ch == "trades":
                self.ex.on_trade(inst_id, Decimal(d["px"]), Decimal(d["sz"]), d["side"], ts)
            elif ch == "tickers":
                bids = [(Decimal(d["bidPx"]), Decimal(d["bidSz"]), 1)] if d.get("bidPx") else []
                asks = [(Decimal(d["askPx"]), Decimal(d["askSz"]), 1)] if d.get("askPx") else []
                self.ex.on_book(inst_id, bids, asks, ts)
            elif ch == "mark-price" and d.get("markPx"):
                self.ex.set_mark(inst_id, Decimal(d["markPx"]))
            else:
                return False
        return True

    def run(self, lines: Iterable[str | bytes]) -> int:
        n = 0
        for line in lines:
            if line and line.strip():
                n += self.apply(orjson.loads(line))
        return n


def read_jsonl(path: str | Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        yield from fh
