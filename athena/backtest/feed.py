"""Market data for the backtest: OKX public push JSON lines (books5 / books / bbo-tbt / trades), parsed
into (ts, BookTop | Trade) events in file order. Lines that are not data pushes (subscribe acks,
blank lines) are skipped; a malformed data line raises FeedError naming the line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from athena.domain import BookTop, Trade
from athena.okx import parse

BOOK_CHANNELS = ("books5", "books", "bbo-tbt", "books-l2-tbt", "books50-l2-tbt")


class FeedError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class MarketEvent:
    ts: int
    instId: str
    book: BookTop | None = None
    trade: Trade | None = None


def events_from_push(msg: dict[str, Any]) -> list[MarketEvent]:
    arg, data = msg.get("arg") or {}, msg.get("data")
    if not isinstance(data, list):
        return []
    channel, instId = arg.get("channel"), arg.get("instId", "")
    out: list[MarketEvent] = []
    if channel in BOOK_CHANNELS:
        for d in data:
            book = parse.book_top(instId, d)
            out.append(MarketEvent(book.ts, instId, book=book))
    elif channel == "trades":
        for d in data:
            t = parse.trade(d)
            out.append(MarketEvent(t.ts, t.instId, trade=t))
    return out


def read_lines(lines: Iterable[str], origin: str = "<lines>") -> Iterator[MarketEvent]:
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
            yield from events_from_push(msg)
        except Exception as exc:
            raise FeedError(f"{origin}:{n}: {exc}") from None


def read_jsonl(path: Path | str) -> list[MarketEvent]:
    path = Path(path)
    with path.open() as f:
        return list(read_lines(f, str(path)))
