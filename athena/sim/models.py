"""The sim's mutable records (orders, algos, positions, per-instrument market) and their OKX JSON form."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from athena.domain.money import ZERO
from athena.sim.util import rnd, s

Level = tuple[Decimal, Decimal, int]  # px, sz (contracts), number of orders


@dataclass(slots=True)
class SimOrder:
    ordId: str
    clOrdId: str
    tag: str
    instId: str
    tdMode: str
    side: str
    posSide: str
    ordType: str
    px: Decimal | None
    sz: Decimal
    reduceOnly: bool
    lever: Decimal
    cTime: int
    state: str = "live"
    accFillSz: Decimal = ZERO
    notional: Decimal = ZERO  # sum(fill px * fill sz), for avgPx
    fee: Decimal = ZERO
    pnl: Decimal = ZERO
    uTime: int = 0
    fillPx: Decimal | None = None
    fillSz: Decimal = ZERO
    fillTime: int = 0
    tradeId: str = ""
    fillFee: Decimal = ZERO
    fillPnl: Decimal = ZERO
    execType: str = ""
    cancelSource: str = ""
    category: str = "normal"
    algoId: str = ""
    algoClOrdId: str = ""
    amendResult: str = ""
    reqId: str = ""
    attach: list[dict[str, Any]] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.sz - self.accFillSz

    @property
    def avgPx(self) -> Decimal | None:
        return rnd(self.notional / self.accFillSz) if self.accFillSz else None

    @property
    def working(self) -> bool:
        return self.state in ("live", "partially_filled")

    def to_okx(self, ws: bool = False) -> dict[str, Any]:
        avg = self.avgPx
        d: dict[str, Any] = {
            "instType": "SWAP",
            "instId": self.instId,
            "ordId": self.ordId,
            "clOrdId": self.clOrdId,
            "tag": self.tag,
            "px": s(self.px),
            "pxUsd": "",
            "pxVol": "",
            "pxType": "",
            "sz": s(self.sz),
            "ordType": self.ordType,
            "side": self.side,
            "posSide": self.posSide,
            "tdMode": self.tdMode,
            "ccy": "",
            "tgtCcy": "",
            "lever": s(self.lever),
            "reduceOnly": "true" if self.reduceOnly else "false",
            "stpId": "",
            "stpMode": "cancel_maker",
            "state": self.state,
            "accFillSz": s(self.accFillSz),
            "avgPx": s(avg) if avg is not None else ("0" if ws else ""),
            "fillPx": s(self.fillPx),
            "fillSz": s(self.fillSz) if self.fillPx is not None or ws else "",
            "fillTime": str(self.fillTime) if self.fillTime else "",
            "tradeId": self.tradeId,
            "pnl": s(self.pnl),
            "fee": s(self.fee),
            "feeCcy": "USDT",
            "rebate": "0",
            "rebateCcy": "USDT",
            "category": self.category,
            "source": "",
            "cancelSource": self.cancelSource,
            "cancelSourceReason": "",
            "attachAlgoOrds": [],
            "attachAlgoClOrdId": "",
            "linkedAlgoOrd": {"algoId": ""},
            "isTpLimit": "false",
            "quickMgnType": "",
            "tradeQuoteCcy": "",
            "tpTriggerPx": "",
            "tpOrdPx": "",
            "tpTriggerPxType": "",
            "slTriggerPx": "",
            "slOrdPx": "",
            "slTriggerPxType": "",
            "algoId": self.algoId,
            "algoClOrdId": self.algoClOrdId,
            "cTime": str(self.cTime),
            "uTime": str(self.uTime or self.cTime),
        }
        if ws:
            d.update(
                {
                    "fillFee": s(self.fillFee),
                    "fillFeeCcy": "USDT",
                    "fillPnl": s(self.fillPnl),
                    "fillNotionalUsd": s(self.fillPx * self.fillSz) if self.fillPx is not None else "",
                    "fillMarkPx": "",
                    "fillIdxPx": "",
                    "execType": self.execType,
                    "notionalUsd": "",
                    "lastPx": "",
                    "amendResult": self.amendResult,
                    "amendSource": "",
                    "reqId": self.reqId,
                    "code": "0",
                    "msg": "",
                }
            )
        return d


@dataclass(slots=True)
class SimAlgo:
    algoId: str
    algoClOrdId: str
    instId: str
    tdMode: str
    side: str
    posSide: str
    ordType: str  # conditional | oco | trigger
    sz: Decimal | None  # None with closeFraction
    closeFraction: str
    reduceOnly: bool
    tag: str
    lever: Decimal
    cTime: int
    tpTriggerPx: Decimal | None = None
    tpOrdPx: Decimal | None = None  # -1 = market
    tpTriggerPxType: str = ""
    slTriggerPx: Decimal | None = None
    slOrdPx: Decimal | None = None
    slTriggerPxType: str = ""
    triggerPx: Decimal | None = None
    orderPx: Decimal | None = None
    triggerPxType: str = ""
    state: str = "live"
    uTime: int = 0
    triggerTime: int = 0
    actualSz: Decimal | None = None
    actualPx: Decimal | None = None
    actualSide: str = ""
    ordId: str = ""
    failCode: str = ""
    trig_dir: str = ""  # trigger orders: fire when the price goes "up" or "down" to triggerPx

    def to_okx(self) -> dict[str, Any]:
        return {
            "instType": "SWAP",
            "instId": self.instId,
            "algoId": self.algoId,
            "algoClOrdId": self.algoClOrdId,
            "clOrdId": "",
            "ordType": self.ordType,
            "side": self.side,
            "posSide": self.posSide,
            "tdMode": self.tdMode,
            "sz": s(self.sz) if self.sz is not None else "",
            "closeFraction": self.closeFraction,
            "reduceOnly": "true" if self.reduceOnly else "false",
            "tag": self.tag,
            "lever": s(self.lever),
            "ccy": "",
            "tgtCcy": "",
            "state": self.state,
            "tpTriggerPx": s(self.tpTriggerPx),
            "tpOrdPx": s(self.tpOrdPx),
            "tpTriggerPxType": self.tpTriggerPxType,
            "slTriggerPx": s(self.slTriggerPx),
            "slOrdPx": s(self.slOrdPx),
            "slTriggerPxType": self.slTriggerPxType,
            "triggerPx": s(self.triggerPx),
            "ordPx": s(self.orderPx),
            "triggerPxType": self.triggerPxType,
            "actualSz": s(self.actualSz),
            "actualPx": s(self.actualPx),
            "actualSide": self.actualSide,
            "triggerTime": str(self.triggerTime) if self.triggerTime else "",
            "ordId": self.ordId,
            "ordIdList": [self.ordId] if self.ordId else [],
            "linkedOrd": {"ordId": ""},
            "failCode": self.failCode,
            "last": "",
            "notionalUsd": "",
            "attachAlgoOrds": [],
            "cTime": str(self.cTime),
            "uTime": str(self.uTime or self.cTime),
        }


@dataclass(slots=True)
class SimPosition:
    posId: str
    instId: str
    posSide: str  # net | long | short
    mgnMode: str
    lever: Decimal
    cTime: int
    pos: Decimal = ZERO  # signed in net mode, >= 0 in long/short
    avgPx: Decimal | None = None
    margin: Decimal = ZERO  # isolated margin
    realizedPnl: Decimal = ZERO
    pnl: Decimal = ZERO
    fee: Decimal = ZERO
    funding_fee: Decimal = ZERO  # funding charged since the position opened (negative = paid)
    uTime: int = 0
    tradeId: str = ""

    @property
    def direction(self) -> int:
        if self.posSide == "short":
            return -1 if self.pos else 0
        if self.posSide == "long":
            return 1 if self.pos else 0
        return (self.pos > 0) - (self.pos < 0)


@dataclass(slots=True)
class Market:
    """One instrument's synthetic market: its public book, last trade, mark and public sequence ids."""

    instId: str
    bids: list[Level] = field(default_factory=list)  # descending
    asks: list[Level] = field(default_factory=list)  # ascending
    last: Decimal | None = None
    lastSz: Decimal | None = None
    mark: Decimal | None = None
    mark_pinned: bool = False
    open24h: Decimal | None = None
    high24h: Decimal | None = None
    low24h: Decimal | None = None
    vol24h: Decimal = ZERO
    volCcy24h: Decimal = ZERO
    ts: int = 0
    seq: int = 0  # books seqId
    # engine time of the last `books` message (snapshot or update): the keep-alive's quiet timer
    books_ms: int = 0
    sent_book: dict[str, dict[str, str]] = field(default_factory=lambda: {"bids": {}, "asks": {}})
    trades: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=500))
    trade_seq: int = 0

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if self.bids and self.asks:
            return (self.bids[0][0] + self.asks[0][0]) / 2
        return self.last
