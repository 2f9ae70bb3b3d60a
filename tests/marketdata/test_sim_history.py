"""The sim serves OKX's history endpoints from its market history, over real HTTP: paging as OKX
pages (newest first, `after` = older than, `before` = newer than), bars aggregated from the same
trades, OKX's errors and per-endpoint rate limits, and the funding-rate WebSocket channel."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import requests
import websocket

from athena.marketdata.bars import MINUTE
from athena.sim.history import FUNDING_EVERY, funding_rate
from athena.sim.rest import ROUTES
from athena.sim.server import SimServer
from tests.marketdata.helpers import BACKFILL_S, BTC, T0, get

D = Decimal


def all_trades(srv: SimServer, instId: str = BTC) -> list[dict[str, str]]:
    """Every trade, paged backwards by tradeId (type 1) as a client would (rate limits off: the
    downloader's pacing is tested in test_download.py)."""
    requests.post(f"{srv.url}/sim/rate-limits", json={"enabled": False}, timeout=5)
    out: list[dict[str, str]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"instId": instId, "limit": "100"}
        if after:
            params["after"] = after
        code, body = get(srv, "market/history-trades", **params)
        assert code == 200 and body["code"] == "0", body
        if not body["data"]:
            return out
        out += body["data"]
        after = body["data"][-1]["tradeId"]


def test_trades_page_backwards_by_trade_id_without_gaps_or_repeats(history_sim: SimServer) -> None:
    trades = all_trades(history_sim)
    ids = [int(t["tradeId"]) for t in trades]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert ids == list(range(ids[0], ids[0] - len(ids), -1))  # the backfill numbers them without holes
    ts = [int(t["ts"]) for t in trades]
    assert ts == sorted(ts, reverse=True)
    assert ts[-1] >= T0 - BACKFILL_S * 1000 and ts[0] < T0
    assert len(trades) > 1000  # about 1.4 a second
    assert set(trades[0]) == {"instId", "side", "sz", "px", "source", "tradeId", "ts"}
    # the past ends where the live market begins: the newest print is at today's touch
    m = history_sim.exchange.markets[BTC]
    assert D(trades[0]["px"]) in (m.bids[0][0], m.asks[0][0])


def test_trades_by_timestamp_and_before(history_sim: SimServer) -> None:
    trades = all_trades(history_sim)
    mid = trades[len(trades) // 2]
    _, body = get(history_sim, "market/history-trades", instId=BTC, type="2", after=mid["ts"], limit="5")
    assert body["data"] and all(int(t["ts"]) < int(mid["ts"]) for t in body["data"])
    _, body = get(history_sim, "market/history-trades", instId=BTC, before=mid["tradeId"], limit="3")
    assert [t["tradeId"] for t in body["data"]] == [
        t["tradeId"] for t in trades[:3]
    ]  # `before` alone: the newest
    _, body = get(
        history_sim,
        "market/history-trades",
        instId=BTC,
        before=trades[3]["tradeId"],
        after=trades[0]["tradeId"],
    )
    assert [t["tradeId"] for t in body["data"]] == [t["tradeId"] for t in trades[1:3]]
    code, body = get(history_sim, "market/history-trades", instId=BTC, type="2", before=mid["ts"])
    assert (code, body["code"]) == (400, "51000")  # OKX pages `before` by tradeId only


def test_candles_are_the_trades_aggregated_per_bar(history_sim: SimServer) -> None:
    trades = list(reversed(all_trades(history_sim)))
    by_minute: dict[int, list[dict[str, str]]] = {}
    for t in trades:
        by_minute.setdefault(int(t["ts"]) // MINUTE * MINUTE, []).append(t)
    code, body = get(history_sim, "market/history-candles", instId=BTC)
    assert code == 200 and body["code"] == "0"
    rows = body["data"]
    assert [int(r[0]) for r in rows] == sorted(by_minute, reverse=True)  # newest first, every minute
    assert len(rows) == BACKFILL_S // 60
    for r in rows:
        ts, o, h, low, c, vol, vol_ccy, _quote, confirm = r
        prints = by_minute[int(ts)]
        pxs = [D(t["px"]) for t in prints]
        assert (D(o), D(h), D(low), D(c)) == (pxs[0], max(pxs), min(pxs), pxs[-1])
        assert D(vol) == sum(D(t["sz"]) for t in prints) and D(vol_ccy) == D(vol) * D("0.01")
        assert confirm == "1"
    five = get(history_sim, "market/history-candles", instId=BTC, bar="5m")[1]["data"]
    assert len(five) == BACKFILL_S // 300
    for r in five:
        minutes = [x for x in rows if int(r[0]) <= int(x[0]) < int(r[0]) + 5 * MINUTE]
        assert D(r[5]) == sum(D(x[5]) for x in minutes)
        assert r[1] == minutes[-1][1] and r[4] == minutes[0][4]  # open of the first minute, close of the last
    one_s = get(history_sim, "market/history-candles", instId=BTC, bar="1s", limit="300")[1]["data"]
    assert len(one_s) == 300 and all(int(a[0]) > int(b[0]) for a, b in itertools.pairwise(one_s))


def test_candles_after_and_before_page_like_okx(history_sim: SimServer) -> None:
    rows = get(history_sim, "market/history-candles", instId=BTC)[1]["data"]
    pivot = rows[10][0]
    older = get(history_sim, "market/history-candles", instId=BTC, after=pivot, limit="5")[1]["data"]
    assert older == rows[11:16]
    newer = get(history_sim, "market/history-candles", instId=BTC, before=pivot, limit="5")[1]["data"]
    assert newer == rows[:5]  # `before` alone: the newest rows
    between = get(history_sim, "market/history-candles", instId=BTC, before=rows[5][0], after=rows[1][0])[1][
        "data"
    ]
    assert between == rows[2:5]


def test_mark_price_candles(history_sim: SimServer) -> None:
    rows = get(history_sim, "market/history-mark-price-candles", instId=BTC)[1]["data"]
    assert len(rows) == BACKFILL_S // 60 and all(len(r) == 6 and r[5] == "1" for r in rows)
    assert all(D(r[3]) <= D(r[1]) <= D(r[2]) and D(r[3]) <= D(r[4]) <= D(r[2]) for r in rows)
    code, body = get(history_sim, "market/history-mark-price-candles", instId=BTC, bar="1s")
    assert (code, body["code"]) == (400, "51000")


def test_funding_rate_history(history_sim: SimServer) -> None:
    rows = get(history_sim, "public/funding-rate-history", instId=BTC, limit="5")[1]["data"]
    times = [int(r["fundingTime"]) for r in rows]
    newest = T0 // FUNDING_EVERY * FUNDING_EVERY
    assert times == [newest - i * FUNDING_EVERY for i in range(5)]
    for r in rows:
        assert (
            r["fundingRate"]
            == r["realizedRate"]
            == str(funding_rate(history_sim.exchange.seed, BTC, int(r["fundingTime"])))
        )
        assert D("-0.0002") <= D(r["fundingRate"]) < D("0.0004")
    older = get(history_sim, "public/funding-rate-history", instId=BTC, after=str(times[1]), limit="2")[1][
        "data"
    ]
    assert [int(r["fundingTime"]) for r in older] == times[2:4]
    newer = get(
        history_sim, "public/funding-rate-history", instId=BTC, after=str(times[0]), before=str(times[3])
    )[1]["data"]
    assert [int(r["fundingTime"]) for r in newer] == times[1:3]


def test_errors_are_okx_errors(history_sim: SimServer) -> None:
    for path in (
        "market/history-candles",
        "market/history-trades",
        "market/history-mark-price-candles",
        "public/funding-rate-history",
    ):
        code, body = get(history_sim, path)
        assert (code, body["code"]) == (400, "50014"), path  # instId missing
        code, body = get(history_sim, path, instId="NOPE-USDT-SWAP")
        assert body["code"] == "51001", path
        code, body = get(history_sim, path, instId=BTC, after="yesterday")
        assert (code, body["code"]) == (400, "51000"), path
    code, body = get(history_sim, "market/history-candles", instId=BTC, bar="7x")
    assert (code, body["code"], body["msg"]) == (400, "51000", "Parameter bar error")


def test_history_endpoints_have_okx_published_rate_limits(history_sim: SimServer) -> None:
    limits = {
        p.removeprefix("/api/v5/"): (r.limit, r.window_s)
        for p, r in ROUTES.items()
        if "/market/history" in p or "funding-rate-history" in p
    }
    assert limits == {
        "market/history-candles": (20, 2.0),
        "market/history-trades": (20, 2.0),
        "market/history-mark-price-candles": (10, 2.0),
        "public/funding-rate-history": (10, 2.0),
    }
    http = requests.Session()
    codes = [
        http.get(
            f"{history_sim.url}/api/v5/market/history-mark-price-candles", params={"instId": BTC}, timeout=10
        ).json()["code"]
        for _ in range(60)
    ]
    assert codes.count("50011") > 0 and codes[:10] == ["0"] * 10  # 60 in a burst: the window refuses some


def test_funding_rate_channel_pushes_the_next_settlement(live_sim: SimServer) -> None:
    ws = websocket.create_connection(live_sim.ws_url("public"), timeout=5)
    try:
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "funding-rate", "instId": BTC}]}))
        pushes: list[dict[str, Any]] = []
        while len(pushes) < 2:  # the one on subscribe, then the periodic one (every second here)
            msg = json.loads(ws.recv())
            if msg.get("arg", {}).get("channel") == "funding-rate" and "data" in msg:
                pushes.append(msg["data"][0])
    finally:
        ws.close()
    d = pushes[0]
    t = int(d["fundingTime"])
    assert t % FUNDING_EVERY == 0 and int(d["nextFundingTime"]) == t + FUNDING_EVERY
    assert 0 < t - int(d["ts"]) <= FUNDING_EVERY
    assert d["fundingRate"] == str(funding_rate(live_sim.exchange.seed, BTC, t)) and d["instId"] == BTC
