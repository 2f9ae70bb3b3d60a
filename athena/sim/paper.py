"""The paper venue's exchange: the sim's matching engine fed by an upstream public OKX feed.

`PaperExchange` is the sim's Exchange (accounts, orders, stops, fills, pushes, REST: all unchanged)
whose market book, trades and mark price come from the upstream (athena.sim.upstream) instead of the
synthetic market:

- a crossing order takes the upstream's displayed levels (taker, at their prices);
- a resting order fills as maker at its own price when the upstream book crosses it, when an upstream
  trade prints through its price, or when trades at its price consume the queue estimated ahead of it
  (athena.sim.queue: displayed size at the price when it started resting, less trades there, capped
  at the displayed size);
- while an instrument's upstream book is stale (connection down, seqId gap or checksum failure, not yet
  resynced) its venue book is empty, so nothing fills: a limit order rests, a market / IOC / FOK order
  finds no liquidity and is cancelled unfilled; upstream trades are not matched until the book is back.

Instruments are the upstream's `public/instruments` rows (`fetch_instruments`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests

from athena.domain.instrument import Instrument
from athena.sim.exchange import Exchange
from athena.sim.instruments import SimInstrument
from athena.sim.models import ZERO, Level, SimAlgo, SimOrder
from athena.sim.queue import QueueEstimator

MMR_RATE = Decimal("0.005")  # one maintenance-margin rate for every instrument (OKX's tiers are not fetched)


class UpstreamError(RuntimeError):
    """The upstream's REST API could not give the instruments (one sentence for the operator)."""


def fetch_instruments(rest_url: str, inst_ids: list[str], timeout: float = 10.0) -> list[SimInstrument]:
    """The upstream's SWAP rows for inst_ids (all of them when empty), with its last price as start price."""
    base = rest_url.rstrip("/")
    try:
        rows = _get(f"{base}/api/v5/public/instruments", {"instType": "SWAP"}, timeout)
        tickers = {
            t["instId"]: t for t in _get(f"{base}/api/v5/market/tickers", {"instType": "SWAP"}, timeout)
        }
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise UpstreamError(
            f"cannot read instruments from the upstream {base} ({type(exc).__name__}); "
            "check the upstream REST URL and the network"
        ) from None
    by_id = {r["instId"]: r for r in rows}
    missing = [i for i in inst_ids if i not in by_id]
    if missing:
        raise UpstreamError(f"the upstream {base} lists no SWAP {', '.join(missing)}; check the symbols")
    out = []
    for inst_id in inst_ids or list(by_id):
        row = by_id[inst_id]
        last = (tickers.get(inst_id) or {}).get("last") or ""
        inst = Instrument.from_okx(row)
        start = Decimal(last) if last else inst.tickSz  # replaced by the first upstream book before any order
        out.append(SimInstrument(inst, dict(row), start, MMR_RATE, 0, ZERO))
    return out


def _get(url: str, params: dict[str, str], timeout: float) -> list[dict[str, Any]]:
    r = requests.get(url, params=params, timeout=timeout)
    r.raise_for_status()
    body = r.json()
    if str(body.get("code")) != "0":
        raise ValueError(f"code {body.get('code')}")
    return list(body["data"])


def size_at(levels: list[Level], px: Decimal) -> Decimal:
    for lpx, sz, _ in levels:
        if lpx == px:
            return sz
    return ZERO


class PaperExchange(Exchange):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = QueueEstimator()
        self.stale: set[str] = set(self.insts)  # no upstream book yet
        self.upstream_funding: dict[str, dict[str, Any]] = {}  # the last funding-rate push per instrument
        self.funding_settled: dict[str, int] = {}  # instId -> the upstream fundingTime last settled here
        for m in self.markets.values():
            m.bids, m.asks = [], []  # never the synthetic starting book: empty until the upstream's arrives

    # -- upstream inputs -------------------------------------------------------------------
    def set_stale(self, inst_id: str) -> None:
        """The upstream book of inst_id can no longer be trusted: show none, fill nothing, until resynced."""
        self.stale.add(inst_id)
        self.on_book(inst_id, [], [])

    def upstream_book(self, inst_id: str, bids: list[Level], asks: list[Level], ts: int | None) -> None:
        self.stale.discard(inst_id)
        self.on_book(inst_id, bids, asks, ts)

    def upstream_trade(self, inst_id: str, px: Decimal, sz: Decimal, side: str, ts: int | None) -> None:
        if inst_id in self.stale:
            return  # a trade with no book to place it in: it is neither shown nor matched
        self.on_trade(inst_id, px, sz, side, ts)

    def upstream_mark(self, inst_id: str, px: Decimal) -> None:
        self.set_mark(inst_id, px)

    def funding_json(self, inst_id: str) -> dict[str, Any]:
        return self.upstream_funding.get(inst_id) or super().funding_json(inst_id)

    def settle_due_funding(self) -> int:
        """Charge funding as the upstream does: when the clock passes an instrument's `fundingTime` (from
        its last funding-rate push), at that push's `fundingRate`, once per fundingTime. Returns how many
        instruments were settled."""
        now, due = self.now(), {}
        for inst_id, push in self.upstream_funding.items():
            try:
                at, rate = int(push["fundingTime"]), Decimal(str(push["fundingRate"]))
            except (KeyError, TypeError, ValueError, ArithmeticError):
                continue
            if now >= at and self.funding_settled.get(inst_id, 0) < at:
                self.funding_settled[inst_id] = at
                due[inst_id] = rate
        if due:
            self.settle_funding(due)
        return len(due)

    # -- orders join and leave the estimated queue -----------------------------------------
    def place_order(self, body: dict[str, Any], *, _algo: SimAlgo | None = None) -> dict[str, Any]:
        item = super().place_order(body, _algo=_algo)
        self._join(item.get("ordId") or "")
        return item

    def amend_order(self, body: dict[str, Any]) -> dict[str, Any]:
        item = super().amend_order(body)
        if item.get("sCode") == "0" and body.get("newPx") not in (None, ""):
            self.queue.leave(item["ordId"])  # a new price goes to the back of the new level's queue
            self._join(item["ordId"])
        return item

    def _join(self, ord_id: str) -> None:
        o = self.orders.get(ord_id)
        if (
            o is None
            or not o.working
            or o.px is None
            or ord_id in self.queue.places
            or o.instId in self.stale
        ):
            return  # placed on a stale book: it joins when the book is back (match_resting_book)
        m = self.markets[o.instId]
        self.queue.join(ord_id, o.side, o.px, size_at(m.bids if o.side == "buy" else m.asks, o.px))

    def _retire(self, o: SimOrder) -> None:
        super()._retire(o)
        self.queue.leave(o.ordId)

    # -- matching --------------------------------------------------------------------------
    def match_resting_book(self, inst_id: str) -> None:
        if inst_id in self.stale:
            return
        super().match_resting_book(inst_id)  # the book crossed a resting order: maker at its own price
        m = self.markets[inst_id]
        for o in list(self.pending[inst_id].values()):
            if o.px is None:
                continue
            if o.ordId in self.queue.places:
                self.queue.on_level(o.ordId, size_at(m.bids if o.side == "buy" else m.asks, o.px))
            else:
                self._join(o.ordId)

    def match_resting_trade(self, inst_id: str, px: Decimal, sz: Decimal, side: str) -> None:
        """An upstream trade (side = taker side): orders it printed through fill (up to its size); at
        exactly their price, only what is beyond the queue estimated ahead of them."""
        want = "buy" if side == "sell" else "sell"
        cands = [
            o
            for o in self.pending[inst_id].values()
            if o.side == want
            and o.px is not None
            and o.working
            and (o.px >= px if want == "buy" else o.px <= px)
        ]
        cands.sort(key=lambda o: (-o.px if want == "buy" else o.px, o.cTime))  # type: ignore[operator]
        left = sz
        for o in cands:
            if left <= 0:
                break
            assert o.px is not None
            reach = self.queue.on_trade(o.ordId, left) if o.px == px else left
            q = min(reach, o.remaining)
            if q > 0:
                self._fill(o, o.px, q, "M")
                left -= q

    # -- admin -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        out = super().state()
        out["paper"] = {
            "stale": sorted(self.stale),
            "queue": {
                oid: {"px": str(p.px), "side": p.side, "ahead": str(p.ahead)}
                for oid, p in self.queue.places.items()
            },
        }
        return out
