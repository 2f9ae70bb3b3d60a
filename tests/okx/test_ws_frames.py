"""FrameReader: the WebSocket frame decoding of the tick path (athena.okx.ws)."""

from __future__ import annotations

import struct
from collections import deque

import pytest
import websocket

from athena.fastpath.ws_frames import FrameReader


def frame(payload: bytes, op: int = 1, fin: bool = True, mask: bytes | None = None) -> bytes:
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        head += mask
    return head + payload


class FakeWs:
    def __init__(self, chunks: list[bytes | Exception]) -> None:
        self.chunks = deque(chunks)
        self.pongs: list[bytes] = []

    def _recv(self, n: int) -> bytes:
        item = self.chunks.popleft() if self.chunks else b""
        if isinstance(item, Exception):
            raise item
        return item

    def pong(self, data: bytes) -> None:
        self.pongs.append(data)


def test_frames_of_every_length_across_chunk_boundaries() -> None:
    small, mid, big = b'{"a":1}', b"m" * 300, b"b" * 70_000
    stream = frame(small) + frame(mid) + frame(big, op=2) + frame(small)
    chunks: list[bytes | Exception] = [stream[i : i + 1000] for i in range(0, len(stream), 1000)]
    r = FrameReader(FakeWs(chunks))
    assert [r.next() for _ in range(4)] == [(1, small), (1, mid), (2, big), (1, small)]


def test_fragments_are_joined_and_pings_answered_in_between() -> None:
    ws = FakeWs(
        [
            frame(b"par", fin=False)
            + frame(b"hi", op=9)
            + frame(b"t1", op=0, fin=False)
            + frame(b"", op=10)
            + frame(b"-end", op=0)
            + frame(b"x")
        ]
    )
    r = FrameReader(ws)
    assert r.next() == (1, b"part1-end")
    assert ws.pongs == [b"hi"]
    assert r.next() == (1, b"x")


def test_a_timeout_inside_a_frame_loses_nothing() -> None:
    f = frame(b"z" * 200)
    ws = FakeWs(
        [
            f[:3],
            websocket.WebSocketTimeoutException("t"),
            f[3:50],
            websocket.WebSocketTimeoutException("t"),
            f[50:],
        ]
    )
    r = FrameReader(ws)
    for _ in range(2):
        with pytest.raises(websocket.WebSocketTimeoutException):
            r.next()
    assert r.next() == (1, b"z" * 200)


def test_close_masked_and_closed_connection() -> None:
    r = FrameReader(FakeWs([frame(b"hello", mask=b"\x01\x02\x03\x04") + frame(b"\x03\xe8bye", op=8)]))
    assert r.next() == (1, b"hello")
    assert r.next() == (8, b"\x03\xe8bye")
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        r.next()
    with pytest.raises(websocket.WebSocketProtocolException):
        FrameReader(FakeWs([frame(b"orphan", op=0)])).next()
