"""Orders inside the instrument's price-limit band (GET /public/price-limit: a buy may pay at most
buyLmt, a sell take at least sellLmt; OKX refuses anything else, 51006).

Never a silent refusal: a stop's trigger and a limit close's price are moved inside the band on purpose
(logged and journaled), a close still refused is sent as a market order on purpose (OKX fills a market
order up to the band's edge). The band is fetched once a refusal shows it matters and kept for a few
seconds (PriceBands), so the usual path (inside the band) costs no extra request; a fresh cached band
also moves a price before the first attempt. Entries are not moved: an entry outside the band is refused
with its reason (OkxPriceOutOfBand), as the strategy asked for a price the exchange does not allow.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from athena.domain import AlgoOrder, OrderRequest, OrderUpdate, OrdType
from athena.okx.errors import OkxPriceOutOfBand
from athena.okx.port import ExchangePort
from athena.okx.types import PriceLimit

if TYPE_CHECKING:
    from athena.engine import Engine

log = logging.getLogger(__name__)

BAND_TTL_S = 5.0  # OKX moves the band with the index/mark price: a few seconds old is still good


class PriceBands:
    """The band per instrument, fetched on demand and kept ttl_s (thread-safe: the orders worker runs
    several placements at once)."""

    def __init__(
        self, rest: ExchangePort, ttl_s: float = BAND_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rest = rest
        self._ttl_s = ttl_s
        self._clock = clock
        self._bands: dict[str, tuple[float, PriceLimit]] = {}
        self._lock = threading.Lock()

    def cached(self, instId: str) -> PriceLimit | None:
        """The band fetched less than ttl_s ago, else None (no request)."""
        with self._lock:
            got = self._bands.get(instId)
        if got is None or self._clock() - got[0] > self._ttl_s:
            return None
        return got[1]

    def fetch(self, instId: str) -> PriceLimit:
        band = self._rest.price_limit(instId)
        with self._lock:
            self._bands[instId] = (self._clock(), band)
        return band


def _note(engine: Engine, what: str, data: dict[str, Any]) -> None:
    log.warning("price band: %s %s", what, data)
    try:
        engine.journal.record_event("price_band", what, data)
    except Exception:  # the journal is a record, not a gate: the order still goes
        log.exception("price band: journal event not written")


def stop_in_band(algo: AlgoOrder, band: PriceLimit | None) -> AlgoOrder:
    """The stop with its trigger moved inside the band (toward the market: it only gets tighter)."""
    if band is None:
        return algo
    trigger = band.clamp(algo.slTriggerPx)
    return algo if trigger == algo.slTriggerPx else replace(algo, slTriggerPx=trigger)


def place_stop_in_band(engine: Engine, algo: AlgoOrder) -> AlgoOrder:
    """Place a stop; a trigger outside the band is moved to the band's edge on purpose, never refused.
    Returns the placed stop (with the trigger it was placed at)."""
    moved = stop_in_band(algo, engine.price_bands.cached(algo.instId))
    if moved is not algo:
        _note(
            engine,
            "stop trigger moved inside the band",
            {
                "algoClOrdId": algo.algoClOrdId,
                "instId": algo.instId,
                "asked": str(algo.slTriggerPx),
                "placed": str(moved.slTriggerPx),
            },
        )
    try:
        return engine.rest.place_algo(moved)
    except OkxPriceOutOfBand:
        band = engine.price_bands.fetch(algo.instId)
        again = stop_in_band(moved, band)
        if again is moved:
            raise  # inside the band as OKX lists it, still refused: nothing to move, the caller reports it
        _note(
            engine,
            "stop trigger moved inside the band",
            {
                "algoClOrdId": algo.algoClOrdId,
                "instId": algo.instId,
                "asked": str(algo.slTriggerPx),
                "placed": str(again.slTriggerPx),
                "buyLmt": str(band.buyLmt),
                "sellLmt": str(band.sellLmt),
            },
        )
        return engine.rest.place_algo(again)


def close_in_band(req: OrderRequest, band: PriceLimit | None) -> OrderRequest:
    """A reduce-only limit close with its price moved inside the band (a post-only one becomes a plain
    limit: at the edge it would take liquidity, which post-only forbids)."""
    if band is None or req.px is None or band.allows(req.side, req.px):
        return req
    px = band.clamp(req.px)
    return replace(req, px=px, ordType=OrdType.LIMIT if req.ordType is OrdType.POST_ONLY else req.ordType)


def place_in_band(engine: Engine, req: OrderRequest) -> OrderUpdate:
    """engine.rest.place_order, with a limit close kept inside the band: moved to the edge (a fresh cached
    band: before sending; else after OKX's refusal, with the band fetched then), or, when the band as
    listed allows its price and OKX still refuses it, sent as a market order (same clOrdId: a refused
    order does not exist on OKX). Entries and market orders go as they are."""
    if not req.reduceOnly or req.px is None:
        return engine.rest.place_order(req)
    sent = close_in_band(req, engine.price_bands.cached(req.instId))
    if sent is not req:
        _note(
            engine,
            "limit close moved inside the band",
            {"clOrdId": req.clOrdId, "asked": str(req.px), "sent": str(sent.px)},
        )
    try:
        return engine.rest.place_order(sent)
    except OkxPriceOutOfBand:
        band = engine.price_bands.fetch(req.instId)
        moved = close_in_band(sent, band)
        if moved is sent:  # the band allows it, OKX does not: close at market, capped at the band by OKX
            moved = replace(sent, ordType=OrdType.MARKET, px=None)
            what = "limit close refused inside the listed band: sent as a market order"
        else:
            what = "limit close moved inside the band"
        _note(
            engine,
            what,
            {
                "clOrdId": req.clOrdId,
                "asked": str(req.px),
                "sent": str(moved.px or "market"),
                "buyLmt": str(band.buyLmt),
                "sellLmt": str(band.sellLmt),
            },
        )
        return engine.rest.place_order(moved)


__all__ = ["PriceBands", "close_in_band", "place_in_band", "place_stop_in_band", "stop_in_band"]
