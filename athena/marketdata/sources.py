"""Where a backtest's market data comes from: the files on disk, detected by their content, read as
OKX push messages in time order (each with its file and line). athena/backtest/feed.py turns them
into events; this module knows the formats:

- `recorded`: files made by `athena record` (a directory, or some .jsonl.gz files): the pushes as
  received, the recorder's resync/reconnect markers, and its per-file summaries;
- `okx-push`: plain OKX push JSON lines (.jsonl, .jsonl.gz), e.g. athena/data/btc_sample.jsonl;
- `store`: a store made by `athena download`: trades (or, for days without trades, candles), mark-price
  candles and funding; the book is APPROXIMATED from the trades (feed.TradeBook);
- `tardis`: Tardis.dev CSV files of okex-swap (athena/marketdata/tardis.py).
"""

from __future__ import annotations

import gzip
import heapq
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from athena.marketdata import tardis
from athena.marketdata.bars import parse_bar
from athena.marketdata.store import MARKER, DayMeta, Store, StoreError, bar_of, iso, merged_gaps

FORMATS = ("auto", "recorded", "okx-push", "store", "tardis")
Located = tuple[str, int, dict[str, Any]]


class SourceError(ValueError):
    pass


@dataclass
class Source:
    format: str
    paths: list[Path]
    description: str
    approx_book: bool = False
    notes: list[str] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)  # known before reading (store metas)
    reader: Any = None  # () -> Iterator[Located]

    def pushes(self) -> Iterator[Located]:
        return self.reader()  # type: ignore[no-any-return]


def open_source(
    paths: list[Path],
    fmt: str = "auto",
    instIds: list[str] | None = None,
    instruments: dict[str, tuple[Decimal, Decimal, Decimal]] | None = None,
    tardis_amount: str = "contracts",
) -> Source:
    """instruments: instId -> (tickSz, lotSz, ctVal), for candles and tardis coin amounts."""
    for p in paths:
        if not p.exists():
            raise SourceError(f"{p}: no such file or directory")
    kinds = {detect(p) for p in paths} if fmt == "auto" else {fmt}
    if len(kinds) > 1:
        raise SourceError(
            f"one format at a time: {', '.join(map(str, paths))} are {', '.join(sorted(kinds))}"
        )
    kind = kinds.pop()
    insts = instruments or {}
    if kind == "store":
        if len(paths) != 1:
            raise SourceError("a store is one directory (made by athena download)")
        return _store(paths[0], instIds, insts)
    if kind == "tardis":
        return _tardis(paths, instIds, insts, tardis_amount)
    if kind in ("recorded", "okx-push"):
        return _pushes(paths, kind, instIds)
    raise SourceError(f"unknown format {kind!r} (one of {', '.join(FORMATS[1:])})")


# -- detection ------------------------------------------------------------------------------------
def detect(path: Path) -> str:
    if path.is_dir():
        if (path / MARKER).exists():
            return "store"
        files = [p for p in path.iterdir() if p.is_file()]
        if any(p.name.endswith(".summary.json") for p in files):
            return "recorded"
        if any(_is_csv(p) for p in files):
            return "tardis"
        data = [p for p in files if p.name.endswith((".jsonl", ".jsonl.gz"))]
        if data:
            return detect(sorted(data)[0])
        raise SourceError(
            f"{path}: no market data here (expected a store made by athena download, files made by "
            "athena record, Tardis CSV files, or OKX push JSON lines)"
        )
    if _is_csv(path):
        return "tardis"
    first = _first_line(path)
    if first is None:
        raise SourceError(
            f"{path}: empty (expected OKX push JSON lines, a file made by athena record, or a Tardis CSV)"
        )
    if first.startswith(b"exchange,symbol,timestamp"):
        return "tardis"
    try:
        obj = orjson.loads(first)
    except orjson.JSONDecodeError:
        raise SourceError(
            f"{path}:1: not market data Athena reads: expected OKX push JSON lines (made by athena "
            f"record, or like athena/data/btc_sample.jsonl), a store made by athena download, or a "
            f"Tardis CSV; the first line is {first[:60].decode('utf-8', 'replace')!r}"
        ) from None
    if isinstance(obj, dict) and "recvTs" in obj:
        return "recorded"
    if isinstance(obj, dict) and ("arg" in obj or "event" in obj):
        return "okx-push"
    if isinstance(obj, dict) and "code" in obj and "data" in obj:
        raise SourceError(
            f"{path}:1: this is an OKX REST answer, not a push stream: fetch history with athena "
            "download and backtest the store it makes"
        )
    raise SourceError(
        f'{path}:1: expected an OKX push ({{"arg": {{"channel": ...}}, "data": [...]}}) per line'
    )


def _is_csv(path: Path) -> bool:
    return path.name.endswith((".csv", ".csv.gz"))


def _first_line(path: Path) -> bytes | None:
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    return bytes(line.strip())
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(f"{path}: cannot read it ({exc})") from None
    return None


# -- recorded files and push lines ---------------------------------------------------------------
def _pushes(paths: list[Path], kind: str, instIds: list[str] | None) -> Source:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(
                f for f in p.iterdir() if f.is_file() and f.name.endswith((".jsonl", ".jsonl.gz"))
            )
        else:
            files.append(p)
    if not files:
        raise SourceError(f"{', '.join(map(str, paths))}: no .jsonl or .jsonl.gz files")
    src = Source(
        kind,
        paths,
        "files made by athena record (OKX public WebSocket, as received)"
        if kind == "recorded"
        else "OKX public push JSON lines",
    )
    if kind == "recorded":
        _summaries(files, src)
    wanted = set(instIds or ())

    def read() -> Iterator[Located]:
        for f in files:
            for n, msg in _lines(f, src):
                if wanted:
                    inst = (msg.get("arg") or {}).get("instId") if isinstance(msg, dict) else None
                    if inst and inst not in wanted:
                        continue
                yield str(f), n, msg

    src.reader = read
    return src


def _summaries(files: list[Path], src: Source) -> None:
    for f in files:
        side = f.with_name(f.name.removesuffix(".jsonl.gz").removesuffix(".jsonl") + ".summary.json")
        if not side.exists():
            src.notes.append(f"{f.name}: no summary (not made by athena record, or it is still recording)")
            continue
        try:
            doc = json.loads(side.read_text())
        except ValueError:
            src.notes.append(f"{side.name}: unreadable summary")
            continue
        if not doc.get("complete"):
            src.notes.append(
                f"{f.name}: not closed by the recorder (it stopped abruptly, or is still recording)"
            )
        if doc.get("reconnects") or doc.get(
            "resyncs"
        ):  # the feed finds these in the data itself, in OKX time
            src.notes.append(
                f"{f.name}: the recorder noted {doc.get('reconnects', 0)} reconnects and "
                f"{len(doc.get('resyncs') or [])} resyncs"
            )


def _lines(path: Path, src: Source) -> Iterator[tuple[int, dict[str, Any]]]:
    """Parsed lines of one file; a gzip file cut short (a recorder killed mid-write) ends at its last
    whole line, with a note."""
    opener = gzip.open if path.name.endswith(".gz") else open
    pending: tuple[int, bytes] | None = None
    try:
        with opener(path, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                if pending is not None:
                    yield _parse(path, *pending)
                pending = (n, raw) if raw.strip() else None
    except (EOFError, zlib.error, OSError) as exc:
        src.notes.append(f"{path.name}: ends early ({exc}); read up to the last whole line")
        if pending is not None and pending[1].endswith(b"\n"):
            yield _parse(path, *pending)
        return
    if pending is not None:
        yield _parse(path, *pending)


def _parse(path: Path, n: int, raw: bytes) -> tuple[int, dict[str, Any]]:
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SourceError(
            f"{path}:{n}: expected one OKX push as JSON per line, got {raw[:60].decode('utf-8', 'replace')!r}"
        ) from None
    if not isinstance(msg, dict):
        raise SourceError(
            f"{path}:{n}: expected a JSON object (an OKX push), got {raw[:60].decode('utf-8', 'replace')!r}"
        )
    return n, msg


# -- a store of downloaded history ----------------------------------------------------------------
def _store(
    root: Path, instIds: list[str] | None, insts: dict[str, tuple[Decimal, Decimal, Decimal]]
) -> Source:
    store = Store(root)
    try:
        inv = store.inventory()
    except StoreError as exc:
        raise SourceError(str(exc)) from None
    if instIds:
        inv = {i: k for i, k in inv.items() if i in instIds}
    if not inv:
        raise SourceError(f"{root}: the store holds no data{' for ' + ', '.join(instIds) if instIds else ''}")
    src = Source("store", [root], "OKX REST history downloaded by athena download", approx_book=True)
    plan: list[tuple[str, str, list[DayMeta]]] = []
    for instId, kinds in sorted(inv.items()):
        trade_kind = "trades" if "trades" in kinds else _finest(k for k in kinds if k.startswith("candles-"))
        mark_kind = _finest(k for k in kinds if k.startswith("mark-candles-"))
        if trade_kind is None:
            src.notes.append(f"{instId}: neither trades nor candles stored: skipped")
            continue
        if trade_kind != "trades":
            src.notes.append(
                f"{instId}: no trades stored: prices from {trade_kind} (four prints per candle: open, "
                "low/high, high/low, close, a quarter of the volume each)"
            )
        for kind in (trade_kind, mark_kind, "funding" if "funding" in kinds else None):
            if kind is None:
                continue
            plan.append((instId, kind, kinds[kind]))
            for g in merged_gaps(kinds[kind]):
                src.gaps.append(
                    {
                        "instId": instId,
                        "kind": kind,
                        "from_ts": g[0],
                        "to_ts": g[1],
                        "from": iso(g[0]),
                        "to": iso(g[1]),
                    }
                )

    def read() -> Iterator[Located]:
        streams = [
            _store_stream(store, instId, kind, metas, insts.get(instId)) for instId, kind, metas in plan
        ]
        for _, _, item in heapq.merge(*streams, key=lambda x: (x[0], x[1])):
            yield item

    src.reader = read
    return src


def _finest(kinds: Any) -> str | None:
    def length(k: str) -> int:
        b = parse_bar(bar_of(k) or "1m")
        return b.ms or b.months * 31 * 86_400_000

    ks = sorted(kinds, key=length)
    return ks[0] if ks else None


def _store_stream(
    store: Store, instId: str, kind: str, metas: list[DayMeta], inst: tuple[Decimal, Decimal, Decimal] | None
) -> Iterator[tuple[int, int, Located]]:
    """(ts, rank, located push) of one stored kind; rank orders same-ms rows: mark, funding, trades."""
    bar = bar_of(kind)
    bar_ms = parse_bar(bar).ms if bar else 0
    for ts, row, path, n in store.rows(instId, kind, metas):
        if kind == "trades":
            yield ts, 2, (path, n, {"arg": {"channel": "trades", "instId": instId}, "data": [row]})
        elif kind == "funding":
            d = {
                "instId": instId,
                "fundingRate": row["fundingRate"],
                "fundingTime": row["fundingTime"],
                "ts": row["fundingTime"],
            }
            yield ts, 1, (path, n, {"arg": {"channel": "funding-rate", "instId": instId}, "data": [d]})
        elif kind.startswith("mark-candles-"):
            close_ts = ts + bar_ms  # a candle's close is known when it closes
            d = {"instId": instId, "markPx": row[4], "ts": str(close_ts)}
            yield close_ts, 0, (path, n, {"arg": {"channel": "mark-price", "instId": instId}, "data": [d]})
        else:
            for t, push in _candle_prints(instId, row, bar_ms, inst):
                yield t, 2, (path, n, push)


def _candle_prints(
    instId: str, row: list[Any], bar_ms: int, inst: tuple[Decimal, Decimal, Decimal] | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    ts, o, h, low, c, vol = (
        int(row[0]),
        Decimal(row[1]),
        Decimal(row[2]),
        Decimal(row[3]),
        Decimal(row[4]),
        Decimal(row[5]),
    )
    if vol <= 0:
        return
    lot = inst[1] if inst else Decimal("0.01")
    sz = max(lot, (vol / 4 / lot).quantize(Decimal(1)) * lot)
    path = (o, low, h, c) if c >= o else (o, h, low, c)
    prev = path[0]
    for k, px in enumerate(path):
        side = "buy" if (px > prev or (k == 0 and c >= o)) else "sell"
        prev = px
        t = ts + bar_ms * k // 4
        d = {
            "instId": instId,
            "tradeId": f"c{ts}-{k}",
            "px": str(px),
            "sz": str(sz),
            "side": side,
            "ts": str(t),
        }
        yield t, {"arg": {"channel": "trades", "instId": instId}, "data": [d]}


# -- tardis ----------------------------------------------------------------------------------------
def _tardis(
    paths: list[Path],
    instIds: list[str] | None,
    insts: dict[str, tuple[Decimal, Decimal, Decimal]],
    amount_unit: str,
) -> Source:
    files: list[Path] = []
    for p in paths:
        files += sorted(f for f in p.iterdir() if _is_csv(f)) if p.is_dir() else [p]
    if not files:
        raise SourceError(f"{', '.join(map(str, paths))}: no .csv or .csv.gz files")
    if amount_unit not in ("contracts", "coin"):
        raise SourceError(f"tardis amounts: contracts or coin, not {amount_unit!r}")
    layouts = []
    for f in files:
        header = tardis.header_of(f)
        if header is None:
            raise SourceError(f"{f}: not a readable CSV file")
        try:
            name, levels = tardis.layout(header)
        except tardis.TardisError as exc:
            raise SourceError(f"{f}:1: {exc}") from None
        layouts.append((f, name, levels))
    src = Source(
        "tardis",
        paths,
        f"Tardis.dev CSV ({', '.join(sorted({n + (str(lv) if lv else '') for _, n, lv in layouts}))}), "
        f"okex-swap, amounts in {amount_unit}",
    )
    if amount_unit == "contracts":
        src.notes.append("tardis amounts read as contracts (OKX's own sz for swaps)")
    else:
        src.notes.append("tardis amounts read as coin and divided by ctVal into contracts")
    if not any(name in ("book_snapshot", "incremental_book_L2") for _, name, _ in layouts):
        src.approx_book = True
    ct_vals = {i: v[2] for i, v in insts.items()}
    wanted = set(instIds or ())

    def read() -> Iterator[Located]:
        def stream(i: int, f: Path, name: str) -> Iterator[tuple[tuple[int, int, int], Located]]:
            for ts, origin, n, push in tardis.read(f, ct_vals, amount_unit):
                yield (ts, tardis.RANK[name], i), (origin, n, push)

        merged = heapq.merge(
            *(stream(i, f, name) for i, (f, name, _) in enumerate(layouts)), key=lambda x: x[0]
        )
        for _, (origin, n, push) in merged:
            if wanted and push["arg"]["instId"] not in wanted:
                continue
            yield origin, n, push

    src.reader = read
    return src


def describe_gaps(gaps: list[dict[str, Any]]) -> list[str]:
    out = []
    for g in gaps:
        where = " ".join(x for x in (g.get("instId"), g.get("kind") or g.get("channel")) if x)
        if g.get("from_ts") is not None and g.get("to_ts") is not None:
            out.append(
                f"{where} {iso(g['from_ts'])} .. {iso(g['to_ts'])} ({g.get('reason', 'missing')})".strip()
            )
        else:
            out.append(f"{where} {g.get('reason', 'gap')} in {g.get('file', '?')}".strip())
    return out
