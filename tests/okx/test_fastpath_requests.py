"""athena/fastpath/requests_session.py: LeanSession puts on the wire the very bytes requests.Session
does and hands back the same response; with the switch off the gateway trades through requests' own
Session."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from athena.domain import OrderRequest, OrderState, OrdType, Side
from athena.fastpath.requests_session import LeanSession, new_session
from athena.okx.rest import OkxRestGateway
from tests.okx.helpers import SIM_CREDS, Sim

BODY = b'{"code":"0","data":[{}]}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Test: 1\r\nContent-Length: %d\r\n\r\n%s"
    % (len(BODY), BODY)
)


class RawHttpServer:
    """Records each request's raw bytes (head and body) and answers every one with RESPONSE."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.requests: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(buf) < length:
                    buf += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buf[:length])
                buf = buf[length:]
                conn.sendall(RESPONSE)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def server() -> Iterator[RawHttpServer]:
    s = RawHttpServer()
    yield s
    s.close()


def configured(session: requests.Session) -> requests.Session:
    """Set up as OkxRestGateway sets up its session."""
    session.trust_env = False
    session.headers["Content-Type"] = "application/json"
    session.headers["x-simulated-trading"] = "1"
    return session


def test_the_same_bytes_on_the_wire_and_the_same_response(server: RawHttpServer) -> None:
    calls = [
        ("GET", "/api/v5/account/balance?ccy=USDT", None, {"OK-ACCESS-KEY": "k", "OK-ACCESS-SIGN": "s"}),
        ("POST", "/api/v5/trade/order", b'{"instId":"BTC-USDT-SWAP","sz":"1"}', {"OK-ACCESS-KEY": "k"}),
        ("POST", "/api/v5/trade/cancel-all-after", None, {}),
        ("DELETE", "/x", b"", None),
    ]
    responses: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
    for kind, session in (("lean", configured(LeanSession())), ("plain", configured(requests.Session()))):
        assert type(session) is (LeanSession if kind == "lean" else requests.Session)
        with session:
            got = [
                session.request(m, server.url + path, data=body, headers=h, timeout=(3, 3))
                for m, path, body, h in calls
            ]
        responses[kind] = [(r.status_code, dict(r.headers), r.content) for r in got]
    n = len(calls)
    assert len(server.requests) == 2 * n
    assert server.requests[:n] == server.requests[n:]  # byte for byte, headers in the same order
    assert responses["lean"] == responses["plain"]
    assert responses["lean"][0] == (
        200,
        {"Content-Type": "application/json", "X-Test": "1", "Content-Length": str(len(BODY))},
        BODY,
    )


def test_the_switch_chooses_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATHENA_FASTPATH_REQUESTS_SESSION", raising=False)
    monkeypatch.delenv("ATHENA_FASTPATHS", raising=False)
    assert type(new_session()) is LeanSession
    monkeypatch.setenv("ATHENA_FASTPATHS", "off")
    assert type(new_session()) is requests.Session
    monkeypatch.setenv("ATHENA_FASTPATH_REQUESTS_SESSION", "on")
    assert type(new_session()) is LeanSession


def test_the_gateway_trades_through_plain_requests(clean_sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATHENA_FASTPATH_REQUESTS_SESSION", "off")
    with OkxRestGateway(base_url=clean_sim.url, credentials=SIM_CREDS, timeout_s=3.0) as rest:
        assert type(rest.session) is requests.Session
        t = rest.ticker("BTC-USDT-SWAP")
        assert t.bidPx is not None
        px = (t.bidPx * Decimal("0.8")).quantize(Decimal("0.1"))
        req = OrderRequest(
            f"fp{time.time_ns() % 10**12}", "BTC-USDT-SWAP", Side.BUY, OrdType.LIMIT, Decimal("0.05"), px
        )
        ack = rest.place_order(req)
        assert ack.state is OrderState.LIVE and ack.clOrdId == req.clOrdId
        got = rest.get_order("BTC-USDT-SWAP", clOrdId=req.clOrdId)
        assert got is not None and got.px == px and got.state is OrderState.LIVE
        rest.cancel_order("BTC-USDT-SWAP", clOrdId=req.clOrdId)
