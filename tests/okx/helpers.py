"""Helpers the gateway tests share (not a test module): the simulator's admin API, its credentials,
WS timings, unique clOrdIds and a resting limit order far from the book."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from typing import Any

import orjson
import requests

from athena.domain import OrderRequest, OrdType, Side
from athena.okx.rest import OkxRestGateway

SIM_CREDS = ("sim-api-key", "sim-secret-key", "sim-passphrase")
FAST_WS = {"ping_interval_s": 0.2, "stall_timeout_s": 0.8, "backoff_initial_s": 0.05, "backoff_max_s": 0.4}


class Sim:
    """The running SimServer plus its admin API (/sim/...)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.url = server.url
        self.http = requests.Session()

    def ws_url(self, kind: str = "public") -> str:
        return str(self.server.ws_url(kind))

    def admin(self, path: str, body: Any = None) -> Any:
        r = self.http.request(
            "POST" if body is not None else "GET",
            f"{self.url}/sim/{path}",
            data=orjson.dumps(body) if body is not None else None,
            timeout=10,
        )
        out = r.json()
        assert out["code"] == "0", out
        return out["data"][0]

    def faults(self, **spec: Any) -> Any:
        return self.admin("faults", spec)


INST = "BTC-USDT-SWAP"
_ids = itertools.count(1)


def cid(prefix: str = "f") -> str:
    return f"{prefix}{int(time.time() * 1000) % 10**9}n{next(_ids)}"


def limit_req(gw: OkxRestGateway, prefix: str, inst: str = INST, sz: str = "0.01") -> OrderRequest:
    t = gw.ticker(inst)
    assert t.bidPx is not None
    px = (t.bidPx * Decimal("0.8")).quantize(gw_tick(gw, inst))
    return OrderRequest(cid(prefix), inst, Side.BUY, OrdType.LIMIT, Decimal(sz), px)


_ticks: dict[str, Decimal] = {}


def gw_tick(gw: OkxRestGateway, inst: str) -> Decimal:
    if inst not in _ticks:
        _ticks.update({i.instId: i.tickSz for i in gw.instruments()})
    return _ticks[inst]
