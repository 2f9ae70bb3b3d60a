"""python-okx's WsPrivateAsync order entry against the simulator over wss (python-okx only opens TLS
WebSockets: the sim serves its self-signed cert and SSL_CERT_FILE points at it).

python-okx 0.4.4 sends `{"op", "args"[, "id"]}` exactly as given (no expTime: its send() has no field for
it) and hands every frame to one callback as raw text; replies are matched here by `id`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from okx.websocket.WsPrivateAsync import WsPrivateAsync

from athena.sim.server import SimServer
from tests.sim.helpers import BTC, KEY, PASS, SECRET


@pytest.fixture()
def tls_sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimServer]:
    srv = SimServer(tick_interval_ms=0, tls=True).start()
    assert srv.cert_file
    monkeypatch.setenv("SSL_CERT_FILE", srv.cert_file)
    yield srv
    srv.stop()


class Frames:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def __call__(self, raw: str) -> None:
        self.got.append(raw if raw == "pong" else json.loads(raw))

    async def wait(self, pred: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for m in self.got:
                if pred(m):
                    return m
            await asyncio.sleep(0.01)
        raise AssertionError(f"no matching frame within {timeout}s; last: {self.got[-3:]}")

    async def reply(self, req_id: str) -> dict[str, Any]:
        r = await self.wait(lambda m: isinstance(m, dict) and m.get("id") == req_id and "op" in m)
        assert {"id", "op", "code", "msg", "data", "inTime", "outTime"} <= set(r), r
        return r  # type: ignore[no-any-return]


def _order(cl: str, px: str) -> dict[str, str]:
    # python-okx users pass OKX's own field names; optional ones empty, as its REST calls send them
    return {
        "instId": BTC,
        "tdMode": "cross",
        "side": "buy",
        "ordType": "post_only",
        "sz": "0.01",
        "px": px,
        "clOrdId": cl,
        "ccy": "",
        "tag": "",
        "reduceOnly": "",
    }


def test_ws_private_async_order_entry(tls_sim: SimServer) -> None:
    async def run() -> None:
        frames = Frames()
        ws = WsPrivateAsync(apiKey=KEY, passphrase=PASS, secretKey=SECRET, url=tls_sim.ws_url("private"))
        ws.callback = frames
        await ws.start()
        try:
            await ws.login()
            login = await frames.wait(lambda m: isinstance(m, dict) and m.get("event") in ("login", "error"))
            assert login["code"] == "0", login

            await ws.place_order([_order("pyws1", "50000")], id="1")
            r = await frames.reply("1")
            assert (r["op"], r["code"], r["data"][0]["sCode"], r["data"][0]["clOrdId"]) == (
                "order",
                "0",
                "0",
                "pyws1",
            )
            ord_id = r["data"][0]["ordId"]

            await ws.batch_orders(
                [_order("pyws2", "49990"), _order("pyws2", "49980"), _order("pyws3", "49970")], id="2"
            )
            r = await frames.reply("2")
            assert (r["op"], r["code"]) == ("batch-orders", "2")  # the duplicate clOrdId fails alone
            assert [d["sCode"] for d in r["data"]] == ["0", "51016", "0"]

            await ws.amend_order([{"instId": BTC, "ordId": ord_id, "newPx": "49995", "reqId": "a1"}], id="3")
            r = await frames.reply("3")
            assert (r["op"], r["code"], r["data"][0]["reqId"], r["data"][0]["ordId"]) == (
                "amend-order",
                "0",
                "a1",
                ord_id,
            )
            await ws.batch_amend_orders(
                [
                    {"instId": BTC, "clOrdId": "pyws2", "newSz": "0.02"},
                    {"instId": BTC, "clOrdId": "nosuch", "newSz": "0.02"},
                ],
                id="4",
            )
            r = await frames.reply("4")
            assert (r["op"], r["code"]) == ("batch-amend-orders", "2")
            assert [d["sCode"] for d in r["data"]] == ["0", "51503"]

            await ws.cancel_order([{"instId": BTC, "ordId": ord_id}], id="5")
            r = await frames.reply("5")
            assert (r["op"], r["code"], r["data"][0]["ordId"]) == ("cancel-order", "0", ord_id)
            await ws.batch_cancel_orders(
                [{"instId": BTC, "clOrdId": c} for c in ("pyws2", "pyws3", "pyws1")], id="6"
            )
            r = await frames.reply("6")
            assert (r["op"], r["code"]) == ("batch-cancel-orders", "2")
            assert [d["sCode"] for d in r["data"]] == ["0", "0", "51400"]  # pyws1 was cancelled already

            await ws.send("order", [_order("noid", "48000")])  # python-okx sends no id unless given one
            r = await frames.wait(
                lambda m: (
                    isinstance(m, dict)
                    and m.get("op") == "order"
                    and m["data"]
                    and m["data"][0]["clOrdId"] == "noid"
                )
            )
            assert (
                r["code"] == "0" and r["id"] == ""
            )  # OKX's answer to a missing id is unverified: echoed empty
        finally:
            await ws.stop()

    asyncio.run(run())
    state = tls_sim.call(lambda: {o.clOrdId: (o.state, str(o.sz)) for o in tls_sim.exchange.orders.values()})
    assert state["pyws1"][0] == state["pyws3"][0] == "canceled"
    assert state["pyws2"] == ("canceled", "0.02") and state["noid"][0] == "live"
