"""Where `athena download` and `athena record` get public market data: OKX itself (no keys needed),
OKX's demo environment, or the built-in simulator. An explicit --url wins."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from athena.config import OKX_HOSTS

VENUES = ("okx", "okx-demo", "sim")


@dataclass(frozen=True, slots=True)
class Venue:
    name: str
    rest_url: str
    ws_public_url: str
    headers: dict[str, str]


def venue(name: str) -> Venue:
    if name == "okx":
        rest, ws = OKX_HOSTS["live"]
        return Venue(name, rest, f"{ws}/public", {})
    if name == "okx-demo":
        rest, ws = OKX_HOSTS["demo"]
        return Venue(name, rest, f"{ws}/public", {"x-simulated-trading": "1"})
    if name == "sim":
        host, port, tls = "127.0.0.1", 8765, False
        try:
            from athena.config import load_settings

            sim = load_settings().sim
            host, port, tls = sim.host, sim.port, sim.tls
        except Exception:  # no or invalid config: the sim's own defaults
            pass
        return Venue(
            name,
            f"{'https' if tls else 'http'}://{host}:{port}",
            f"{'wss' if tls else 'ws'}://{host}:{port}/ws/v5/public",
            {},
        )
    raise ValueError(f"unknown venue {name!r} (one of {', '.join(VENUES)})")


def add_venue_args(p: argparse.ArgumentParser, url_help: str) -> None:
    p.add_argument(
        "--venue",
        choices=VENUES,
        default="okx",
        help="okx: OKX's public market data (default, no keys needed); okx-demo; sim: athena sim",
    )
    p.add_argument("--url", help=url_help)


def split_ids(raw: str) -> list[str]:
    return [i.strip() for i in raw.split(",") if i.strip()]
