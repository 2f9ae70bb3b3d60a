"""`athena download`: OKX's public REST history into the local store (athena/marketdata/store.py).

    athena download --instIds BTC-USDT-SWAP --kinds candles,trades,funding,mark-candles --bar 1m --days 3

Per instId, kind and UTC day, pages go backwards from the day's end (OKX pages newest first:
`after` = older than) until the day's start. Pages are kept on disk as they arrive (`<day>.part/`,
with the cursor), so a download stopped at any point resumes where it was; a finished day file is
never fetched again, a day that was still running when fetched (today) is fetched again next time.
"now" is OKX's own clock (GET /api/v5/public/time), not this machine's.

Rate limits: OKX's published per-IP limits per endpoint (HISTORY_LIMITS), held as a sliding window
over the time each answer ARRIVED: the server saw a request no later than its answer came back, so
no window of the server's ever holds more than the limit. (athena/okx/ratelimit.py's token bucket
suits the order path but lets a full burst follow a refill, up to twice the limit within one window,
which OKX answers with 50011.) A 50011 or a 5xx still backs off and retries.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import requests

from athena.marketdata.bars import parse_bar
from athena.marketdata.store import DAY, DayMeta, Store, day_start, days, find_gaps, iso, merged_gaps, row_ts
from athena.marketdata.venue import add_venue_args, split_ids, venue
from athena.okx.errors import OkxRateLimited, OkxTransient, classify

# OKX's docs, per endpoint (per IP): requests per 2 s, rows per page.
HISTORY_LIMITS: dict[str, tuple[int, int]] = {
    "/api/v5/market/history-candles": (20, 100),
    "/api/v5/market/history-trades": (20, 100),
    "/api/v5/public/funding-rate-history": (10, 100),
    "/api/v5/market/history-mark-price-candles": (10, 100),
}
WINDOW_S = 2.0
KINDS = ("candles", "trades", "funding", "mark-candles")
PAGES_PER_CHUNK = 20  # pages kept per part file: a stopped download loses at most this many
MAX_RETRIES = 8


class DownloadError(RuntimeError):
    pass


class Pacer:
    """At most `count` requests per `window_s`, counted from when each answer arrived."""

    def __init__(
        self,
        count: int,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.count = count
        self.window_s = window_s
        self.clock = clock
        self.sleep = sleep
        self.done_at: deque[float] = deque(maxlen=count)
        self.waited_s = 0.0

    def wait(self) -> None:
        if len(self.done_at) < self.count:
            return
        delay = self.done_at[0] + self.window_s - self.clock()
        if delay > 0:
            self.waited_s += delay
            self.sleep(delay)

    def done(self) -> None:
        self.done_at.append(self.clock())


@dataclass
class Stats:
    requests: int = 0
    rate_limited: int = 0  # 50011 answers (there should be none)
    retries: int = 0
    rows: int = 0
    days_done: int = 0
    days_skipped: int = 0
    per_endpoint: dict[str, int] = field(default_factory=dict)


class OkxHistoryClient:
    """GET with OKX's envelope, per-endpoint pacing and bounded retries."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str] | None = None,
        timeout_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers.update({"Accept": "application/json", **(headers or {})})
        self.timeout_s = timeout_s
        self.sleep = sleep
        self.pacers = {path: Pacer(n, sleep=sleep) for path, (n, _) in HISTORY_LIMITS.items()}
        self.stats = Stats()

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, params: dict[str, str], retries: int = MAX_RETRIES) -> list[Any]:
        pacer = self.pacers.get(path)
        for attempt in range(retries + 1):
            if pacer is not None:
                pacer.wait()
            try:
                resp = self.http.get(self.base + path, params=params, timeout=self.timeout_s)
                body = resp.json() if resp.content else {}
            except requests.ConnectionError:
                problem = f"cannot reach {self.base}"
                body = None
            except requests.Timeout:
                problem = f"{self.base} did not answer within {self.timeout_s:.0f} s"
                body = None
            except ValueError:
                problem = f"{path} answered HTTP {resp.status_code} without JSON"
                body = None
            finally:
                if pacer is not None:
                    pacer.done()
            self.stats.requests += 1
            self.stats.per_endpoint[path] = self.stats.per_endpoint.get(path, 0) + 1
            if isinstance(body, dict):
                code = str(body.get("code"))
                if code == "0" and isinstance(body.get("data"), list):
                    return body["data"]  # type: ignore[no-any-return]
                problem = f"{path} answered code {code}: {body.get('msg') or 'no message'}"
                err = classify(code, str(body.get("msg") or ""), resp.status_code, path)
                if isinstance(err, OkxRateLimited):
                    self.stats.rate_limited += 1
                elif not isinstance(err, OkxTransient):
                    raise DownloadError(f"{problem} (instId {params.get('instId')})")
            if attempt < retries:
                self.stats.retries += 1
                self.sleep(min(30.0, 0.5 * 2**attempt))
        raise DownloadError(f"{problem}; gave up after {retries + 1} tries (run again: it resumes)")

    def server_now(self) -> int:
        """OKX's clock; also the first contact, so a wrong URL fails within seconds, not minutes."""
        data = self.get("/api/v5/public/time", {}, retries=2)
        try:
            return int(data[0]["ts"])
        except (IndexError, KeyError, TypeError, ValueError):
            raise DownloadError(f"{self.base}/api/v5/public/time: no ts in the answer") from None


@dataclass(frozen=True)
class Kind:
    """One kind of history: its store name, endpoint, how a row is paged."""

    name: str  # trades, funding, candles-1m, mark-candles-1m
    path: str
    bar: str | None = None

    @property
    def limit(self) -> int:
        return HISTORY_LIMITS[self.path][1]

    def first_params(self, instId: str, hi: int) -> dict[str, str]:
        p = {"instId": instId, "after": str(hi), "limit": str(self.limit)}
        if self.bar:
            p["bar"] = self.bar
        if self.name == "trades":
            p["type"] = "2"  # the first page by time (older than the day's end), then by tradeId
        return p

    def next_params(self, instId: str, cursor: str) -> dict[str, str]:
        p = {"instId": instId, "after": cursor, "limit": str(self.limit)}
        if self.bar:
            p["bar"] = self.bar
        if self.name == "trades":
            p["type"] = "1"
        return p

    def cursor(self, row: Any) -> str:
        if self.name == "trades":
            return str(row["tradeId"])
        return str(row_ts(self.name, row))

    @staticmethod
    def confirmed(row: Any) -> bool:
        """A candle that is still forming (confirm "0") is not history yet."""
        return not isinstance(row, list) or str(row[-1]) != "0"


def make_kind(name: str, bar: str) -> Kind:
    if name == "trades":
        return Kind("trades", "/api/v5/market/history-trades")
    if name == "funding":
        return Kind("funding", "/api/v5/public/funding-rate-history")
    if name == "candles":
        return Kind(f"candles-{bar}", "/api/v5/market/history-candles", bar)
    if name == "mark-candles":
        return Kind(f"mark-candles-{bar}", "/api/v5/market/history-mark-price-candles", bar)
    raise ValueError(f"unknown kind {name!r} (one of {', '.join(KINDS)})")


class Downloader:
    def __init__(
        self,
        store: Store,
        client: OkxHistoryClient,
        max_quiet_ms: int = 300_000,
        on_day: Callable[[DayMeta, bool], None] | None = None,
        on_page: Callable[[str, str, str, int], None] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.max_quiet_ms = max_quiet_ms
        self.on_day = on_day or (lambda meta, skipped: None)
        self.on_page = on_page or (lambda instId, kind, day, rows: None)

    def download(self, instIds: list[str], kinds: list[Kind], start: int, end: int) -> list[DayMeta]:
        """Every day of [start, end) for each instId and kind; returns the metas of those days."""
        self.store.init()
        out = []
        for instId in instIds:
            for kind in kinds:
                for day in days(start, end):
                    out.append(
                        self.day(
                            instId, kind, day, max(start, day_start(day)), min(end, day_start(day) + DAY)
                        )
                    )
        return out

    def day(self, instId: str, kind: Kind, day: str, lo: int, hi: int) -> DayMeta:
        store, stats = self.store, self.client.stats
        have = store.meta(instId, kind.name, day)
        if have is not None and have.from_ts <= lo and have.to_ts >= hi:
            stats.days_skipped += 1
            self.on_day(have, True)
            return have
        if have is not None:  # the day file is rewritten: it must keep what it held
            lo, hi = min(lo, have.from_ts), max(hi, have.to_ts)
        part = store.part_dir(instId, kind.name, day)
        cursor, chunks, requests0 = self._resume(part, lo, hi)
        pending: list[Any] = []
        pages = 0
        done = False
        while not done:
            params = kind.first_params(instId, hi) if cursor is None else kind.next_params(instId, cursor)
            rows = self.client.get(kind.path, params)
            pages += 1
            if not rows:
                break
            for row in rows:  # newest first
                ts = row_ts(kind.name, row)
                if ts < lo:
                    done = True
                    break
                if ts < hi and kind.confirmed(row):
                    pending.append(row)
            prev, cursor = cursor, kind.cursor(rows[-1])
            if cursor == prev:
                raise DownloadError(
                    f"{kind.path} answered the same page twice for {instId} (after={cursor}): "
                    "it does not page as OKX does"
                )
            self.on_page(instId, kind.name, day, len(pending))
            if pages % PAGES_PER_CHUNK == 0 and not done:
                chunks = self._flush(part, chunks, pending, cursor, lo, hi, requests0 + pages)
                pending = []
        if pending:
            chunks = self._flush(part, chunks, pending, cursor, lo, hi, requests0 + pages)
        meta = self._finish(instId, kind, day, lo, hi, part, chunks, requests0 + pages)
        stats.days_done += 1
        stats.rows += meta.rows
        self.on_day(meta, False)
        return meta

    @staticmethod
    def _resume(part: Path, lo: int, hi: int) -> tuple[str | None, int, int]:
        """(cursor, chunks written, requests made) of an interrupted download of this same range."""
        state = part / "cursor.json"
        if state.exists():
            try:
                doc = json.loads(state.read_text())
                if doc["lo"] == lo and doc["hi"] == hi:
                    return str(doc["cursor"]), int(doc["chunks"]), int(doc["requests"])
            except (ValueError, KeyError, TypeError):
                pass
        if part.exists():
            for f in part.iterdir():
                f.unlink()
        return None, 0, 0

    @staticmethod
    def _flush(
        part: Path, chunks: int, rows: list[Any], cursor: str | None, lo: int, hi: int, requests: int
    ) -> int:
        part.mkdir(parents=True, exist_ok=True)
        path = part / f"{chunks:06d}.jsonl.gz"
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
            for row in rows:
                fh.write(orjson.dumps(row) + b"\n")
        tmp.replace(path)
        state = part / "cursor.json"
        state.with_suffix(".tmp").write_text(
            json.dumps({"lo": lo, "hi": hi, "cursor": cursor, "chunks": chunks + 1, "requests": requests})
        )
        state.with_suffix(".tmp").replace(state)
        return chunks + 1

    def _finish(
        self, instId: str, kind: Kind, day: str, lo: int, hi: int, part: Path, chunks: int, requests: int
    ) -> DayMeta:
        ts_list: list[int] = []
        key = kind.cursor

        def ascending() -> Iterator[Any]:
            last: str | None = None
            for i in range(chunks - 1, -1, -1):
                with gzip.open(part / f"{i:06d}.jsonl.gz", "rb") as fh:
                    rows = [orjson.loads(line) for line in fh]
                for row in reversed(rows):
                    k = key(row)
                    if k == last:
                        continue  # a page repeated by a retry or a resume
                    last = k
                    ts_list.append(row_ts(kind.name, row))
                    yield row

        self.store.write_rows(instId, kind.name, day, ascending())
        meta = DayMeta(
            instId,
            kind.name,
            day,
            lo,
            hi,
            rows=len(ts_list),
            requests=requests,
            source=self.client.base,
            complete=lo == day_start(day) and hi == day_start(day) + DAY,
            gaps=find_gaps(kind.name, ts_list, lo, hi, self.max_quiet_ms),
        )
        meta.first_ts, meta.last_ts = (ts_list[0], ts_list[-1]) if ts_list else (0, 0)
        self.store.write_meta(meta)  # last: a day file without its meta is fetched again
        self.store.drop_part(instId, kind.name, day)
        return meta


# -- the command ---------------------------------------------------------------------------------
def parse_time(text: str, what: str) -> int:
    """A UTC date (2026-12-01) or date-time (2026-12-01T08:00[:00][Z]) -> epoch ms."""
    t = text.strip().removesuffix("Z")
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return int(datetime.strptime(t, fmt).replace(tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            continue
    raise ValueError(f"{what} {text!r}: expected a UTC date like 2026-12-01 or 2026-12-01T08:00")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="athena download", description=__doc__.split("\n\n")[0])
    p.add_argument("--instIds", default="BTC-USDT-SWAP", help="instruments, comma-separated")
    p.add_argument("--kinds", default="candles,trades,funding,mark-candles", help=f"from {', '.join(KINDS)}")
    p.add_argument(
        "--bar", default="1m", help="candle size for candles and mark-candles (OKX's names: 1m, 1H, 1Dutc...)"
    )
    p.add_argument("--start", help="UTC date or date-time (default: --days before --end)")
    p.add_argument("--end", help="UTC date or date-time, exclusive (default: now, by OKX's clock)")
    p.add_argument(
        "--days", type=float, default=1.0, help="how far back from --end when --start is not given"
    )
    p.add_argument("--out", type=Path, default=Path("var/marketdata/okx"), help="the store's directory")
    add_venue_args(p, "REST base URL (overrides --venue)")
    p.add_argument(
        "--max-quiet", type=float, default=300.0, help="report trade-less stretches longer than N s as gaps"
    )
    p.add_argument("--quiet", action="store_true", help="no progress, only the summary")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        kinds = [make_kind(k, args.bar) for k in split_ids(args.kinds)]
        parse_bar(args.bar)
        v = venue(args.venue)
        start_arg = parse_time(args.start, "--start") if args.start else None
        end_arg = parse_time(args.end, "--end") if args.end else None
    except ValueError as exc:
        print(f"athena download: {exc}", file=sys.stderr)
        return 2
    instIds = split_ids(args.instIds)
    if not instIds or not kinds:
        print("athena download: give at least one --instIds and one --kinds", file=sys.stderr)
        return 2
    client = OkxHistoryClient(args.url or v.rest_url, v.headers if not args.url else {})
    store = Store(args.out)
    progress = _Progress(quiet=args.quiet)
    try:
        now = client.server_now()
        end = min(end_arg or now, now)
        start = start_arg if start_arg is not None else end - int(args.days * DAY)
        if start >= end:
            print(
                f"athena download: nothing to fetch: start {iso(start)} is not before end {iso(end)}",
                file=sys.stderr,
            )
            return 2
        progress.begin(instIds, kinds, start, end)
        dl = Downloader(store, client, int(args.max_quiet * 1000), on_day=progress.day, on_page=progress.page)
        metas = dl.download(instIds, kinds, start, end)
    except (DownloadError, OSError) as exc:
        progress.end()
        print(f"athena download: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        progress.end()
        print("athena download: stopped; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        client.close()
    progress.end()
    print(report(store, metas, client.stats))
    return 0


def report(store: Store, metas: list[DayMeta], stats: Stats) -> str:
    """Per instId and kind: days, rows, period, gaps (the first few, and how many)."""
    by: dict[tuple[str, str], list[DayMeta]] = {}
    for m in metas:
        by.setdefault((m.instId, m.kind), []).append(m)
    lines = [
        f"store {store.root}: {stats.requests} requests ({stats.rate_limited} rate-limited, "
        f"{stats.retries} retried), "
        f"{stats.days_done} days fetched, {stats.days_skipped} already there"
    ]
    for (instId, kind), ms in sorted(by.items()):
        rows = sum(m.rows for m in ms)
        gaps = merged_gaps(ms)
        first = min((m.first_ts for m in ms if m.rows), default=0)
        last = max((m.last_ts for m in ms if m.rows), default=0)
        period = f"{iso(first)} .. {iso(last)}" if rows else "no rows"
        partial = sum(1 for m in ms if not m.complete)
        lines.append(
            f"  {instId} {kind}: {len(ms)} days ({partial} partial), {rows} rows, {period}, {len(gaps)} gaps"
        )
        for g in gaps[:5]:
            lines.append(f"      gap {iso(g[0])} .. {iso(g[1])} ({(g[1] - g[0]) / 1000:.0f} s)")
        if len(gaps) > 5:
            lines.append(f"      ... {len(gaps) - 5} more (see the .meta.json files)")
    return "\n".join(lines)


class _Progress:
    """rich's progress bar on a terminal; one plain line per day otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.tasks: dict[tuple[str, str], Any] = {}

    def begin(self, instIds: list[str], kinds: list[Kind], start: int, end: int) -> None:
        if self.quiet:
            return
        n_days = len(days(start, end))
        print(
            f"athena download: {', '.join(k.name for k in kinds)} for {', '.join(instIds)}, "
            f"{iso(start)} .. {iso(end)} ({n_days} days each)",
            flush=True,
        )
        if sys.stdout.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("days  {task.fields[rows]} rows"),
                TimeElapsedColumn(),
            )
            self.bar.start()
            for i in instIds:
                for k in kinds:
                    self.tasks[(i, k.name)] = self.bar.add_task(f"{i} {k.name}", total=n_days, rows=0)

    def page(self, instId: str, kind: str, day: str, rows: int) -> None:
        if self.bar is not None:
            self.bar.update(self.tasks[(instId, kind)], description=f"{instId} {kind} {day}")

    def day(self, meta: DayMeta, skipped: bool) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            task = self.tasks[(meta.instId, meta.kind)]
            rows = self.bar.tasks[task].fields.get("rows", 0) + meta.rows
            self.bar.update(task, advance=1, rows=rows)
            return
        what = "already there" if skipped else f"{meta.requests} requests"
        print(
            f"  {meta.instId} {meta.kind} {meta.day}: {meta.rows} rows, {len(meta.gaps)} gaps ({what})",
            flush=True,
        )

    def end(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
