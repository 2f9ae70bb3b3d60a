"""OkxPublicWsGateway: public market data (tickers, books5, bbo-tbt, trades, books) -> domain events.

This is the tick path: parse + dispatch are lean (no per-message logging, few allocations).
`books` keeps a LocalBook per instId; a seqId gap unsubscribes and resubscribes for a new snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import InvalidOperation
from typing import Any

import orjson

from athena.okx import parse
from athena.okx.book import LocalBook
from athena.okx.errors import ParseError
from athena.okx.ws import WsConnection

CHANNELS = ("tickers", "books5", "bbo-tbt", "trades", "books")
# InvalidOperation (Decimal("x")) and OverflowError (int(inf)) are not ValueErrors
_JSON_ERRORS = (
    orjson.JSONDecodeError,
    KeyError,
    TypeError,
    ValueError,
    IndexError,
    AttributeError,
    InvalidOperation,
    OverflowError,
)


class OkxPublicWsGateway(WsConnection):
    def __init__(
        self,
        url: str,
        instIds: Iterable[str],
        channels: Iterable[str] = ("books5", "trades"),
        on_event: Callable[[Any], None] | None = None,
        *,
        depth: int = 5,
        name: str = "okx-public",
        **ws_opts: Any,
    ) -> None:
        ws_opts.setdefault("data_watchdog", True)  # market data must keep flowing, pongs alone are a stall
        super().__init__(url, name, **ws_opts)
        self.instIds = list(instIds)
        self.channels = tuple(channels)
        for ch in self.channels:
            if ch not in CHANNELS:
                raise ValueError(f"unsupported public channel {ch!r}")
        self.on_event = on_event or (lambda _obj: None)
        self.books: dict[str, LocalBook] = {i: LocalBook(i, depth) for i in self.instIds}
        self.resyncs = 0
        self._handlers: dict[str, Callable[[dict[str, Any], dict[str, Any], list[Any]], None]] = {
            "books5": self._on_top,
            "bbo-tbt": self._on_top,
            "tickers": self._on_ticker,
            "trades": self._on_trades,
            "books": self._on_books,
        }
        self.subscribe({"channel": ch, "instId": i} for ch in self.channels for i in self.instIds)

    @property
    def state(self) -> str:
        """stopped | connecting | subscribing | ready (WsConnection.link_state)."""
        return self.link_state

    # -- dispatch -------------------------------------------------------------------------------
    def on_message(self, raw: bytes) -> None:
        try:
            msg = orjson.loads(raw)
            data = msg.get("data")
        except _JSON_ERRORS:
            self.malformed("json", raw)
            return
        if data is not None:
            try:
                arg = msg["arg"]
                handler = self._handlers[arg["channel"]]
            except _JSON_ERRORS:
                self.malformed("unknown_channel", raw)
                return
            try:
                handler(arg, msg, data)
                self.mark_healthy()
            except (ParseError, *_JSON_ERRORS):
                self.malformed(str(arg.get("channel")), raw)
            return
        event = msg.get("event")
        if event == "subscribe":
            self.stats.sub_acks += 1
            self.mark_healthy()
        elif event == "error":
            self.stats.errors[str(msg.get("code"))] += 1
            self._log_once("error:" + str(msg.get("code")), f"{self.name}: OKX error event {str(msg)[:200]}")
        elif event == "notice":  # 64008: OKX will close this connection for a service upgrade
            self.reconnect_now(f"OKX notice {msg.get('code')!s}: {str(msg.get('msg'))[:120]}")
        elif event not in ("unsubscribe", "channel-conn-count"):
            self.malformed("unexpected", raw)

    def _on_top(self, arg: dict[str, Any], msg: dict[str, Any], data: list[Any]) -> None:
        inst = arg["instId"]
        emit = self.on_event
        for d in data:
            emit(parse.book_top(d.get("instId") or inst, d))

    def _on_ticker(self, arg: dict[str, Any], msg: dict[str, Any], data: list[Any]) -> None:
        emit = self.on_event
        for d in data:
            emit(parse.ticker(d))

    def _on_trades(self, arg: dict[str, Any], msg: dict[str, Any], data: list[Any]) -> None:
        emit = self.on_event
        for d in data:
            emit(parse.trade(d))

    def _on_books(self, arg: dict[str, Any], msg: dict[str, Any], data: list[Any]) -> None:
        inst = arg["instId"]
        book = self.books.get(inst)
        if book is None:
            book = self.books[inst] = LocalBook(inst)
        snapshot = msg.get("action") == "snapshot"
        for d in data:
            try:
                if snapshot:
                    book.snapshot(d)
                elif not book.valid:
                    continue  # waiting for the snapshot after a resync
                elif int(d["seqId"]) == int(d["prevSeqId"]) == book.seqId:
                    continue  # keep-alive
                elif not book.update(d):
                    self.resync(inst)
                    return
            except (ParseError, *_JSON_ERRORS):
                # a bad snapshot/update leaves the book invalid: without a new snapshot it would wait forever
                self.resync(inst)
                raise
            self.on_event(book.top())

    def resync(self, instId: str) -> None:
        """Throw the local book away and ask for a new snapshot."""
        self.resyncs += 1
        book = self.books.get(instId)
        if book is not None:
            book.valid = False
        self.resubscribe({"channel": "books", "instId": instId})

    def on_close(self) -> None:
        for book in self.books.values():
            book.valid = False
