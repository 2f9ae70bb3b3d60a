"""Tardis.dev CSV datasets of OKX perpetual swaps (exchange id `okex-swap`), read as OKX pushes.

Layouts, as tardis documents them (https://docs.tardis.dev/downloadable-csv-files); timestamps are
microseconds since the epoch, `timestamp` the exchange's and `local_timestamp` tardis's receive time:
- trades: exchange,symbol,timestamp,local_timestamp,id,side,price,amount -> `trades` pushes
- book_snapshot_5 / book_snapshot_25: exchange,symbol,timestamp,local_timestamp, then per level i
  asks[i].price,asks[i].amount,bids[i].price,bids[i].amount (empty when the book has fewer levels)
  -> `books5` pushes (5 levels) or `books` snapshots (25)
- incremental_book_L2: exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount
  (side bid/ask, amount 0 deletes the level; rows of one timestamp form one message; is_snapshot rows
  after updates start a new book) -> `books` snapshot / update pushes (no seqId, no checksum)
- derivative_ticker: exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,
  predicted_funding_rate,open_interest,last_price,index_price,mark_price -> `mark-price` and
  `funding-rate` pushes when the value changes

Amounts: for okex-swap tardis passes OKX's own `sz`, i.e. CONTRACTS (BTC-USDT-SWAP: 1 contract =
0.01 BTC); that is the default (`amount_unit="contracts"`). A dataset in coin units
(`amount_unit="coin"`) is divided by the instrument's ctVal. Symbols are OKX instIds (BTC-USDT-SWAP).
Every row is checked; an error names the file, the line and what was expected.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from athena.domain import fmt

EXCHANGE = "okex-swap"
HEAD = ["exchange", "symbol", "timestamp", "local_timestamp"]
TRADES = [*HEAD, "id", "side", "price", "amount"]
INCREMENTAL = [*HEAD, "is_snapshot", "side", "price", "amount"]
DERIVATIVE = [
    *HEAD,
    "funding_timestamp",
    "funding_rate",
    "predicted_funding_rate",
    "open_interest",
    "last_price",
    "index_price",
    "mark_price",
]
# merge order when rows of several files share a timestamp: marks first, then books, then trades
RANK = {"derivative_ticker": 0, "incremental_book_L2": 1, "book_snapshot": 1, "trades": 2}

Item = tuple[int, str, int, dict[str, Any]]  # (exchange ts in µs, file, line, OKX push)


class TardisError(ValueError):
    pass


def snapshot_columns(n: int) -> list[str]:
    cols = list(HEAD)
    for i in range(n):
        cols += [f"asks[{i}].price", f"asks[{i}].amount", f"bids[{i}].price", f"bids[{i}].amount"]
    return cols


def layout(header: list[str]) -> tuple[str, int]:
    """(layout name, levels) of a header; TardisError naming the known layouts otherwise."""
    if header == TRADES:
        return "trades", 0
    if header == INCREMENTAL:
        return "incremental_book_L2", 0
    if header == DERIVATIVE:
        return "derivative_ticker", 0
    n = (len(header) - len(HEAD)) // 4
    if n > 0 and header == snapshot_columns(n):
        return "book_snapshot", n
    raise TardisError(
        "expected a Tardis CSV header: trades ("
        + ",".join(TRADES)
        + "), book_snapshot_N ("
        + ",".join(snapshot_columns(1))
        + ",...), incremental_book_L2 ("
        + ",".join(INCREMENTAL)
        + ") or derivative_ticker ("
        + ",".join(DERIVATIVE)
        + ")"
    )


def _open(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def header_of(path: Path) -> list[str] | None:
    """The first CSV row of a file, or None when it is not a readable CSV."""
    try:
        with _open(path) as fh:
            return next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, EOFError, csv.Error):
        return None


class _Rows:
    """Checked access to one CSV row: errors name the file, line and column."""

    def __init__(self, path: Path, ct_vals: dict[str, Decimal], amount_unit: str) -> None:
        self.path, self.ct_vals, self.amount_unit = path, ct_vals, amount_unit
        self.line = 0
        self.row: dict[str, str] = {}

    def fail(self, what: str) -> TardisError:
        return TardisError(f"{self.path}:{self.line}: {what}")

    def common(self) -> tuple[str, int]:
        r = self.row
        if r["exchange"] != EXCHANGE:
            raise self.fail(f"expected exchange {EXCHANGE} (OKX perpetual swaps), got {r['exchange']!r}")
        symbol = r["symbol"].upper()
        if not symbol.endswith("-SWAP"):
            raise self.fail(f"expected an OKX swap symbol like BTC-USDT-SWAP, got {r['symbol']!r}")
        return symbol, self.micros("timestamp")

    def micros(self, col: str) -> int:
        v = self.row[col]
        if not v.isdigit():
            raise self.fail(f"expected {col} in microseconds since the epoch, got {v!r}")
        return int(v)

    def num(self, col: str, positive: bool = False) -> Decimal:
        v = self.row[col]
        try:
            d = Decimal(v)
        except InvalidOperation:
            raise self.fail(f"expected a number in {col}, got {v!r}") from None
        if not d.is_finite() or d < 0 or (positive and d == 0):
            raise self.fail(
                f"expected a {'positive' if positive else 'non-negative'} number in {col}, got {v!r}"
            )
        return d

    def amount(self, symbol: str, col: str) -> str:
        a = self.num(col)
        if self.amount_unit == "coin":
            ct = self.ct_vals.get(symbol)
            if ct is None:
                raise self.fail(f"amounts in coin need {symbol}'s contract value (ctVal), which is not known")
            a = a / ct
        return fmt(a)


def read(path: Path, ct_vals: dict[str, Decimal], amount_unit: str = "contracts") -> Iterator[Item]:
    """The file's rows as OKX pushes, in file order (tardis files are in time order)."""
    rows = _Rows(path, ct_vals, amount_unit)
    with _open(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise TardisError(f"{path}: empty file (expected a Tardis CSV with a header line)")
        try:
            kind, levels = layout(header)
        except TardisError as exc:
            raise TardisError(f"{path}:1: {exc}") from None

        def records() -> Iterator[dict[str, str]]:
            for n, values in enumerate(reader, 2):
                rows.line = n
                if not values:
                    continue
                if len(values) != len(header):
                    raise rows.fail(f"expected {len(header)} columns ({kind}), got {len(values)}")
                rows.row = dict(zip(header, values, strict=True))
                yield rows.row

        if kind == "trades":
            yield from _trades(rows, records())
        elif kind == "book_snapshot":
            yield from _snapshots(rows, records(), levels)
        elif kind == "incremental_book_L2":
            yield from _incremental(rows, records())
        else:
            yield from _derivative(rows, records())


def _trades(rows: _Rows, records: Iterator[dict[str, str]]) -> Iterator[Item]:
    for r in records:
        symbol, ts = rows.common()
        side = r["side"]
        if side not in ("buy", "sell"):
            raise rows.fail(f"expected side buy or sell, got {side!r}")
        rows.num("price", positive=True)
        d = {
            "instId": symbol,
            "tradeId": r["id"],
            "px": r["price"],
            "sz": rows.amount(symbol, "amount"),
            "side": side,
            "ts": str(ts // 1000),
        }
        yield ts, str(rows.path), rows.line, {"arg": {"channel": "trades", "instId": symbol}, "data": [d]}


def _snapshots(rows: _Rows, records: Iterator[dict[str, str]], levels: int) -> Iterator[Item]:
    channel = "books5" if levels <= 5 else "books"
    for r in records:
        symbol, ts = rows.common()
        asks: list[list[str]] = []
        bids: list[list[str]] = []
        for i in range(levels):
            for side, out in (("asks", asks), ("bids", bids)):
                px, amt = f"{side}[{i}].price", f"{side}[{i}].amount"
                if r[px] == "" and r[amt] == "":
                    continue  # the book has fewer levels
                rows.num(px, positive=True)
                out.append([r[px], rows.amount(symbol, amt), "0", "0"])
        d: dict[str, Any] = {"asks": asks, "bids": bids, "ts": str(ts // 1000)}
        push: dict[str, Any] = {"arg": {"channel": channel, "instId": symbol}, "data": [d]}
        if channel == "books":
            push["action"] = "snapshot"
        yield ts, str(rows.path), rows.line, push


def _incremental(rows: _Rows, records: Iterator[dict[str, str]]) -> Iterator[Item]:
    group: dict[str, Any] | None = None
    key: tuple[str, int, bool] | None = None
    start_line = 0
    for r in records:
        symbol, ts = rows.common()
        snap = r["is_snapshot"].lower()
        if snap not in ("true", "false"):
            raise rows.fail(f"expected is_snapshot true or false, got {r['is_snapshot']!r}")
        side = {"bid": "bids", "ask": "asks"}.get(r["side"])
        if side is None:
            raise rows.fail(f"expected side bid or ask, got {r['side']!r}")
        rows.num("price", positive=True)
        k = (symbol, ts, snap == "true")
        if k != key:
            if group is not None and key is not None:
                yield key[1], str(rows.path), start_line, group
            key, start_line = k, rows.line
            group = {
                "arg": {"channel": "books", "instId": symbol},
                "action": "snapshot" if k[2] else "update",
                "data": [{"asks": [], "bids": [], "ts": str(ts // 1000)}],
            }
        assert group is not None
        group["data"][0][side].append([r["price"], rows.amount(symbol, "amount"), "0", "0"])
    if group is not None and key is not None:
        yield key[1], str(rows.path), start_line, group


def _derivative(rows: _Rows, records: Iterator[dict[str, str]]) -> Iterator[Item]:
    last_mark: dict[str, str] = {}
    last_funding: dict[str, tuple[str, str]] = {}
    for r in records:
        symbol, ts = rows.common()
        ms = str(ts // 1000)
        if r["mark_price"] != "" and r["mark_price"] != last_mark.get(symbol):
            rows.num("mark_price", positive=True)
            last_mark[symbol] = r["mark_price"]
            yield (
                ts,
                str(rows.path),
                rows.line,
                {
                    "arg": {"channel": "mark-price", "instId": symbol},
                    "data": [{"instId": symbol, "markPx": r["mark_price"], "ts": ms}],
                },
            )
        if r["funding_rate"] != "":
            rate = r["funding_rate"]
            try:
                Decimal(rate)
            except InvalidOperation:
                raise rows.fail(f"expected a number in funding_rate, got {rate!r}") from None
            when = str(rows.micros("funding_timestamp") // 1000) if r["funding_timestamp"] else ""
            if (rate, when) != last_funding.get(symbol):
                last_funding[symbol] = (rate, when)
                yield (
                    ts,
                    str(rows.path),
                    rows.line,
                    {
                        "arg": {"channel": "funding-rate", "instId": symbol},
                        "data": [
                            {
                                "instId": symbol,
                                "fundingRate": rate,
                                "fundingTime": when,
                                "nextFundingRate": r["predicted_funding_rate"],
                                "ts": ms,
                            }
                        ],
                    },
                )
