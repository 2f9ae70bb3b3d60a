"""Reading an OKX WebSocket's frames off websocket-client's socket, without its per-frame machinery.

FrameReader reads the server's frames with websocket-client's private socket read (`WebSocket._recv`):
0.4 µs per frame where websocket-client's recv_data takes 4 µs (a third of a ticker's whole ingest
cost, bench/bench_tick_path.py), and _BufferedRecv wraps its (private) `frame_buffer.recv`, so the
handshake's and the library's own reads take what the socket holds in one syscall.

`ATHENA_FASTPATH_WS_FRAMES=off` (or `ATHENA_FASTPATHS=off`): frame_reader() leaves the socket as
websocket-client built it and returns PlainFrames, websocket-client's public recv_data.
"""

from __future__ import annotations

from typing import Any, Protocol

import websocket
from websocket import ABNF

from athena.fastpath import enabled


class Frames(Protocol):
    def next(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next data message or close frame; pings answered, pongs skipped."""
        ...


class _BufferedRecv:
    """websocket-client reads each frame with 2-3 exact-size recv calls (header, length, payload),
    each a poll + syscall in timeout mode; this reads what the socket has (up to 64 KiB) and serves
    those exact sizes from it. A timeout still surfaces only when nothing is buffered."""

    __slots__ = ("buf", "pos", "raw")

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.buf = b""
        self.pos = 0

    def __call__(self, bufsize: int) -> bytes:
        if self.pos >= len(self.buf):
            self.buf = self.raw(65536)
            self.pos = 0
        chunk = self.buf[self.pos : self.pos + bufsize]
        self.pos += len(chunk)
        return chunk


def _buffer_reads(ws: websocket.WebSocket) -> None:
    fb = getattr(ws, "frame_buffer", None)
    if fb is not None and callable(getattr(fb, "recv", None)):
        fb.recv = _BufferedRecv(fb.recv)


class FrameReader:
    """Reads the server's frames off a connected websocket-client socket: 0.4 µs per frame where
    websocket-client's recv_data takes 4 µs (a third of a ticker's whole ingest cost).

    RFC 6455 as OKX uses it: text/binary frames, fragments joined, ping answered with pong, pong
    skipped, close returned. A frame is consumed only once it is complete, so a read timeout in the
    middle of one loses nothing (the next call carries on). No extensions are negotiated (the
    client offers none), so RSV bits are ignored. `raw(n)` is websocket-client's own socket read
    (timeouts, TLS, closed connections behave as before)."""

    __slots__ = ("buf", "frag", "frag_op", "pos", "raw", "ws")

    def __init__(self, ws: Any, raw: Any = None) -> None:
        self.ws = ws
        self.raw = raw or ws._recv
        self.buf = b""
        self.pos = 0
        self.frag: list[bytes] | None = None
        self.frag_op = 0

    def _need(self, n: int) -> None:
        while len(self.buf) - self.pos < n:
            chunk = self.raw(65536)
            if not chunk:
                raise websocket.WebSocketConnectionClosedException("connection closed")
            self.buf = self.buf[self.pos :] + chunk
            self.pos = 0

    def next(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next data message or close frame."""
        while True:
            self._need(2)
            buf, pos = self.buf, self.pos
            b0, b1 = buf[pos], buf[pos + 1]
            size, head = b1 & 0x7F, 2
            if size == 126:
                self._need(4)
                size, head = int.from_bytes(self.buf[self.pos + 2 : self.pos + 4], "big"), 4
            elif size == 127:
                self._need(10)
                size, head = int.from_bytes(self.buf[self.pos + 2 : self.pos + 10], "big"), 10
            masked = b1 & 0x80
            if masked:  # servers must not mask; unmask anyway rather than hand over garbage
                head += 4
            self._need(head + size)
            start = self.pos + head
            data = self.buf[start : start + size]
            if masked:
                key = self.buf[start - 4 : start]
                data = bytes(c ^ key[i & 3] for i, c in enumerate(data))
            self.pos = start + size
            op, fin = b0 & 0x0F, b0 & 0x80
            if op == ABNF.OPCODE_TEXT or op == ABNF.OPCODE_BINARY:
                if fin:
                    return op, data
                self.frag_op, self.frag = op, [data]
            elif op == ABNF.OPCODE_CONT:
                if self.frag is None:
                    raise websocket.WebSocketProtocolException("continuation frame without a first fragment")
                self.frag.append(data)
                if fin:
                    out, self.frag = b"".join(self.frag), None
                    return self.frag_op, out
            elif op == ABNF.OPCODE_PING:
                self.ws.pong(data)
            elif op == ABNF.OPCODE_CLOSE:
                return op, data
            elif op != ABNF.OPCODE_PONG:
                raise websocket.WebSocketProtocolException(f"unknown opcode {op}")


class PlainFrames:
    """websocket-client's own reading: recv_data joins fragments, answers pings, skips pongs."""

    __slots__ = ("ws",)

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws

    def next(self) -> tuple[int, bytes]:
        op, data = self.ws.recv_data(control_frame=False)
        return op, data if isinstance(data, bytes) else bytes(data, "utf-8")


def frame_reader(ws: websocket.WebSocket) -> Frames:
    """How this connection's frames are read: FrameReader while the switch is on, else PlainFrames."""
    if not enabled("ws_frames"):
        return PlainFrames(ws)
    _buffer_reads(ws)
    return FrameReader(ws)
