"""Public market side of the Exchange: market book/trade/mark inputs, REST views, public pushes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from athena.sim.book import checksum, make_book
from athena.sim.models import ZERO, Level, Market
from athena.sim.state import ExchangeState
from athena.sim.util import BadParam, s


def _lv(levels: list[Level], n: int) -> list[list[str]]:
    return [[str(px), str(sz), "0", str(k)] for px, sz, k in levels[:n]]


class PublicMixin(ExchangeState):
    # Hooks implemented by the order side / algos.
    def match_resting_book(self, inst_id: str) -> None: ...
    def match_resting_trade(self, inst_id: str, px: Decimal, sz: Decimal, side: str) -> None: ...
    def after_price_change(self, inst_id: str) -> None: ...
    def flush(self) -> None: ...

    # -- inputs ----------------------------------------------------------------------------
    def on_book(self, inst_id: str, bids: list[Level], asks: list[Level], ts: int | None = None) -> None:
        """Replace the synthetic market book (bids descending, asks ascending; sizes in contracts)."""
        m = self.markets[inst_id]
        m.bids, m.asks = list(bids), list(asks)
        m.ts = ts or self.now()
        if not m.mark_pinned and m.bids and m.asks:
            m.mark = ((m.bids[0][0] + m.asks[0][0]) / 2).quantize(self.insts[inst_id].inst.tickSz)
        if self.history is not None:
            self.history.on_mark(inst_id, m.ts, m.mark)
        self._dirty_mkt.add(inst_id)
        self.match_resting_book(inst_id)
        self.after_price_change(inst_id)
        self.flush()

    def on_trade(self, inst_id: str, px: Decimal, sz: Decimal, side: str, ts: int | None = None) -> None:
        """A market trade (side = taker side). Fills Athena's resting orders that it trades through."""
        self.record_trade(inst_id, px, sz, side, ts)
        self.match_resting_trade(inst_id, px, sz, side)
        self.after_price_change(inst_id)
        self.flush()

    def on_market(self, book: Any = None, trade: Any = None) -> None:
        """Drive prices from domain BookTop / Trade objects."""
        if book is not None:
            bids = [(lv.px, lv.sz, lv.count or 1) for lv in book.bids]
            asks = [(lv.px, lv.sz, lv.count or 1) for lv in book.asks]
            self.on_book(book.instId, bids, asks, book.ts or None)
        if trade is not None:
            self.on_trade(trade.instId, trade.px, trade.sz, trade.side, trade.ts or None)

    def set_mark(self, inst_id: str, px: Decimal | None) -> None:
        """Pin the mark price (None unpins: mark follows the mid again)."""
        m = self.markets[inst_id]
        m.mark_pinned = px is not None
        m.mark = px if px is not None else m.mid
        if self.history is not None:
            self.history.on_mark(inst_id, self.now(), m.mark)
        self._dirty_mkt.add(inst_id)
        self.after_price_change(inst_id)
        self.flush()

    def set_price(self, inst_id: str, px: Decimal, mark: Decimal | None = None) -> None:
        """Move the market to px: a fresh book around it, a trade at px, mark = px (or the given mark)."""
        si = self.insts[inst_id]
        tick = si.inst.tickSz
        px = px.quantize(tick)
        bids, asks = make_book(int(px / tick), tick, si.inst.lotSz, si.depth_sz, spread_ticks=2)
        m = self.markets[inst_id]
        m.bids, m.asks = bids, asks
        m.mark_pinned = mark is not None
        m.mark = mark if mark is not None else px
        if self.history is not None:
            self.history.on_mark(inst_id, self.now(), m.mark)
        self._dirty_mkt.add(inst_id)
        self.match_resting_book(inst_id)
        self.record_trade(inst_id, px, si.inst.minSz, "buy", None)
        self.after_price_change(inst_id)
        self.flush()

    def record_trade(self, inst_id: str, px: Decimal, sz: Decimal, side: str, ts: int | None) -> None:
        m = self.markets[inst_id]
        ts = ts or self.now()
        m.last, m.lastSz, m.ts = px, sz, ts
        if m.open24h is None:
            m.open24h = px
        m.high24h = px if m.high24h is None else max(m.high24h, px)
        m.low24h = px if m.low24h is None else min(m.low24h, px)
        m.vol24h += sz
        m.volCcy24h += sz * self.insts[inst_id].inst.coin_per_contract
        m.trade_seq += 1
        t: dict[str, Any] = {
            "instId": inst_id,
            "tradeId": self.ids.new("trade"),
            "px": str(px),
            "sz": s(sz),
            "side": side,
            "ts": str(ts),
            "count": "1",
            "source": "0",
            "seqId": m.trade_seq,
        }
        m.trades.appendleft(t)
        if self.history is not None:
            self.history.on_trade(inst_id, int(t["tradeId"]), ts, px, sz, side)
        self._trades_out.setdefault(inst_id, []).append(t)
        self._dirty_mkt.add(inst_id)

    # -- views -----------------------------------------------------------------------------
    def market(self, inst_id: str) -> Market:
        m = self.markets.get(inst_id)
        if m is None:
            raise BadParam("instId", "51001")
        return m

    def ticker_json(self, inst_id: str) -> dict[str, Any]:
        m = self.market(inst_id)
        ts = str(m.ts or self.now())
        open24h = s(m.open24h)  # also sodUtc0 / sodUtc8: format it once (this runs on every ticker push)
        return {
            "instType": "SWAP",
            "instId": inst_id,
            "last": s(m.last),
            "lastSz": s(m.lastSz),
            "askPx": s(m.best_ask),
            "askSz": str(m.asks[0][1]) if m.asks else "",
            "bidPx": s(m.best_bid),
            "bidSz": str(m.bids[0][1]) if m.bids else "",
            "open24h": open24h,
            "high24h": s(m.high24h),
            "low24h": s(m.low24h),
            "volCcy24h": s(m.volCcy24h),
            "vol24h": s(m.vol24h),
            "sodUtc0": open24h,
            "sodUtc8": open24h,
            "ts": ts,
        }

    def books_json(self, inst_id: str, sz: int = 1) -> dict[str, Any]:
        m = self.market(inst_id)
        n = max(1, min(sz, 400))
        return {"asks": _lv(m.asks, n), "bids": _lv(m.bids, n), "ts": str(m.ts or self.now())}

    def trades_json(self, inst_id: str, limit: int = 100) -> list[dict[str, str]]:
        m = self.market(inst_id)
        out = []
        for t in list(m.trades)[: max(1, min(limit, 500))]:
            out.append({k: t[k] for k in ("instId", "side", "sz", "px", "tradeId", "ts", "source")})
        return out

    def funding_json(self, inst_id: str) -> dict[str, Any]:
        """The funding-rate channel's push (the rate of the period that settles next)."""
        self.market(inst_id)
        if self.history is None:
            raise BadParam("instId", "51001")
        return self.history.funding_now(inst_id)

    def push_funding(self) -> None:
        """OKX pushes funding-rate every 30-90 s: one push per subscribed instrument."""
        if self.history is None:
            return
        for inst_id in self.markets:
            if self.wants("funding-rate", inst_id):
                self.emit(
                    "funding-rate",
                    {"channel": "funding-rate", "instId": inst_id},
                    [self.funding_json(inst_id)],
                )

    def mark_json(self, inst_id: str) -> dict[str, Any]:
        return {
            "instType": "SWAP",
            "instId": inst_id,
            "markPx": s(self.mark_of(inst_id)),
            "ts": str(self.now()),
        }

    def mark_of(self, inst_id: str) -> Decimal | None:
        m = self.markets[inst_id]
        return m.mark if m.mark is not None else m.mid

    def books_snapshot(self, inst_id: str) -> dict[str, Any]:
        """The `books` channel snapshot for a new subscriber; updates chain from its seqId."""
        m = self.market(inst_id)
        if not self.wants("books", inst_id) or not m.sent_book.get("synced"):
            m.seq += 1
            m.sent_book = self._book_state(m)
            m.sent_book["synced"] = {}
        m.books_ms = self.now()
        bids, asks = _lv(m.bids, 400), _lv(m.asks, 400)
        return {
            "asks": asks,
            "bids": bids,
            "ts": str(m.ts or self.now()),
            "checksum": checksum(bids, asks),
            "prevSeqId": -1,
            "seqId": m.seq,
        }

    @staticmethod
    def _book_state(m: Market) -> dict[str, dict[str, str]]:
        return {
            "bids": {str(p): f"{sz}|{k}" for p, sz, k in m.bids[:400]},
            "asks": {str(p): f"{sz}|{k}" for p, sz, k in m.asks[:400]},
        }

    # -- pushes ----------------------------------------------------------------------------
    def flush_public(self) -> None:
        if self._trades_out:
            outs, self._trades_out = self._trades_out, {}
            for inst_id, trades in outs.items():
                if self.wants("trades", inst_id):
                    self.emit("trades", {"channel": "trades", "instId": inst_id}, trades)
        if not self._dirty_mkt:
            return
        dirty, self._dirty_mkt = self._dirty_mkt, set()
        for inst_id in dirty:
            m = self.markets[inst_id]
            ts = str(m.ts or self.now())
            if self.wants("books", inst_id) and m.sent_book.get("synced") is not None:
                self._emit_books_update(m, ts)  # advances seqId when the book changed
            else:
                m.sent_book = {"bids": {}, "asks": {}}
                m.seq += 1  # seqId still advances per change for books5 / bbo-tbt
            if self.wants("tickers", inst_id):
                self.emit("tickers", {"channel": "tickers", "instId": inst_id}, [self.ticker_json(inst_id)])
            if self.wants("books5", inst_id):
                self.emit(
                    "books5",
                    {"channel": "books5", "instId": inst_id},
                    [
                        {
                            "asks": _lv(m.asks, 5),
                            "bids": _lv(m.bids, 5),
                            "instId": inst_id,
                            "ts": ts,
                            "seqId": m.seq,
                        }
                    ],
                )
            if self.wants("bbo-tbt", inst_id):
                self.emit(
                    "bbo-tbt",
                    {"channel": "bbo-tbt", "instId": inst_id},
                    [{"asks": _lv(m.asks, 1), "bids": _lv(m.bids, 1), "ts": ts, "seqId": m.seq}],
                )
            if self.wants("mark-price", inst_id):
                self.emit(
                    "mark-price", {"channel": "mark-price", "instId": inst_id}, [self.mark_json(inst_id)]
                )

    def _emit_books_update(self, m: Market, ts: str, force: bool = False) -> None:
        new = self._book_state(m)
        delta: dict[str, list[list[str]]] = {}
        for side in ("bids", "asks"):
            old, cur = m.sent_book[side], new[side]
            ch = []
            for px, v in cur.items():
                if old.get(px) != v:
                    sz, k = v.split("|")
                    ch.append([px, sz, "0", k])
            ch += [[px, "0", "0", "0"] for px in old if px not in cur]
            ch.sort(key=lambda lv: Decimal(lv[0]), reverse=side == "bids")
            delta[side] = ch
        prev = m.seq
        if delta["bids"] or delta["asks"]:
            m.seq += 1
        elif not force:
            return
        new["synced"] = {}
        m.sent_book = new
        m.books_ms = self.now()
        bids, asks = _lv(m.bids, 25), _lv(m.asks, 25)
        self.emit(
            "books",
            {"channel": "books", "instId": m.instId},
            [
                {
                    "asks": delta["asks"],
                    "bids": delta["bids"],
                    "ts": ts,
                    "checksum": checksum(bids, asks),
                    "prevSeqId": prev,
                    "seqId": m.seq,
                }
            ],
        )

    def keepalive_books(self, quiet_ms: int) -> None:
        """OKX's idle keep-alive: an empty update (seqId == prevSeqId) for each subscribed book that has sent
        nothing for quiet_ms; a book that changes keeps sending updates instead."""
        now = self.now()
        for inst_id, m in self.markets.items():
            if (
                now - m.books_ms >= quiet_ms
                and self.wants("books", inst_id)
                and m.sent_book.get("synced") is not None
            ):
                self._emit_books_update(m, str(now), force=True)

    def top_price(self, inst_id: str) -> Decimal:
        m = self.markets[inst_id]
        return m.mid or m.last or ZERO
