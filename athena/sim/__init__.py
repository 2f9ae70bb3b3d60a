"""athena.sim: an OKX V5 compatible exchange on loopback (REST + WebSocket), for tests, demo and backtests.

Never imported by the trading path. `Exchange` is the pure in-process engine; `SimServer` serves it.
"""

from athena.sim.exchange import Exchange

__all__ = ["Exchange"]
