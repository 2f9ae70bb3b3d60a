"""The sim's market history, served as OKX's history endpoints: market/history-candles,
market/history-trades, market/history-mark-price-candles and public/funding-rate-history.

- Live: every trade the Exchange records and every mark it sets are kept, bounded (the newest
  `max_trades` trades and `max_minutes` one-minute candles per instrument).
- Backfill: `backfill(seconds)` generates a seeded past that ENDS at the market's current price (the
  walk runs backwards in time), so the history joins the live market without a jump. Same seed, same
  clock: the same history, to the trade.
- Funding: settled every 8 h (00:00, 08:00, 16:00 UTC) at a rate that is a pure function of
  (seed, instId, fundingTime), so any period can be asked for without storing it.

Candles of any bar are built on request from the one-minute candles (1s bars from the trades).
Paging follows OKX: newest first, `after` = older than, `before` = newer than (alone: the newest rows).
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from athena.marketdata import bars
from athena.marketdata.bars import DAY, HOUR, MINUTE, Bar
from athena.sim.util import BadParam, s, text

if TYPE_CHECKING:
    from athena.sim.exchange import Exchange
    from athena.sim.rest import Result
    from athena.sim.server import SimServer

FUNDING_EVERY = 8 * HOUR
FUNDING_KEEP = 92 * DAY  # OKX: funding-rate-history reaches back about three months


def parse_bar(name: str) -> Bar:
    """OKX's bar names; anything else is 51000 (Parameter bar error)."""
    try:
        return bars.parse_bar(name)
    except ValueError:
        raise BadParam("bar", "51000") from None


def funding_rate(seed: int, instId: str, funding_time: int) -> Decimal:
    """The settled rate of one funding period: -0.0002 .. +0.0004, a pure function of its inputs."""
    h = hashlib.blake2b(f"{seed}:{instId}:{funding_time}".encode(), digest_size=8).digest()
    u = int.from_bytes(h, "big") * 60_000 >> 64
    return Decimal(u - 20_000).scaleb(-8)


@dataclass
class _Inst:
    ct_val: Decimal
    trades: list[tuple[int, int, str, str, str]] = field(default_factory=list)  # (tradeId, ts, px, sz, side)
    candles: list[list[Any]] = field(
        default_factory=list
    )  # [ts, o, h, l, c, vol, volCcy, volCcyQuote] per minute
    marks: list[list[Any]] = field(default_factory=list)  # [ts, o, h, l, c] per minute
    last_ts: int = 0


def _trim(rows: list[Any], keep: int) -> None:
    if len(rows) > keep + keep // 8 + 16:  # amortized: cut a slice now and then, not one row per append
        del rows[: len(rows) - keep]


class MarketHistory:
    def __init__(self, exchange: Exchange, max_trades: int = 100_000, max_minutes: int = 7 * 24 * 60) -> None:
        self.ex = exchange
        self.max_trades = max_trades
        self.max_minutes = max_minutes
        self.insts = {i: _Inst(si.inst.ctVal) for i, si in exchange.insts.items()}

    # -- recording ---------------------------------------------------------------------------
    def on_trade(self, instId: str, tradeId: int, ts: int, px: Decimal, sz: Decimal, side: str) -> None:
        h = self.insts.get(instId)
        if h is None:
            return
        ts = max(ts, h.last_ts)  # the store is in time order; a late stamp joins the newest minute
        h.last_ts = ts
        h.trades.append((tradeId, ts, str(px), s(sz), side))
        _trim(h.trades, self.max_trades)
        minute = ts - ts % MINUTE
        quote = px * sz * h.ct_val
        rows = h.candles
        if rows and rows[-1][0] == minute:
            c = rows[-1]
            c[2], c[3], c[4] = max(c[2], px), min(c[3], px), px
            c[5] += sz
            c[6] += sz * h.ct_val
            c[7] += quote
        else:
            rows.append([minute, px, px, px, px, sz, sz * h.ct_val, quote])
            _trim(rows, self.max_minutes)

    def on_mark(self, instId: str, ts: int, mark: Decimal | None) -> None:
        h = self.insts.get(instId)
        if h is None or mark is None:
            return
        minute = max(ts, h.last_ts) // MINUTE * MINUTE
        rows = h.marks
        if rows and rows[-1][0] >= minute:
            c = rows[-1]
            c[2], c[3], c[4] = max(c[2], mark), min(c[3], mark), mark
        else:
            rows.append([minute, mark, mark, mark, mark])
            _trim(rows, self.max_minutes)

    def backfill(self, seconds: int, end_ms: int | None = None) -> int:
        """Generate `seconds` of seeded history ending at end_ms (default: now) at today's prices.
        Call before any live trade is recorded. Returns the number of trades made."""
        end = (end_ms if end_ms is not None else self.ex.now()) // 1000 * 1000
        first_live = self.ex.ids._next["trade"]  # live ids continue above the backfilled ones
        made = 0
        for instId, h in self.insts.items():
            si = self.ex.insts[instId]
            m = self.ex.markets[instId]
            tick, lot = si.inst.tickSz, si.inst.lotSz
            rng = random.Random(f"{self.ex.seed}:{instId}:history")
            bid = int((m.bids[0][0] if m.bids else si.start_px) / tick)
            max_lots = max(1, int(si.depth_sz / lot / 20))
            steps: list[tuple[int, int, list[tuple[int, str, Decimal]]]] = []
            for sec in range(1, seconds + 1):  # newest second first: walk the price back in time
                ts0 = end - sec * 1000
                n = rng.choice((0, 1, 1, 2, 3))
                offs = sorted(rng.randrange(1000) for _ in range(n))
                prints = []
                for off in offs:
                    side = "buy" if rng.random() < 0.5 else "sell"
                    prints.append((ts0 + off, side, lot * rng.randint(1, max_lots)))
                steps.append((ts0, bid, prints))
                bid = max(10, bid - round(rng.gauss(0.0, si.vol_ticks * 1.5)))
            tid = first_live - sum(len(p) for _, _, p in steps)
            for ts0, b, prints in reversed(steps):
                for ts, side, sz in prints:
                    tid += 1
                    px = (b + 1) * tick if side == "buy" else b * tick
                    self.on_trade(instId, tid, ts, px, sz, side)
                    made += 1
                self.on_mark(instId, ts0, ((2 * b + 1) * tick / 2).quantize(tick))
            h.last_ts = end
        return made

    # -- views -------------------------------------------------------------------------------
    def _inst(self, instId: str) -> _Inst:
        if not instId:
            raise BadParam("instId", "50014")
        h = self.insts.get(instId)
        if h is None:
            raise BadParam("instId", "51001")
        return h

    def trades(
        self, instId: str, after: int | None, before: int | None, limit: int, by_ts: bool
    ) -> list[dict[str, str]]:
        rows = self._inst(instId).trades
        key = (lambda r: r[1]) if by_ts else (lambda r: r[0])
        hi = bisect_left(rows, after, key=key) if after is not None else len(rows)
        lo = bisect_left(rows, before + 1, key=key) if before is not None else 0
        picked = rows[max(lo, hi - limit) : hi]
        return [
            {
                "instId": instId,
                "side": side,
                "sz": sz,
                "px": px,
                "source": "0",
                "tradeId": str(tid),
                "ts": str(ts),
            }
            for tid, ts, px, sz, side in reversed(picked)
        ]

    def candles(
        self, instId: str, bar: Bar, after: int | None, before: int | None, limit: int, mark: bool = False
    ) -> list[list[str]]:
        h = self._inst(instId)
        now = self.ex.now()
        out: list[list[str]] = []
        for start, group in self._bars(h, bar, after, mark):
            if before is not None and start <= before:
                break
            o, c = group[-1][1], group[0][4]
            hi, lo = max(g[2] for g in group), min(g[3] for g in group)
            confirm = "1" if bar.next(start) <= now else "0"
            if mark:
                out.append([str(start), str(o), str(hi), str(lo), str(c), confirm])
            else:
                vol = sum((g[5] for g in group), Decimal(0))
                ccy = sum((g[6] for g in group), Decimal(0))
                quote = sum((g[7] for g in group), Decimal(0))
                out.append([str(start), str(o), str(hi), str(lo), str(c), s(vol), s(ccy), s(quote), confirm])
            if len(out) >= limit:
                break
        return out

    def _bars(
        self, h: _Inst, bar: Bar, after: int | None, mark: bool
    ) -> Iterator[tuple[int, list[list[Any]]]]:
        """(bar start, its rows newest first) for bars starting before `after`, newest bar first."""
        if bar.ms == 1000 and not mark:
            yield from self._second_bars(h, after)
            return
        if bar.ms and bar.ms < MINUTE:
            return
        rows = h.marks if mark else h.candles
        end = len(rows)
        if after is not None:  # every bar that starts before `after`, all of its minutes
            end = bisect_left(rows, bar.next(bar.start(after - 1)), key=lambda r: r[0]) if after > 0 else 0
        group: list[list[Any]] = []
        start = None
        for i in range(end - 1, -1, -1):
            r = rows[i]
            b = bar.start(r[0])
            if start is not None and b != start:
                yield start, group
                group = []
            start = b
            group.append(r)
        if start is not None and group:
            yield start, group

    @staticmethod
    def _second_bars(h: _Inst, after: int | None) -> Iterator[tuple[int, list[list[Any]]]]:
        """1s bars straight from the trades, newest first (only as far back as the trades are kept)."""
        trades = h.trades
        end = len(trades)
        if after is not None:  # up to the end of the second that holds after - 1
            end = (
                bisect_left(trades, (after - 1) // 1000 * 1000 + 1000, key=lambda r: r[1]) if after > 0 else 0
            )
        row: list[Any] | None = None
        for i in range(end - 1, -1, -1):
            _tid, ts, px_s, sz_s, _side = trades[i]
            px, sz = Decimal(px_s), Decimal(sz_s)
            sec = ts - ts % 1000
            if row is not None and row[0] != sec:
                yield row[0], [row]
                row = None
            if row is None:  # walking backwards: the first trade seen is the close
                row = [sec, px, px, px, px, sz, sz * h.ct_val, px * sz * h.ct_val]
            else:
                row[1], row[2], row[3] = px, max(row[2], px), min(row[3], px)
                row[5] += sz
                row[6] += sz * h.ct_val
                row[7] += px * sz * h.ct_val
        if row is not None:
            yield row[0], [row]

    def funding(self, instId: str, after: int | None, before: int | None, limit: int) -> list[dict[str, str]]:
        self._inst(instId)
        now = self.ex.now()
        newest = now // FUNDING_EVERY * FUNDING_EVERY
        oldest = newest - FUNDING_KEEP
        t = newest if after is None else min(newest, (after - 1) // FUNDING_EVERY * FUNDING_EVERY)
        floor = oldest if before is None else max(oldest, before + 1)
        out: list[dict[str, str]] = []
        while t >= floor and len(out) < limit:
            r = str(funding_rate(self.ex.seed, instId, t))
            out.append(
                {
                    "instType": "SWAP",
                    "instId": instId,
                    "formulaType": "withRate",
                    "fundingRate": r,
                    "realizedRate": r,
                    "fundingTime": str(t),
                    "method": "current_period",
                }
            )
            t -= FUNDING_EVERY
        return out

    def funding_now(self, instId: str) -> dict[str, Any]:
        """The funding-rate channel's push: the rate of the period that settles next."""
        now = self.ex.now()
        nxt = (now // FUNDING_EVERY + 1) * FUNDING_EVERY
        return {
            "instType": "SWAP",
            "instId": instId,
            "method": "current_period",
            "formulaType": "withRate",
            "fundingRate": str(funding_rate(self.ex.seed, instId, nxt)),
            "fundingTime": str(nxt),
            "nextFundingRate": "",
            "nextFundingTime": str(nxt + FUNDING_EVERY),
            "ts": str(now),
        }


# -- REST handlers ------------------------------------------------------------------------------
def _int(q: dict[str, str], key: str) -> int | None:
    v = text(q, key)
    if not v:
        return None
    if not v.isdigit():
        raise BadParam(key, "51000")
    return int(v)


def _limit(q: dict[str, str], default: int, cap: int) -> int:
    n = _int(q, "limit")
    return default if n is None else max(1, min(n, cap))


def _hist(srv: SimServer) -> MarketHistory:
    h = srv.exchange.history
    assert h is not None  # SimServer always gives its Exchange a history
    return h


def h_history_candles(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    bar = parse_bar(text(q, "bar", "1m") or "1m")
    rows = _hist(srv).candles(
        text(q, "instId"), bar, _int(q, "after"), _int(q, "before"), _limit(q, 100, 300)
    )
    return "0", "", rows


def h_history_mark_candles(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    bar = parse_bar(text(q, "bar", "1m") or "1m")
    if bar.ms and bar.ms < MINUTE:
        raise BadParam("bar", "51000")  # mark-price candles start at 1m
    rows = _hist(srv).candles(
        text(q, "instId"), bar, _int(q, "after"), _int(q, "before"), _limit(q, 100, 100), mark=True
    )
    return "0", "", rows


def h_history_trades(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    kind = text(q, "type", "1") or "1"
    if kind not in ("1", "2"):
        raise BadParam("type", "51000")
    before = _int(q, "before")
    if kind == "2" and before is not None:
        raise BadParam("before", "51000")  # OKX: `before` pages by tradeId only
    rows = _hist(srv).trades(
        text(q, "instId"), _int(q, "after"), before, _limit(q, 100, 100), by_ts=kind == "2"
    )
    return "0", "", rows


def h_funding_history(srv: SimServer, q: dict[str, str], body: Any) -> Result:
    rows = _hist(srv).funding(text(q, "instId"), _int(q, "after"), _int(q, "before"), _limit(q, 400, 400))
    return "0", "", rows
