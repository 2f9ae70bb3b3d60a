"""SimConfig: everything a SimServer needs; built from SimSettings or given directly by tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from athena.sim.auth import ApiKey
from athena.sim.instruments import SimInstrument
from athena.sim.util import Clock


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = a free port
    seed: int = 7
    tls: bool = False
    keys: list[ApiKey] = field(
        default_factory=lambda: [ApiKey("sim-api-key", "sim-secret-key", "sim-passphrase")]
    )
    initial_usdt: Decimal = Decimal(100_000)
    tick_interval_ms: int = 100  # synthetic market step; 0 = only on /sim/step
    idle_timeout_s: float = 30.0  # OKX's 30 s rule (close 4004)
    books_keepalive_s: float = 25.0  # empty books update when a book has been quiet this long
    rate_limits: bool = True
    rate_limit_scale: float = 1.0
    max_skew_s: float = 30.0  # REST timestamp tolerance (50102)
    instruments: list[SimInstrument] | None = None
    clock: Clock | None = None  # engine clock (ms); default wall clock
    faults: dict[str, Any] = field(default_factory=dict)  # initial fault spec (see faults.Faults.update)
    history_backfill_s: int = 0  # seeded past generated at start, served by the history endpoints
    history_trades: int = 100_000  # trades kept per instrument for market/history-trades (and 1s candles)
    funding_push_s: float = 30.0  # funding-rate channel push interval (OKX: every 30-90 s)
    # funding settled (charged) every this many seconds of engine time, aligned to epoch multiples
    # (OKX: 28800, 00:00/08:00/16:00 UTC); 0 = never (the default: tests see it only when they ask)
    funding_interval_s: float = 0.0
    # price-limit band around the mark (0 = none: /public/price-limit enabled false)
    price_limit_pct: float = 0.0
    # paper venue (athena.sim.paper): with an upstream public WS URL the market comes from there, not the
    # synthetic feed; instruments from the upstream's REST public/instruments (inst_ids: which; empty = all)
    upstream_rest_url: str = ""
    upstream_ws_url: str = ""
    inst_ids: list[str] = field(default_factory=list)

    @property
    def paper(self) -> bool:
        return bool(self.upstream_ws_url)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> SimConfig:
        """From athena.config.SimSettings (or Settings, using .sim)."""
        sim = getattr(settings, "sim", settings)
        cfg = cls(
            host=sim.host,
            port=sim.port,
            seed=sim.seed,
            tls=sim.tls,
            keys=[
                ApiKey(
                    sim.api_key.get_secret_value(),
                    sim.secret_key.get_secret_value(),
                    sim.passphrase.get_secret_value(),
                )
            ],
            initial_usdt=sim.initial_usdt,
            tick_interval_ms=sim.tick_interval_ms,
        )
        for k, v in overrides.items():
            setattr(cfg, k, v)
        return cfg
