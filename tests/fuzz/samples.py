"""Valid OKX payloads (shapes from OKX's docs and captured frames) that the fuzzers mutate."""

from __future__ import annotations

from typing import Any

import orjson

INST = "BTC-USDT-SWAP"
INSTRUMENT = {
    "instId": INST,
    "instType": "SWAP",
    "ctVal": "0.01",
    "ctMult": "1",
    "ctValCcy": "BTC",
    "lotSz": "0.01",
    "tickSz": "0.1",
    "minSz": "0.01",
    "maxLmtSz": "100000000",
    "maxMktSz": "12000",
    "lever": "100",
    "settleCcy": "USDT",
    "ctType": "linear",
    "state": "live",
}
ORDER = {
    "accFillSz": "0.03",
    "avgPx": "103698.9",
    "cTime": "1746947317401",
    "clOrdId": "s1BTCUSDT7",
    "execType": "M",
    "fee": "-0.021776769",
    "feeCcy": "USDT",
    "fillPx": "103698.9",
    "fillSz": "0.03",
    "fillFee": "-0.0217",
    "fillTime": "1746947317402",
    "instId": INST,
    "instType": "SWAP",
    "lever": "2.0",
    "ordId": "2497956918703120384",
    "ordType": "limit",
    "pnl": "0",
    "posSide": "long",
    "px": "103700",
    "reduceOnly": "false",
    "side": "buy",
    "state": "partially_filled",
    "sz": "0.05",
    "tdMode": "isolated",
    "tradeId": "1518905529",
    "uTime": "1746947317402",
}
ALGO = {
    "algoId": "706620792746729472",
    "algoClOrdId": "sls1BTCUSDT7",
    "instId": INST,
    "instType": "SWAP",
    "ordType": "conditional",
    "state": "live",
    "side": "sell",
    "posSide": "long",
    "sz": "0.03",
    "slTriggerPx": "95000",
    "slTriggerPxType": "last",
    "slOrdPx": "-1",
    "tdMode": "isolated",
    "reduceOnly": "true",
    "uTime": "1737400000000",
}
POSITION = {
    "instId": INST,
    "instType": "SWAP",
    "posSide": "long",
    "pos": "0.03",
    "avgPx": "103698.9",
    "mgnMode": "isolated",
    "markPx": "103700.1",
    "upl": "0.0036",
    "realizedPnl": "-0.02",
    "lever": "2",
    "liqPx": "52000",
    "uTime": "1746947317402",
    "posId": "1",
    "availPos": "0.03",
    "notionalUsd": "3111",
    "margin": "1555",
    "adl": "1",
}
BALANCE = {
    "totalEq": "100.5",
    "upl": "0",
    "imr": "0",
    "mmr": "0",
    "mgnRatio": "",
    "uTime": "1751526647084",
    "details": [
        {
            "ccy": "USDT",
            "eq": "100.5",
            "cashBal": "100.5",
            "availBal": "100.5",
            "availEq": "100.5",
            "frozenBal": "0",
            "ordFrozen": "0",
            "upl": "0",
            "eqUsd": "100.55",
            "uTime": "1751526647084",
        }
    ],
}
FILL = {
    "instId": INST,
    "tradeId": "123",
    "ordId": "2497956918703120384",
    "clOrdId": "s1BTCUSDT7",
    "side": "buy",
    "posSide": "long",
    "fillPx": "103698.9",
    "fillSz": "0.03",
    "fee": "-0.02",
    "feeCcy": "USDT",
    "execType": "M",
    "billId": "9",
    "fillPnl": "0",
    "ts": "1746947317402",
}
ACCOUNT_CONFIG = {
    "uid": "1",
    "acctLv": "2",
    "posMode": "long_short_mode",
    "perm": "read_only,trade",
    "label": "x",
    "autoLoan": False,
}
LEVERAGE = {"instId": INST, "lever": "3", "mgnMode": "cross", "posSide": "long"}
CLOSE_POS = {"instId": INST, "posSide": "long", "clOrdId": "c1", "tag": ""}
CAA = {"triggerTime": "1587971460000", "ts": "1587971400000", "tag": ""}
BOOK = {
    "asks": [["8476.98", "415", "0", "13"], ["8477", "7", "0", "2"]],
    "bids": [["8476.97", "256", "0", "12"]],
    "ts": "1597026383085",
    "seqId": 123,
}
TICKER = {
    "instType": "SWAP",
    "instId": INST,
    "last": "9999.99",
    "lastSz": "0.1",
    "askPx": "9999.99",
    "askSz": "11",
    "bidPx": "8888.88",
    "bidSz": "5",
    "ts": "1597026383085",
}
TRADE = {
    "instId": INST,
    "tradeId": "130639474",
    "px": "42219.9",
    "sz": "0.12",
    "side": "buy",
    "ts": "1630048897897",
}
ORDER_ACK = {
    "clOrdId": "s1BTCUSDT7",
    "ordId": "312269865356374016",
    "tag": "",
    "ts": "1695190491421",
    "sCode": "0",
    "sMsg": "",
}


def frame(obj: Any) -> bytes:
    return orjson.dumps(obj)


def public_frames() -> list[dict[str, Any]]:
    books_snap = {
        "arg": {"channel": "books", "instId": INST},
        "action": "snapshot",
        "data": [{**BOOK, "checksum": 0, "prevSeqId": -1, "seqId": 100}],
    }
    books_upd = {
        "arg": {"channel": "books", "instId": INST},
        "action": "update",
        "data": [
            {
                "asks": [["8477", "0", "0", "0"]],
                "bids": [["8476.5", "3", "0", "1"]],
                "ts": "1597026383185",
                "checksum": 0,
                "prevSeqId": 100,
                "seqId": 101,
            }
        ],
    }
    return [
        {"arg": {"channel": "books5", "instId": INST}, "data": [{**BOOK, "instId": INST}]},
        {"arg": {"channel": "bbo-tbt", "instId": INST}, "data": [BOOK]},
        {"arg": {"channel": "tickers", "instId": INST}, "data": [TICKER]},
        {
            "arg": {"channel": "trades", "instId": INST},
            "data": [TRADE, {**TRADE, "side": "sell", "tradeId": "2"}],
        },
        books_snap,
        books_upd,
        {"event": "subscribe", "arg": {"channel": "books5", "instId": INST}, "connId": "a4d3ae55"},
        {"event": "error", "code": "60012", "msg": "Invalid request", "connId": "a4d3ae55"},
        {"event": "unsubscribe", "arg": {"channel": "books", "instId": INST}},
    ]


def private_frames() -> list[dict[str, Any]]:
    return [
        {"arg": {"channel": "orders", "instType": "SWAP"}, "data": [ORDER]},
        {"arg": {"channel": "positions", "instType": "SWAP"}, "data": [POSITION]},
        {"arg": {"channel": "account"}, "data": [BALANCE]},
        {"arg": {"channel": "orders-algo", "instType": "SWAP"}, "data": [ALGO]},
        {"event": "login", "code": "0", "msg": "", "connId": "a4d3ae55"},
        {"event": "subscribe", "arg": {"channel": "orders", "instType": "SWAP"}},
        {"event": "error", "code": "60012", "msg": "Invalid request"},
        {"event": "channel-conn-count", "channel": "orders", "connCount": "2"},
    ]
