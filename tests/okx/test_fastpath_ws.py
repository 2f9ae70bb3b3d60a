"""athena/fastpath/ws_frames.py: FrameReader hands over exactly the frames websocket-client's own
recv_data does, and with the switch off a gateway reads its frames through websocket-client."""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from athena.domain import Ticker
from athena.fastpath import ws_frames
from athena.fastpath.ws_frames import FrameReader, Frames, PlainFrames, frame_reader
from athena.okx import ws as ws_mod
from athena.okx.public_ws import OkxPublicWsGateway
from tests.okx.helpers import FAST_WS, Sim
from tests.waiting import wait_until

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455


def frame(payload: bytes, op: int = 1, fin: bool = True) -> bytes:
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        head = bytes([b0, n])
    elif n < 65536:
        head = bytes([b0, 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, 127]) + struct.pack("!Q", n)
    return head + payload


# What a server may send: every length class, binary, a message in three fragments with a ping
# between them, a pong nobody asked for, then close (code 1000).
STREAM = (
    frame(b'{"arg":{"channel":"tickers"},"data":[]}')
    + frame(b"m" * 300)
    + frame(b"\x00\x01" * 40_000, op=2)
    + frame(b"pong")
    + frame(b'{"part":', fin=False)
    + frame(b"ping-1", op=9)
    + frame(b'"two",', op=0, fin=False)
    + frame(b'"end":1}', op=0)
    + frame(b"unasked", op=10)
    + frame(b"\x03\xe8bye", op=8)
)


class RawWsServer:
    """A WebSocket server that writes STREAM byte for byte to each client and records what it sends back."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            req = b""
            while b"\r\n\r\n" not in req:
                req += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in req.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            for i in range(0, len(STREAM), 7000):  # frames split across reads
                conn.sendall(STREAM[i : i + 7000])
            got = b""
            conn.settimeout(5)
            try:
                while chunk := conn.recv(65536):
                    got += chunk
            except OSError:
                pass
            self.received.append(got)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def close(self) -> None:
        self.sock.close()
        for t in self._threads:
            t.join(10)


@pytest.fixture()
def raw_server() -> Iterator[RawWsServer]:
    s = RawWsServer()
    yield s
    s.close()


def read_all(url: str) -> list[tuple[int, bytes]]:
    ws = websocket.create_connection(url, timeout=5, skip_utf8_validation=True, enable_multithread=True)
    frames = frame_reader(ws)
    out = []
    try:
        while True:
            op, data = frames.next()
            out.append((op, data))
            if op == websocket.ABNF.OPCODE_CLOSE:
                return out
    finally:
        ws.close(timeout=0.2)
        # as WsConnection does: after recv_data answered the close, close() leaves the socket open
        ws.shutdown()


def unmasked_client_frames(raw: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of the frames a client sent (clients mask every frame)."""
    out, pos = [], 0
    while pos < len(raw):
        op, size = raw[pos] & 0x0F, raw[pos + 1] & 0x7F
        pos += 2
        if size == 126:
            size, pos = struct.unpack("!H", raw[pos : pos + 2])[0], pos + 2
        key, pos = raw[pos : pos + 4], pos + 4
        out.append((op, bytes(c ^ key[i & 3] for i, c in enumerate(raw[pos : pos + size]))))
        pos += size
    return out


def test_frame_reader_reads_what_websocket_client_reads(
    raw_server: RawWsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATHENA_FASTPATHS", raising=False)
    monkeypatch.setenv("ATHENA_FASTPATH_WS_FRAMES", "on")
    ours = read_all(raw_server.url)
    monkeypatch.setenv("ATHENA_FASTPATH_WS_FRAMES", "off")
    theirs = read_all(raw_server.url)
    assert (
        ours
        == theirs
        == [
            (1, b'{"arg":{"channel":"tickers"},"data":[]}'),
            (1, b"m" * 300),
            (2, b"\x00\x01" * 40_000),
            (1, b"pong"),
            (1, b'{"part":"two","end":1}'),
            (8, b"\x03\xe8bye"),
        ]
    )
    assert wait_until(lambda: len(raw_server.received) == 2, 10)
    pongs = [[f for f in unmasked_client_frames(raw) if f[0] == 10] for raw in raw_server.received]
    assert pongs == [[(10, b"ping-1")], [(10, b"ping-1")]]  # both answered the ping with its payload


def test_the_switch_chooses_the_reader(raw_server: RawWsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = websocket.create_connection(raw_server.url, timeout=5)
    try:
        monkeypatch.setenv("ATHENA_FASTPATHS", "off")
        plain = frame_reader(ws)
        assert type(plain) is PlainFrames
        assert not isinstance(ws.frame_buffer.recv, ws_frames._BufferedRecv)  # the socket left as built
        monkeypatch.setenv("ATHENA_FASTPATH_WS_FRAMES", "on")  # the path's own switch wins
        assert type(frame_reader(ws)) is FrameReader
    finally:
        ws.close(timeout=0.2)


def test_a_gateway_receives_market_data_through_websocket_client(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATHENA_FASTPATH_WS_FRAMES", "off")
    readers: list[Frames] = []

    def spy(ws: Any) -> Frames:
        readers.append(frame_reader(ws))
        return readers[-1]

    monkeypatch.setattr(ws_mod, "frame_reader", spy)
    events: list[Any] = []
    gw = OkxPublicWsGateway(
        sim.ws_url("public"),
        ["BTC-USDT-SWAP"],
        ("tickers",),
        events.append,
        **{**FAST_WS, "stall_timeout_s": 3.0},
    )
    gw.start()
    try:
        assert wait_until(lambda: sum(isinstance(e, Ticker) for e in events) >= 3, 20), events[-5:]
    finally:
        gw.stop()
    assert readers and all(type(r) is PlainFrames for r in readers)
    assert gw.stats.malformed == {}
