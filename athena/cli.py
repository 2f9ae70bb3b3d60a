"""The `athena` command. Each subcommand lives in its own module and is imported only when used,
so `athena sim` never loads Celery and `athena status` never loads the simulator."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

# name -> (module:function(argv) -> int, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("athena.sim.cli:main", "run the OKX-compatible simulator on loopback"),
    "demo": ("athena.process.demo.run:main", "run the whole stack on embedded defaults, live and visible"),
    "backtest": ("athena.backtest.cli:main", "replay market data through strategies + OMS deterministically"),
    "optimize": (
        "athena.research.cli:main",
        "walk-forward parameter search; trials run on the research workers",
    ),
    "download": (
        "athena.marketdata.download:main",
        "download OKX public history (candles, trades, funding, mark) to a store",
    ),
    "record": (
        "athena.marketdata.record:main",
        "record OKX's public WebSocket into rotating compressed files",
    ),
    "status": (
        "athena.process.control:status_main",
        "positions, working orders, stops, PnL, breaker/halt, workers",
    ),
    "reconcile": ("athena.process.control:reconcile_main", "run reconcile now (privileged)"),
    "flatten": ("athena.process.control:flatten_main", "cancel everything and close positions (privileged)"),
    "halt": ("athena.process.control:halt_main", "stop new entries everywhere (privileged)"),
    "resume": ("athena.process.control:resume_main", "allow new entries again (privileged)"),
    "dashboard": (
        "athena.dashboard.app:main",
        "the account on a web page, live, with the operator actions (privileged)",
    ),
    "config": (
        "athena.process.control:config_main",
        "validate and print the effective configuration (secrets hidden)",
    ),
    "preflight": (
        "athena.ops.preflight_cli:main",
        "check the OKX account before trading on it (fixes what Athena owns)",
    ),
    "new-strategy": ("athena.strategies.template:main", "write a strategy file and its test from a template"),
}


def _resolve(target: str) -> Callable[[list[str]], int]:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="athena", description="Athena: automated trading for OKX perpetual swaps"
    )
    parser.add_argument(
        "command", choices=sorted(COMMANDS), help="; ".join(f"{k}: {v[1]}" for k, v in COMMANDS.items())
    )
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        parser.error(f"unknown command {argv[0]!r}")
    try:
        func = _resolve(COMMANDS[argv[0]][0])
    except (ImportError, AttributeError) as exc:
        print(f"athena {argv[0]}: not available in this build ({exc})", file=sys.stderr)
        return 2
    return int(func(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
