"""UpstreamFeed: the paper venue's connection to a public OKX WebSocket (OKX itself, or any
OKX-compatible public URL such as another `athena sim`), run on the sim server's event loop.

It subscribes `books` (400 levels, seqId chain and checksum checked by athena.marketdata.book's
ChecksumBook), `trades`, `mark-price` and `funding-rate` for each instrument, and feeds the
PaperExchange. Staleness, and what it does:

- a seqId gap, a checksum mismatch or a malformed book: that instrument is stale at once (its venue
  book emptied: nothing fills) and its `books` subscription is renewed (unsubscribe + subscribe), so
  the next snapshot rebuilds it;
- the connection drops, or nothing arrives for `silence_s` (OKX sends at least a books keep-alive every
  ~25-30 s, and answers our text pings): every instrument is stale, and the feed reconnects (backoff
  0.5 s doubling to 5 s) and subscribes again; each book comes back with its snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from athena.marketdata.book import OK, ChecksumBook
from athena.sim.models import Level
from athena.sim.paper import PaperExchange

log = logging.getLogger("athena.sim.upstream")
BOOK_LEVELS = 400
PING_S = 15.0  # OKX closes a connection that sent nothing for 30 s


class UpstreamFeed:
    def __init__(self, exchange: PaperExchange, ws_url: str, silence_s: float = 35.0) -> None:
        self.ex = exchange
        self.ws_url = ws_url
        self.silence_s = silence_s
        self.inst_ids = list(exchange.insts)
        self.books: dict[str, ChecksumBook] = {}
        self.connects = 0
        self.resyncs: dict[str, int] = dict.fromkeys(self.inst_ids, 0)  # book resubscriptions per instrument
        self.connected = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    def view(self) -> dict[str, Any]:
        return {
            "ws_url": self.ws_url,
            "connected": self.connected,
            "connects": self.connects,
            "resyncs": dict(self.resyncs),
            "seqId": {i: b.seqId for i, b in self.books.items()},
        }

    def _args(self, channels: tuple[str, ...]) -> list[dict[str, str]]:
        return [{"channel": ch, "instId": i} for i in self.inst_ids for ch in channels]

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.ws_connect(self.ws_url, heartbeat=None, autoping=True, max_msg_size=0) as ws,
                ):
                    self._ws = ws
                    self.connected = True
                    self.connects += 1
                    backoff = 0.5
                    self.books = {i: ChecksumBook(i) for i in self.inst_ids}
                    await ws.send_str(
                        orjson.dumps(
                            {
                                "op": "subscribe",
                                "args": self._args(("books", "trades", "mark-price", "funding-rate")),
                            }
                        ).decode()
                    )
                    await self._read(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any network failure: stale, then reconnect
                log.warning("upstream %s: %s", self.ws_url, type(exc).__name__)
            finally:
                self._ws = None
                self.connected = False
                for inst_id in self.inst_ids:
                    self.ex.set_stale(inst_id)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        pinger = asyncio.ensure_future(self._ping(ws))
        try:
            while True:
                msg = await ws.receive(timeout=self.silence_s)  # silence: asyncio.TimeoutError -> reconnect
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return  # closed or error
                if msg.data == "pong":
                    continue
                await self.on_message(orjson.loads(msg.data))
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger

    @staticmethod
    async def _ping(ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(PING_S)
            await ws.send_str("ping")

    async def on_message(self, m: dict[str, Any]) -> None:
        if "event" in m:
            if m["event"] == "error":
                log.warning("upstream %s: %s %s", self.ws_url, m.get("code"), m.get("msg"))
            return
        arg, data = m.get("arg") or {}, m.get("data") or []
        ch, inst_id = arg.get("channel"), arg.get("instId", "")
        if inst_id not in self.ex.insts:
            return
        if ch == "books":
            for d in data:
                await self._book(inst_id, d, m.get("action") == "snapshot")
        elif ch == "trades":
            for d in data:
                self.ex.upstream_trade(inst_id, Decimal(d["px"]), Decimal(d["sz"]), d["side"], _ts(d))
        elif ch == "mark-price":
            for d in data:
                if d.get("markPx"):
                    self.ex.upstream_mark(inst_id, Decimal(d["markPx"]))
        elif ch == "funding-rate":
            for d in data:
                self.ex.upstream_funding[inst_id] = dict(d)

    async def _book(self, inst_id: str, d: dict[str, Any], snapshot: bool) -> None:
        book = self.books.setdefault(inst_id, ChecksumBook(inst_id))
        result = book.apply(d, snapshot)
        if result == OK:
            top = book.top(BOOK_LEVELS)
            bids: list[Level] = [(lv.px, lv.sz, lv.count or 1) for lv in top.bids]
            asks: list[Level] = [(lv.px, lv.sz, lv.count or 1) for lv in top.asks]
            self.ex.upstream_book(inst_id, bids, asks, top.ts or None)
            return
        if inst_id in self.ex.stale and not snapshot:
            return  # already resyncing: updates until the new snapshot are dropped
        log.warning("upstream %s: %s book %s, resubscribing", self.ws_url, inst_id, result)
        self.ex.set_stale(inst_id)
        self.resyncs[inst_id] += 1
        ws = self._ws
        if ws is not None and not ws.closed:
            arg = [{"channel": "books", "instId": inst_id}]
            await ws.send_str(orjson.dumps({"op": "unsubscribe", "args": arg}).decode())
            await ws.send_str(orjson.dumps({"op": "subscribe", "args": arg}).decode())


def _ts(d: dict[str, Any]) -> int | None:
    raw = d.get("ts")
    return int(raw) if raw not in (None, "") else None
