"""Admin endpoints that misconfigure the venue (athena.sim.venue) for pre-flight, funding and price-limit
tests. Each returns the new state; an unknown tail is None (the server answers 404)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from athena.sim.server import SimServer


def venue_admin(srv: SimServer, tail: str, body: dict[str, Any], method: str) -> Any | None:
    ex = srv.exchange
    if tail == "account":
        return ex.set_account(body) if method == "POST" else ex.set_account({})
    if tail == "instrument":
        return ex.set_instrument(body)
    if tail == "system-status":
        return ex.set_maintenance(body) if method == "POST" else ex.system_status({"state": "any"})
    if tail == "price-limit":
        return ex.set_band(body) if method == "POST" else ex.set_band({})
    if tail == "funding":
        if "interval_s" in body:
            srv.config.funding_interval_s = float(body["interval_s"])
            srv.reset_funding_timer()
        out = ex.set_funding(body) if method == "POST" else ex.set_funding({})
        return {**out, "interval_s": srv.config.funding_interval_s}
    if tail == "ws/notice":
        close = body.get("close_after_s")
        return {"noticed": srv.hub.notice(float(close) if close is not None else None)}
    return None
