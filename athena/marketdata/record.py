"""`athena record`: OKX's public WebSocket into rotating gzip files, for days, with flat memory.

Each line is the OKX message exactly as it arrived with the receive time put first:
`{"recvTs":"1733472000123","arg":{...},"data":[...]}` (recvTs: this machine's clock, epoch ms; OKX's
own `ts` stays inside `data`). Subscribe acks and errors are kept too, and the recorder adds its own
`{"event":"athena-resync"|"athena-reconnect",...}` lines where the stream has a hole, so a reader
knows the book must be rebuilt there.

`books` is checked as it arrives (ChecksumBook: the seqId/prevSeqId chain and, while OKX still
sends one, the checksum); a gap or a mismatch resubscribes for a fresh snapshot and is noted.
A lost connection reconnects (athena/okx/ws.py) and keeps writing to the same file.

Files rotate on the clock (`--rotate-minutes`, aligned: 60 rotates on the hour) or on size; a new
file starts with the recorder's books as snapshots, so it replays on its own. Each file gets a sidecar
`<name>.summary.json` (lines per channel and instId, first/last OKX ts and receive time, gaps, resyncs,
reconnects, checksums checked), rewritten at every flush while the file is open (`complete: false`) and final
when it is closed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from athena.marketdata.book import OK, ChecksumBook
from athena.marketdata.venue import add_venue_args, split_ids, venue
from athena.okx.ws import WsConnection

log = logging.getLogger(__name__)

CHANNELS = ("books", "books5", "bbo-tbt", "trades", "funding-rate", "mark-price")
DEFAULT_CHANNELS = "books,trades,funding-rate,mark-price"
PREFIX = "okx-public"
MAX_NOTES = 500  # gap / resync entries kept per file summary; later ones are only counted
STATUS_FILE = "recorder.status.json"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


class FileSummary:
    """What one file holds. Bounded: counters per (channel, instId), at most MAX_NOTES notes."""

    def __init__(self, name: str, opened_ms: int) -> None:
        self.name = name
        self.opened_ms = opened_ms
        self.lines = 0
        self.bytes = 0  # uncompressed
        self.streams: dict[str, dict[str, Any]] = {}  # "channel instId" -> {lines, first_ts, last_ts}
        self.first_recv = self.last_recv = 0
        self.gaps: list[dict[str, Any]] = []
        self.resyncs: list[dict[str, Any]] = []
        self.notes_dropped = 0
        self.reconnects = 0
        self.checksums_checked = 0
        self.checksum_failures = 0
        self.seq_gaps = 0
        self.errors: list[dict[str, Any]] = []

    def line(self, n: int, recv: int, channel: str, instId: str, ts: int) -> None:
        self.lines += 1
        self.bytes += n
        self.first_recv = self.first_recv or recv
        self.last_recv = recv
        if not channel:
            return
        st = self.streams.get(f"{channel} {instId}")
        if st is None:
            st = self.streams[f"{channel} {instId}"] = {"lines": 0, "first_ts": 0, "last_ts": 0}
        st["lines"] += 1
        if ts:
            st["first_ts"] = st["first_ts"] or ts
            st["last_ts"] = max(st["last_ts"], ts)

    def note(self, kind: str, entry: dict[str, Any]) -> None:
        target = self.gaps if kind == "gap" else self.resyncs if kind == "resync" else self.errors
        if len(target) < MAX_NOTES:
            target.append(entry)
        else:
            self.notes_dropped += 1

    def as_dict(self, complete: bool) -> dict[str, Any]:
        return {
            "file": self.name,
            "complete": complete,
            "opened": _iso(self.opened_ms),
            "lines": self.lines,
            "bytes_uncompressed": self.bytes,
            "first_recv_ts": self.first_recv,
            "last_recv_ts": self.last_recv,
            "streams": dict(sorted(self.streams.items())),
            "reconnects": self.reconnects,
            "resyncs": self.resyncs,
            "gaps": self.gaps,
            "errors": self.errors,
            "notes_dropped": self.notes_dropped,
            "seq_gaps": self.seq_gaps,
            "checksums_checked": self.checksums_checked,
            "checksum_failures": self.checksum_failures,
        }


class RotatingWriter:
    """gzip JSON lines, one file per period (aligned to the epoch) or per `rotate_bytes` compressed."""

    def __init__(
        self,
        out: Path,
        rotate_s: float = 3600,
        rotate_bytes: int = 256 << 20,
        prefix: str = PREFIX,
        clock: Callable[[], int] = _now_ms,
        on_close: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.out = out
        self.rotate_ms = max(1, int(rotate_s * 1000))
        self.rotate_bytes = rotate_bytes
        self.prefix = prefix
        self.clock = clock
        self.on_close = on_close
        # lines every new file starts with (the recorder's books as snapshots): (line, channel, instId, ts)
        self.file_start: Callable[[int], list[tuple[bytes, str, str, int]]] = lambda now: []
        self.lock = threading.Lock()
        self.files: list[Path] = []
        self._fh: gzip.GzipFile | None = None
        self._raw: Any = None
        self.path: Path | None = None
        self.summary: FileSummary | None = None
        self._until = 0
        out.mkdir(parents=True, exist_ok=True)

    def _open(self, now: int) -> None:
        stamp = datetime.fromtimestamp(now / 1000, UTC).strftime("%Y%m%dT%H%M%SZ")
        path = self.out / f"{self.prefix}-{stamp}.jsonl.gz"
        n = 1
        while path.exists():
            path = self.out / f"{self.prefix}-{stamp}-{n}.jsonl.gz"
            n += 1
        self._raw = path.open("wb")
        self._fh = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=6, mtime=0)
        self.path = path
        self.summary = FileSummary(path.name, now)
        self._until = (now // self.rotate_ms + 1) * self.rotate_ms
        self.files.append(path)
        for line, channel, instId, ts in self.file_start(now):
            self._fh.write(line)
            self.summary.line(len(line), now, channel, instId, ts)

    def write(self, line: bytes, recv: int, channel: str = "", instId: str = "", ts: int = 0) -> None:
        """Called with self.lock held."""
        if self._fh is None:
            self._open(recv)
        assert self._fh is not None and self.summary is not None
        self._fh.write(line)
        self.summary.line(len(line), recv, channel, instId, ts)

    def current(self) -> FileSummary:
        """The open file's summary (opening one if none is open). Called with self.lock held."""
        if self.summary is None or self._fh is None:
            self._open(self.clock())
        assert self.summary is not None
        return self.summary

    def tick(self, flush: bool) -> Path | None:
        """Rotate when due (returns the closed file), else flush if asked. Takes the lock itself."""
        with self.lock:
            if self._fh is None:
                return None
            now = self.clock()
            if now >= self._until or (self._raw is not None and self._raw.tell() >= self.rotate_bytes):
                return self._close()
            if flush:
                self._flush()
        return None

    def _flush(self) -> None:
        if self._fh is None or self.path is None or self.summary is None:
            return
        self._fh.flush()  # Z_SYNC_FLUSH: everything written so far decompresses, even if we die now
        self._raw.flush()
        self._write_summary(self.summary.as_dict(complete=False))

    def _write_summary(self, doc: dict[str, Any]) -> None:
        assert self.path is not None
        side = self.path.with_name(self.path.name.removesuffix(".jsonl.gz") + ".summary.json")
        tmp = side.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, side)

    def _close(self) -> Path | None:
        if self._fh is None or self.summary is None:
            return None
        path = self.path
        self._fh.close()
        self._raw.close()
        doc = self.summary.as_dict(complete=True)
        self._write_summary(doc)
        self._fh = self._raw = None
        self.summary = None
        if self.on_close is not None:
            self.on_close(doc)
        return path

    def close(self) -> Path | None:
        with self.lock:
            return self._close()


class Recorder(WsConnection):
    """One public connection; every message goes to the writer with its receive time."""

    def __init__(
        self,
        url: str,
        instIds: Iterable[str],
        channels: Iterable[str],
        writer: RotatingWriter,
        **ws_opts: Any,
    ) -> None:
        ws_opts.setdefault("data_watchdog", True)
        super().__init__(url, "athena-record", **ws_opts)
        self.instIds = list(instIds)
        self.channels = tuple(channels)
        for ch in self.channels:
            if ch not in CHANNELS:
                raise ValueError(f"unsupported channel {ch!r} (one of {', '.join(CHANNELS)})")
        self.writer = writer
        self.books = {i: ChecksumBook(i) for i in self.instIds}
        self.resyncing: dict[str, int] = {}  # instId -> recv ms the book went invalid
        self.down_since: int | None = None
        self.lines = 0
        self.resyncs = 0
        writer.file_start = self._book_snapshots
        self.subscribe({"channel": ch, "instId": i} for ch in self.channels for i in self.instIds)

    def _book_snapshots(self, now: int) -> list[tuple[bytes, str, str, int]]:
        """A new file starts with every valid book as a snapshot (marked "athena": it is the
        recorder's copy, not a message OKX sent), so each file replays on its own: the updates that
        follow chain from its seqId and their checksums check against it. Called with the writer's
        lock held, on the connection thread (the only one that touches the books)."""
        out = []
        for instId, book in self.books.items():
            if book.valid:
                msg = {
                    "recvTs": str(now),
                    "athena": "book at file start",
                    "arg": {"channel": "books", "instId": instId},
                    "action": "snapshot",
                    "data": [book.snapshot_data()],
                }
                out.append((orjson.dumps(msg) + b"\n", "books", instId, book.ts))
        return out

    def on_message(self, raw: bytes) -> None:
        recv = _now_ms()
        raw = raw.strip()
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.malformed("json", raw)
            return
        if not isinstance(msg, dict) or not raw.startswith(b"{") or len(msg) == 0:
            self.malformed("not_an_object", raw)
            return
        if b"\n" in raw or b"\r" in raw:
            raw = orjson.dumps(msg)  # one message, one line: whitespace a peer put inside goes
        line = b'{"recvTs":"%d",' % recv + raw[1:] + b"\n"
        arg = msg.get("arg")
        if not isinstance(arg, dict):
            arg = {}
        channel, instId = str(arg.get("channel") or ""), str(arg.get("instId") or "")
        data = msg.get("data")
        w = self.writer
        with w.lock:
            if isinstance(data, list):
                ts = _ts(data)
                w.write(line, recv, channel, instId, ts)
                self.mark_healthy()
                if self.down_since is not None:
                    w.current().note(
                        "gap", {"kind": "reconnect", "from_recv": self.down_since, "to_recv": recv}
                    )
                    self.down_since = None
                if channel == "books" and instId in self.books:  # only the books we asked for
                    self._check_book(instId, msg, data, recv)
            else:
                w.write(line, recv)
                self._on_event(msg, recv)
        self.lines += 1

    def _on_event(self, msg: dict[str, Any], recv: int) -> None:
        event = msg.get("event")
        if event == "subscribe":
            self.stats.sub_acks += 1
            self.mark_healthy()
        elif event == "error":
            self.stats.errors[str(msg.get("code"))] += 1
            self.writer.current().note(
                "error", {"recv": recv, "code": str(msg.get("code")), "msg": str(msg.get("msg"))[:200]}
            )
            self._log_once("error:" + str(msg.get("code")), f"{self.name}: OKX error event {str(msg)[:200]}")
        elif event == "notice":  # OKX closes the connection soon (maintenance): reconnect now
            self.force_reconnect()

    def _check_book(self, instId: str, msg: dict[str, Any], data: list[Any], recv: int) -> None:
        book = self.books[instId]
        snapshot = msg.get("action") == "snapshot"
        summary = self.writer.current()
        for d in data:
            if not isinstance(d, dict):
                continue
            was_valid = book.valid
            before = book.checked
            result = book.apply(d, snapshot)
            summary.checksums_checked += book.checked - before
            if result == OK:
                since = self.resyncing.pop(instId, None)
                if since is not None:
                    summary.note(
                        "gap",
                        {
                            "kind": "resync",
                            "channel": "books",
                            "instId": instId,
                            "from_recv": since,
                            "to_recv": recv,
                        },
                    )
                continue
            if not was_valid and not snapshot:
                continue  # still waiting for the snapshot the resync asked for
            if result == "checksum":
                summary.checksum_failures += 1
            elif result == "gap":
                summary.seq_gaps += 1
            self._resync(instId, result, d, recv)
            return

    def _resync(self, instId: str, reason: str, d: dict[str, Any], recv: int) -> None:
        self.resyncs += 1
        self.resyncing.setdefault(instId, recv)
        note = {
            "recv": recv,
            "instId": instId,
            "reason": reason,
            "seqId": d.get("seqId"),
            "prevSeqId": d.get("prevSeqId"),
        }
        w = self.writer
        w.current().note("resync", note)
        marker = {
            "recvTs": str(recv),
            "event": "athena-resync",
            "arg": {"channel": "books", "instId": instId},
            "reason": reason,
        }
        w.write(orjson.dumps(marker) + b"\n", recv)
        self.resubscribe({"channel": "books", "instId": instId})

    def on_close(self) -> None:
        if self._stop.is_set():
            return  # stopping, not a hole in the data
        now = _now_ms()
        w = self.writer
        with w.lock:
            if self.down_since is None:
                self.down_since = now
            s = w.current()
            s.reconnects += 1
            w.write(orjson.dumps({"recvTs": str(now), "event": "athena-reconnect"}) + b"\n", now)
        for instId, book in self.books.items():
            if book.valid:
                self.resyncing.setdefault(instId, now)
            book.valid = False


def _ts(data: list[Any]) -> int:
    """OKX's ts of a push (the last item's), 0 when it has none."""
    if not data or not isinstance(data[-1], dict):
        return 0
    try:
        return int(data[-1].get("ts") or 0)
    except (TypeError, ValueError):
        return 0


# -- the command ---------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="athena record", description=__doc__.split("\n\n")[0])
    p.add_argument("--instIds", default="BTC-USDT-SWAP", help="instruments, comma-separated")
    p.add_argument(
        "--channels", default=DEFAULT_CHANNELS, help=f"comma-separated, from {', '.join(CHANNELS)}"
    )
    p.add_argument("--out", type=Path, default=Path("var/marketdata/recorded"), help="directory of the files")
    add_venue_args(p, "public WebSocket URL (overrides --venue)")
    p.add_argument(
        "--rotate-minutes", type=float, default=60.0, help="start a new file every N minutes (default 60)"
    )
    p.add_argument("--rotate-mb", type=float, default=256.0, help="...or when a file reaches N MB compressed")
    p.add_argument(
        "--flush-s", type=float, default=5.0, help="flush and refresh the summary every N s (default 5)"
    )
    p.add_argument(
        "--duration", type=float, default=0.0, help="stop after N seconds (default: run until stopped)"
    )
    p.add_argument("--quiet", action="store_true", help="no line per closed file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    instIds, channels = split_ids(args.instIds), split_ids(args.channels)
    if not instIds or not channels:
        print("athena record: give at least one --instIds and one --channels", file=sys.stderr)
        return 2
    try:
        url = args.url or venue(args.venue).ws_public_url
    except ValueError as exc:
        print(f"athena record: {exc}", file=sys.stderr)
        return 2

    def closed(doc: dict[str, Any]) -> None:
        if not args.quiet:
            print(
                f"closed {doc['file']}: {doc['lines']} lines, {len(doc['gaps'])} gaps, "
                f"{len(doc['resyncs'])} resyncs, "
                f"{doc['reconnects']} reconnects, {doc['checksums_checked']} checksums ok",
                flush=True,
            )

    try:
        writer = RotatingWriter(
            args.out,
            rotate_s=args.rotate_minutes * 60,
            rotate_bytes=int(args.rotate_mb * (1 << 20)),
            on_close=closed,
        )
        rec = Recorder(url, instIds, channels, writer)
    except (OSError, ValueError) as exc:
        print(f"athena record: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    print(
        f"athena record: {', '.join(channels)} for {', '.join(instIds)} from {url} into {args.out}",
        flush=True,
    )
    rec.start()
    t0 = last_flush = time.monotonic()
    try:
        while not stop.wait(0.5):
            now = time.monotonic()
            flush = now - last_flush >= args.flush_s
            writer.tick(flush)
            if flush:
                last_flush = now
                _status(args.out, rec)  # after the flush: what it counts is on disk
            if args.duration and now - t0 >= args.duration:
                break
    finally:
        rec.stop()
        writer.close()
        _status(args.out, rec, running=False)
    return 0


def _status(out: Path, rec: Recorder, running: bool = True) -> None:
    """A small status file for the compose healthcheck and for people: fresh while recording."""
    w = rec.writer
    doc = {
        "pid": os.getpid(),
        "running": running,
        "connected": rec.connected.is_set(),
        "updated": _iso(_now_ms()),
        "file": w.path.name if w.path is not None and running else None,
        "lines": rec.lines,
        "resyncs": rec.resyncs,
        "reconnects": rec.stats.reconnects,
        "files": len(w.files),
    }
    tmp = out / (STATUS_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True) + "\n")
    os.replace(tmp, out / STATUS_FILE)
