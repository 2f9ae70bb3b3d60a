"""The local store of downloaded OKX history: gzip JSON lines, one file per instId, kind and UTC day.

    <root>/athena-store.json                       marks the directory as a store (format, version)
    <root>/<instId>/<kind>/<YYYY-MM-DD>.jsonl.gz    rows in time order, each exactly as OKX returned it
    <root>/<instId>/<kind>/<YYYY-MM-DD>.meta.json   what the file covers: from/to, rows, first/last ts, gaps
    <root>/<instId>/<kind>/<YYYY-MM-DD>.part/       a day being downloaded (pages, newest first + cursor)

Kinds: `trades`, `funding`, `candles-<bar>`, `mark-candles-<bar>` (e.g. candles-1m).

Why gzip JSON lines and not Parquet (pyarrow): the rows stay OKX's own JSON, readable with zcat and
jq, parsed by the same code as the live feed; gzip is in the standard library (pyarrow is a large binary
dependency for a columnar format whose strengths, column scans over billions of rows, a replay that
reads every row in time order does not use); a day file is written once and never rewritten, and a
gzip file can be streamed row by row with flat memory. Trade rows compress about 10x (measured on the
sim's; docs/MARKETDATA.md).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from athena.marketdata.bars import DAY, parse_bar

MARKER = "athena-store.json"
FORMAT = {"format": "athena-okx-history", "version": 1}


class StoreError(ValueError):
    pass


def day_name(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d")


def day_start(name: str) -> int:
    d = datetime.strptime(name, "%Y-%m-%d").replace(tzinfo=UTC)
    return int(d.timestamp() * 1000)


def days(lo: int, hi: int) -> list[str]:
    """UTC day names touching [lo, hi)."""
    out = []
    d = datetime.fromtimestamp(lo // DAY * DAY / 1000, UTC)
    while int(d.timestamp() * 1000) < hi:
        out.append(d.strftime("%Y-%m-%d"))
        d += timedelta(days=1)
    return out


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def row_ts(kind: str, row: Any) -> int:
    """The time of a stored row: candle open time, trade time, funding settlement time."""
    if isinstance(row, list):
        return int(row[0])
    if kind == "funding":
        return int(row["fundingTime"])
    return int(row["ts"])


def bar_of(kind: str) -> str | None:
    if kind.startswith("mark-candles-"):
        return kind.removeprefix("mark-candles-")
    if kind.startswith("candles-"):
        return kind.removeprefix("candles-")
    return None


@dataclass
class DayMeta:
    """What one day file covers. `complete`: the whole UTC day (it is never downloaded again)."""

    instId: str
    kind: str
    day: str
    from_ts: int
    to_ts: int
    rows: int = 0
    first_ts: int = 0
    last_ts: int = 0
    complete: bool = False
    gaps: list[list[int]] = field(default_factory=list)  # [from_ts, to_ts) where data is missing
    requests: int = 0
    source: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"


class Store:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / MARKER
        if not marker.exists():
            marker.write_text(json.dumps(FORMAT, sort_keys=True) + "\n")

    @staticmethod
    def is_store(path: Path) -> bool:
        return path.is_dir() and (path / MARKER).exists()

    def dir(self, instId: str, kind: str) -> Path:
        return self.root / instId / kind

    def day_path(self, instId: str, kind: str, day: str) -> Path:
        return self.dir(instId, kind) / f"{day}.jsonl.gz"

    def meta(self, instId: str, kind: str, day: str) -> DayMeta | None:
        path = self.dir(instId, kind) / f"{day}.meta.json"
        if not path.exists() or not self.day_path(instId, kind, day).exists():
            return None
        try:
            return DayMeta(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise StoreError(f"{path}: not a day summary ({exc})") from None

    def write_rows(self, instId: str, kind: str, day: str, rows_ascending: Iterator[Any]) -> None:
        """The day file (atomically). Its meta goes after it (write_meta): a day without a meta is
        not there, so a crash in between only means that day is fetched again."""
        final = self.day_path(instId, kind, day)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(final.name + ".tmp")
        with tmp.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
            for row in rows_ascending:
                fh.write(orjson.dumps(row) + b"\n")
        os.replace(tmp, final)

    def write_meta(self, meta: DayMeta) -> None:
        d = self.dir(meta.instId, meta.kind)
        tmp = d / f"{meta.day}.meta.json.tmp"
        tmp.write_text(meta.to_json())
        os.replace(tmp, d / f"{meta.day}.meta.json")

    def part_dir(self, instId: str, kind: str, day: str) -> Path:
        return self.dir(instId, kind) / f"{day}.part"

    def drop_part(self, instId: str, kind: str, day: str) -> None:
        shutil.rmtree(self.part_dir(instId, kind, day), ignore_errors=True)

    # -- reading -----------------------------------------------------------------------------
    def inventory(self) -> dict[str, dict[str, list[DayMeta]]]:
        """{instId: {kind: [DayMeta in day order]}} of everything stored."""
        out: dict[str, dict[str, list[DayMeta]]] = {}
        for inst_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for kind_dir in sorted(p for p in inst_dir.iterdir() if p.is_dir()):
                metas = []
                for f in sorted(kind_dir.glob("*.meta.json")):
                    m = self.meta(inst_dir.name, kind_dir.name, f.name.removesuffix(".meta.json"))
                    if m is not None:
                        metas.append(m)
                if metas:
                    out.setdefault(inst_dir.name, {})[kind_dir.name] = metas
        return out

    def rows(
        self, instId: str, kind: str, metas: list[DayMeta] | None = None
    ) -> Iterator[tuple[int, Any, str, int]]:
        """(ts, row, file, line) of every stored row of one instId and kind, in time order."""
        if metas is None:
            metas = self.inventory().get(instId, {}).get(kind, [])
        for m in metas:
            path = self.day_path(instId, kind, m.day)
            with gzip.open(path, "rb") as fh:
                for n, line in enumerate(fh, 1):
                    try:
                        row = orjson.loads(line)
                        ts = row_ts(kind, row)
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as exc:
                        raise StoreError(f"{path}:{n}: expected one OKX {kind} row as JSON ({exc})") from None
                    yield ts, row, str(path), n


def merged_gaps(metas: list[DayMeta]) -> list[list[int]]:
    """Gaps of consecutive days, with a gap that runs over midnight joined into one, plus the days
    that are missing between the first and the last stored day."""
    out: list[list[int]] = []
    prev_to: int | None = None
    for m in metas:
        if prev_to is not None and m.from_ts > prev_to:
            out.append([prev_to, m.from_ts])  # days not downloaded at all
        for g in m.gaps:
            if out and out[-1][1] >= g[0]:
                out[-1][1] = max(out[-1][1], g[1])
            else:
                out.append(list(g))
        prev_to = m.to_ts
    return out


def find_gaps(kind: str, ts_list: list[int], lo: int, hi: int, max_quiet_ms: int) -> list[list[int]]:
    """Where [lo, hi) misses data. Candles: every bar that should be there and is not. Trades: quiet
    stretches longer than max_quiet_ms. Funding: settlements further apart than 1.5 x 8 h."""
    bar = bar_of(kind)
    if bar is not None:
        b = parse_bar(bar)
        if not b.ms or b.ms > DAY:
            return []  # calendar bars: not checked
        have = set(ts_list)
        gaps: list[list[int]] = []
        t = b.start(lo)
        if t < lo:
            t = b.next(t)
        while b.next(t) <= hi:
            if t not in have:
                if gaps and gaps[-1][1] == t:
                    gaps[-1][1] = b.next(t)
                else:
                    gaps.append([t, b.next(t)])
            t = b.next(t)
        return gaps
    if kind == "funding":  # 8 h apart (OKX may shorten the interval, never lengthen it)
        every = 8 * 3_600_000
        if not ts_list:
            return [[lo, hi]] if hi - lo > every else []
        gaps = [[a, b] for a, b in pairwise(ts_list) if b - a > every * 3 // 2]
        if ts_list[0] - lo > every:
            gaps.insert(0, [lo, ts_list[0]])
        if hi - ts_list[-1] > every:
            gaps.append([ts_list[-1], hi])
        return gaps
    edges = [lo, *ts_list, hi]
    return [[a, b] for a, b in pairwise(edges) if b - a > max_quiet_ms]
