"""`athena preflight`: check the OKX account before trading on it, fix what Athena owns, say what to do.

Runs in this process (no worker needed): asks OKX, sets net position mode and each strategy
instrument's cross leverage (unless --check), records the report in Redis and holds or releases new
entries accordingly (athena.ops.preflight). Prints a table, or JSON with --json.

Exit codes: 0 nothing refused (warnings allowed); 1 refused; 2 usage or configuration; 3 a service is
down (OKX unreachable, Redis not answering).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_DOWN = 0, 1, 2, 3
STYLE = {"ok": "green", "warn": "yellow", "refuse": "bold red"}


def _table(report: dict[str, Any], holds: dict[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="athena preflight", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("what to know / do", overflow="fold")
    for c in report["checks"]:
        style = STYLE.get(c["status"], "")
        table.add_row(c["name"], f"[{style}]{c['status'].upper()}[/{style}]", c["message"])
    console = Console()
    console.print(table)
    verdict = (
        "[green]OK to trade[/green]" if report["ok"] else "[bold red]REFUSED: new entries are held[/bold red]"
    )
    console.print(verdict)
    for name, reason in holds.items():
        console.print(f"[yellow]entries held ({name}):[/yellow] {reason}")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="athena preflight", description="check the OKX account before trading on it"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--check", action="store_true", help="report only: change neither position mode nor leverage"
    )
    a = p.parse_args(argv)

    from athena.config import ConfigError, load_settings, set_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"athena: {exc}", file=sys.stderr)
        return EXIT_USAGE
    set_settings(settings)

    import redis

    from athena.ops.preflight import preflight_account
    from athena.ops.preflight_checks import PreflightDown
    from athena.wiring import account, okx_rest

    acct = account(settings)
    rest = okx_rest(settings)
    try:
        try:
            acct.redis.ping()
        except (redis.RedisError, OSError):
            print(
                "athena: Redis does not answer: start it (or fix REDIS_URL) and run `athena preflight` again",
                file=sys.stderr,
            )
            return EXIT_DOWN
        try:
            report = preflight_account(acct, rest, fix=not a.check)
        except PreflightDown as exc:
            print(f"athena: {exc}", file=sys.stderr)
            return EXIT_DOWN
        doc = report.to_dict()
        holds = {name: h.reason for name, h in acct.halt.holds().items()}
        if a.json:
            print(json.dumps({**doc, "holds": holds}, indent=2, default=str))
        else:
            _table(doc, holds)
        return EXIT_OK if report.ok else EXIT_REFUSED
    finally:
        rest.close()
        acct.close()
