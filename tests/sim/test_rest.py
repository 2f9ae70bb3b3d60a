"""REST over real HTTP: auth, envelope, status codes, batch codes, rate limits, core endpoints."""

from __future__ import annotations

import requests

from athena.sim.client import SimClient, iso_now, sign
from athena.sim.server import SimServer
from tests.sim.helpers import BTC, order


def test_public_endpoints(sim_client: SimClient) -> None:
    assert int(sim_client.get("/api/v5/public/time", signed=False)["data"][0]["ts"]) > 0
    rows = sim_client.get("/api/v5/public/instruments?instType=SWAP", signed=False)["data"]
    btc = next(r for r in rows if r["instId"] == BTC)
    assert (btc["ctVal"], btc["lotSz"], btc["minSz"], btc["tickSz"]) == ("0.01", "0.01", "0.01", "0.1")
    assert (btc["uly"], btc["instFamily"], btc["settleCcy"], btc["ctValCcy"], btc["state"]) == (
        "BTC-USDT",
        "BTC-USDT",
        "USDT",
        "BTC",
        "live",
    )
    eth = next(r for r in rows if r["instId"] == "ETH-USDT-SWAP")
    assert (eth["ctVal"], eth["lotSz"], eth["tickSz"]) == ("0.1", "0.01", "0.01")
    assert len(rows) >= 4
    assert sim_client.get("/api/v5/public/instruments?instType=SPOT", signed=False) == {
        "code": "0",
        "msg": "",
        "data": [],
    }
    t = sim_client.get(f"/api/v5/market/ticker?instId={BTC}", signed=False)["data"][0]
    assert float(t["askPx"]) > float(t["bidPx"]) > 0 and t["last"]
    b = sim_client.get(f"/api/v5/market/books?instId={BTC}&sz=5", signed=False)["data"][0]
    assert len(b["asks"]) == 5 and len(b["bids"]) == 5 and len(b["asks"][0]) == 4
    asks = [float(x[0]) for x in b["asks"]]
    bids = [float(x[0]) for x in b["bids"]]
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True)


def test_auth_errors_are_401_with_okx_codes(sim: SimServer, sim_client: SimClient) -> None:
    target = "/api/v5/account/balance"
    ok = sim_client.request("GET", target)
    assert ok.status_code == 200 and ok.json()["code"] == "0"
    bad = SimClient(sim.url, secret="wrong").request("GET", target)
    assert bad.status_code == 401 and bad.json() == {"code": "50113", "msg": "Invalid Sign", "data": []}
    assert SimClient(sim.url, key="nokey").request("GET", target).json()["code"] == "50111"
    assert SimClient(sim.url, passphrase="x").request("GET", target).json()["code"] == "50105"
    old = iso_now(-60)
    h = sim_client.headers("GET", target, "", ts=old)
    r = requests.get(sim.url + target, headers=h, timeout=5)
    assert r.status_code == 401 and r.json()["code"] == "50102"
    r = requests.get(sim.url + target, timeout=5)
    assert r.status_code == 401 and r.json()["code"] == "50103"


def test_signature_over_raw_target_and_body(sim: SimServer, sim_client: SimClient) -> None:
    # ccxt percent-encodes the comma; the signature must cover the target exactly as sent
    target = f"/api/v5/account/positions?instId={BTC}%2CETH-USDT-SWAP"
    assert sim_client.request("GET", target).json()["code"] == "0"
    # python-okx style body with ", " separators, hashed byte for byte
    body = (
        '{"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "0.01", '
        '"reduceOnly": "", "attachAlgoOrds": null}'
    )
    ts = iso_now()
    h = {
        "OK-ACCESS-KEY": "sim-api-key",
        "OK-ACCESS-SIGN": sign("sim-secret-key", ts, "POST", "/api/v5/trade/order", body),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": "sim-passphrase",
        "Content-Type": "application/json",
        "x-simulated-trading": "1",
    }
    r = requests.post(sim.url + "/api/v5/trade/order", data=body, headers=h, timeout=5)
    assert r.status_code == 200 and r.json()["data"][0]["sCode"] == "0"
    h["OK-ACCESS-SIGN"] = sign("sim-secret-key", ts, "POST", "/api/v5/trade/order", body.replace(", ", ","))
    r = requests.post(sim.url + "/api/v5/trade/order", data=body, headers=h, timeout=5)
    assert r.status_code == 401 and r.json()["code"] == "50113"


def test_envelope_statuses(sim: SimServer, sim_client: SimClient) -> None:
    r = sim_client.request("POST", "/api/v5/trade/order", None)
    assert r.status_code == 400 and r.json()["code"] == "50000"
    h = sim_client.headers("POST", "/api/v5/trade/order", "{bad")
    r = requests.post(sim.url + "/api/v5/trade/order", data="{bad", headers=h, timeout=5)
    assert r.status_code == 400 and r.json()["code"] == "50002"
    r = sim_client.request("POST", "/api/v5/account/balance", {})
    assert r.status_code == 405 and r.json()["code"] == "50115"
    r = sim_client.request("GET", "/api/v5/nope")
    assert r.status_code == 404 and r.json()["data"] == []
    r = sim_client.request("GET", "/api/v5/market/ticker", signed=False)
    assert r.status_code == 400 and r.json()["code"] == "50014"


def test_order_lifecycle_and_batch_codes(sim_client: SimClient) -> None:
    r = sim_client.post("/api/v5/trade/order", order("buy", "post_only", px="50000", clOrdId="p1", tag="t1"))
    assert r["code"] == "0" and r["data"][0]["clOrdId"] == "p1" and r["data"][0]["tag"] == "t1"
    assert "inTime" in r and "outTime" in r
    oid = r["data"][0]["ordId"]
    got = sim_client.get(f"/api/v5/trade/order?instId={BTC}&clOrdId=p1")["data"][0]
    assert (
        got["ordId"] == oid and got["state"] == "live" and got["avgPx"] == "" and got["reduceOnly"] == "false"
    )
    assert (
        sim_client.post(
            "/api/v5/trade/amend-order", {"instId": BTC, "ordId": oid, "newPx": "50001", "reqId": "r1"}
        )["data"][0]["reqId"]
        == "r1"
    )
    assert sim_client.get(f"/api/v5/trade/order?instId={BTC}&ordId={oid}")["data"][0]["px"] == "50001"
    pend = sim_client.get(f"/api/v5/trade/orders-pending?instType=SWAP&instId={BTC}")["data"]
    assert [p["ordId"] for p in pend] == [oid]
    assert (
        sim_client.post("/api/v5/trade/cancel-order", {"instId": BTC, "ordId": oid})["data"][0]["sCode"]
        == "0"
    )
    r = sim_client.post("/api/v5/trade/cancel-order", {"instId": BTC, "ordId": oid})
    assert r["code"] == "1" and r["data"][0]["sCode"] == "51400"
    assert sim_client.get(f"/api/v5/trade/order?instId={BTC}&ordId=123")["code"] == "51603"
    hist = sim_client.get("/api/v5/trade/orders-history?instType=SWAP&state=canceled")["data"]
    assert hist[0]["ordId"] == oid and hist[0]["cancelSource"] == "1"
    ok, bad = order("buy", "post_only", px="50000"), order(sz="0.001")
    assert sim_client.post("/api/v5/trade/batch-orders", [ok])["code"] == "0"
    r = sim_client.post("/api/v5/trade/batch-orders", [ok, bad])
    assert r["code"] == "2" and [d["sCode"] for d in r["data"]] == ["0", "51121"]
    r = sim_client.post("/api/v5/trade/batch-orders", [bad, bad])
    assert r["code"] == "1" and r["msg"] == "All operations failed"
    assert sim_client.post("/api/v5/trade/batch-orders", [ok] * 21)["code"] == "51000"
    ids = [p["ordId"] for p in sim_client.get("/api/v5/trade/orders-pending")["data"]]
    r = sim_client.post("/api/v5/trade/cancel-batch-orders", [{"instId": BTC, "ordId": i} for i in ids])
    assert r["code"] == "0" and len(r["data"]) == 2


def test_account_endpoints(sim_client: SimClient) -> None:
    cfg = sim_client.get("/api/v5/account/config")["data"][0]
    assert cfg["posMode"] == "net_mode" and cfg["acctLv"] == "2"
    r = sim_client.post("/api/v5/account/set-leverage", {"lever": 5, "mgnMode": "cross", "instId": BTC})
    assert r["data"] == [{"lever": "5", "mgnMode": "cross", "instId": BTC, "posSide": ""}]
    assert (
        sim_client.post("/api/v5/account/set-leverage", {"lever": "500", "mgnMode": "cross", "instId": BTC})[
            "code"
        ]
        == "59102"
    )
    sim_client.post("/api/v5/trade/order", order(sz="1"))
    p = sim_client.get(f"/api/v5/account/positions?instType=SWAP&instId={BTC}")["data"][0]
    assert p["pos"] == "1" and p["lever"] == "5" and p["mgnMode"] == "cross" and p["posSide"] == "net"
    assert float(p["imr"]) > 0 and p["avgPx"]
    bal = sim_client.get("/api/v5/account/balance")["data"][0]
    d = bal["details"][0]
    assert d["ccy"] == "USDT" and float(d["availEq"]) < float(d["eq"]) and bal["uTime"]
    r = sim_client.post("/api/v5/account/set-position-mode", {"posMode": "long_short_mode"})
    assert r["code"] == "59000"
    assert sim_client.post("/api/v5/trade/close-position", {"instId": BTC, "mgnMode": "cross"})["code"] == "0"
    assert sim_client.get("/api/v5/account/positions")["data"] == []
    assert sim_client.get(f"/api/v5/account/positions?instId={BTC}")["data"][0]["pos"] == "0"
    assert (
        sim_client.post("/api/v5/trade/close-position", {"instId": BTC, "mgnMode": "cross"})["code"]
        == "51023"
    )
    fills = sim_client.get(f"/api/v5/trade/fills?instType=SWAP&instId={BTC}")["data"]
    assert len(fills) >= 2 and {f["side"] for f in fills} == {"buy", "sell"}


def test_rate_limit_50011_http_429(sim: SimServer, sim_client: SimClient) -> None:
    codes = [sim_client.request("GET", "/api/v5/account/config").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    assert sim_client.request("GET", "/api/v5/account/config").json()["code"] == "50011"
    sim.limiter.scale = 1000
    assert sim_client.request("GET", "/api/v5/account/config").status_code == 200
