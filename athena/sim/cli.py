"""`athena sim`: run the OKX-compatible simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any


def main(argv: list[str]) -> int:
    from athena.sim.config import SimConfig
    from athena.sim.paper import UpstreamError
    from athena.sim.server import SimServer

    try:
        from athena.config import load_settings

        settings = load_settings()
        base = SimConfig.from_settings(settings)
        if settings.mode == "paper":  # ATHENA_MODE=paper: this sim is the paper venue of settings.paper
            base.upstream_rest_url = settings.paper.upstream_rest_url
            base.upstream_ws_url = settings.paper.upstream_ws_url
            base.inst_ids = list(settings.symbols)
    except Exception:  # no/invalid config: the sim still runs on its defaults
        base = SimConfig(port=8765)
    p = argparse.ArgumentParser(prog="athena sim", description="OKX V5 compatible exchange on loopback")
    p.add_argument("--host", default=base.host)
    p.add_argument("--port", type=int, default=base.port)
    p.add_argument("--seed", type=int, default=base.seed)
    p.add_argument(
        "--tls", action="store_true", default=base.tls, help="serve https/wss with a self-signed cert"
    )
    p.add_argument(
        "--tick-ms", type=int, default=base.tick_interval_ms, help="market step interval (0 = off)"
    )
    p.add_argument("--idle-s", type=float, default=base.idle_timeout_s, help="WS idle close (OKX: 30)")
    p.add_argument("--no-rate-limits", action="store_true", help="disable OKX rate limits (benchmarks)")
    p.add_argument(
        "--history-s",
        type=int,
        default=base.history_backfill_s,
        help="seconds of seeded past served by the history endpoints (athena download)",
    )
    p.add_argument(
        "--funding-s",
        type=float,
        default=base.funding_interval_s,
        help="settle funding every N seconds (OKX: 28800; 0 = never)",
    )
    p.add_argument(
        "--price-limit-pct",
        type=float,
        default=base.price_limit_pct,
        help="price-limit band around the mark, e.g. 0.02 (0 = none)",
    )
    p.add_argument(
        "--upstream-ws",
        default=base.upstream_ws_url,
        help="paper venue: the public WS whose books/trades/mark price drive matching "
        "(e.g. wss://ws.okx.com:8443/ws/v5/public); empty = the synthetic market",
    )
    p.add_argument(
        "--upstream-rest",
        default=base.upstream_rest_url,
        help="paper venue: the REST API whose public/instruments lists the instruments (e.g. https://www.okx.com)",
    )
    p.add_argument(
        "--inst-ids",
        default=",".join(base.inst_ids),
        help="paper venue: the instruments to trade, comma-separated (empty = every SWAP upstream)",
    )
    a = p.parse_args(argv)
    if a.upstream_ws and not a.upstream_rest:
        print("athena sim: --upstream-ws needs --upstream-rest (where the instruments are listed); add it.")
        return 2
    over: dict[str, Any] = {
        "host": a.host,
        "port": a.port,
        "seed": a.seed,
        "tls": a.tls,
        "tick_interval_ms": a.tick_ms,
        "idle_timeout_s": a.idle_s,
        "rate_limits": not a.no_rate_limits,
        "history_backfill_s": a.history_s,
        "funding_interval_s": a.funding_s,
        "price_limit_pct": a.price_limit_pct,
        "upstream_ws_url": a.upstream_ws,
        "upstream_rest_url": a.upstream_rest,
        "inst_ids": [i.strip() for i in a.inst_ids.split(",") if i.strip()],
    }
    try:
        srv = SimServer(base, **over).start()
    except UpstreamError as exc:
        print(f"athena sim: {exc}.")
        return 2
    if srv.upstream is not None:
        print(f"paper venue: market from {a.upstream_ws}, instruments from {a.upstream_rest}", flush=True)
    print(f"athena sim listening: REST {srv.url}  WS {srv.ws_url('public')} | private | business", flush=True)
    print(f"admin {srv.url}/sim/state", flush=True)
    if srv.cert_file:
        print(f"TLS cert (set SSL_CERT_FILE to trust it): {srv.cert_file}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    srv.stop()
    return 0
