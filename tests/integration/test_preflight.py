"""The pre-flight against the simulator, one misconfiguration at a time: each gives a clear refusal or
warning, a refusal holds new entries (athena.risk.halt) and the next passing run lifts the hold.
Also `athena preflight` (exit codes 0 / 1 / 3, the table and --json) and beat's watch_venue."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import orjson
import pytest

from athena.config import Settings, load_settings
from athena.engine import Account
from athena.okx.rest import OkxRestGateway
from athena.ops import preflight_cli
from athena.ops.preflight import (
    HOLD_MAINTENANCE,
    HOLD_PREFLIGHT,
    PreflightDown,
    PreflightReport,
    Status,
    load_trade_fee,
    preflight_account,
    preflight_at_start,
    watch_venue,
)
from athena.sim.client import SimClient
from athena.sim.server import SimServer
from athena.wiring import account, load_instruments
from tests.waiting import wait_for

_accounts = itertools.count(1)
BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"


@dataclass
class Venue:
    sim: SimServer
    admin: SimClient
    env: dict[str, str]
    settings: Settings
    acct: Account
    rest: OkxRestGateway

    def run(self, fix: bool = True) -> PreflightReport:
        return preflight_account(self.acct, self.rest, fix=fix)


def check(report: PreflightReport, name: str) -> Any:
    found = [c for c in report.checks if c.name == name]
    assert found, f"no check {name!r} in {[c.name for c in report.checks]}"
    return found[0]


def env_for(sim_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "ATHENA_ENV": "test",
        "REDIS_URL": redis_url,
        "ATHENA_DB_URL": f"sqlite:///{tmp_path / 'athena.db'}",
        "ATHENA_ACCOUNT": f"pre{next(_accounts)}",
        "OKX_REST_URL": sim_url,
        "ATHENA__okx__timeout_s": "2",
    }


@pytest.fixture()
def venue(redis_url: str, tmp_path: Path) -> Iterator[Venue]:
    with SimServer(tick_interval_ms=0, rate_limits=False) as sim:
        env = env_for(sim.url, redis_url, tmp_path)
        settings = load_settings(env="test", environ=env, dotenv=False)
        acct, rest = account(settings), OkxRestGateway(settings)
        rest.limiter.enabled = (
            False  # OKX's limits are the sim's to enforce (off here: system/status is 1 / 5 s)
        )
        try:
            yield Venue(sim, SimClient(sim.url), env, settings, acct, rest)
        finally:
            rest.close()
            acct.close()


def test_a_healthy_account_passes_and_gets_the_strategies_leverage(venue: Venue) -> None:
    assert venue.sim.exchange.lever_for(BTC, "cross", "net") == D(10)  # the sim's default
    report = venue.run()
    assert report.ok and report.warnings == [], [
        c.message for c in report.checks if c.status is not Status.OK
    ]
    names = {c.name for c in report.checks}
    assert {
        "account_mode",
        "position_mode",
        "api_key",
        "ip_binding",
        f"instrument:{BTC}",
        f"instrument:{ETH}",
        f"leverage:{BTC}",
        f"leverage:{ETH}",
        "fee_tier",
        "clock",
        "maintenance",
    } <= names
    assert venue.sim.exchange.lever_for(BTC, "cross", "net") == D(3)  # set and read back
    fee = load_trade_fee(venue.acct.redis, venue.acct.keys)
    assert fee is not None and fee.rates("USDT") == (D("-0.0002"), D("-0.0005"))
    assert not venue.acct.halt.is_halted()
    stored = orjson.loads(venue.acct.redis.get(venue.acct.keys.preflight_report))
    assert stored["ok"] is True and len(stored["checks"]) == len(report.checks)


def test_spot_account_mode_refuses_and_holds_entries_until_fixed(venue: Venue) -> None:
    venue.admin.admin("account", {"acctLv": "1"})
    report = venue.run()
    c = check(report, "account_mode")
    assert (
        not report.ok and c.status is Status.REFUSE and "Spot mode" in c.message and "switch it" in c.message
    )
    held = venue.acct.halt.holds()[HOLD_PREFLIGHT]
    assert venue.acct.halt.is_halted() and "Spot mode" in held.reason
    venue.admin.admin("account", {"acctLv": "2"})
    assert venue.run().ok and not venue.acct.halt.is_halted()


def test_long_short_mode_is_switched_to_net_when_nothing_is_open(venue: Venue) -> None:
    venue.admin.admin("account", {"posMode": "long_short_mode"})
    c = check(venue.run(), "position_mode")
    assert c.status is Status.OK and c.data["changed"] is True and "Switched" in c.message
    assert venue.sim.exchange.pos_mode == "net_mode"


def test_long_short_mode_with_a_position_refuses_with_what_to_do(venue: Venue) -> None:
    venue.admin.admin("account", {"posMode": "long_short_mode"})
    r = venue.admin.post(
        "/api/v5/trade/order",
        {
            "instId": BTC,
            "tdMode": "cross",
            "side": "buy",
            "posSide": "long",
            "ordType": "market",
            "sz": "0.01",
        },
    )
    assert r["data"][0]["sCode"] == "0"
    c = check(venue.run(), "position_mode")
    assert c.status is Status.REFUSE and "1 open position" in c.message and "close them" in c.message
    assert venue.sim.exchange.pos_mode == "long_short_mode"  # nothing changed
    assert check(venue.run(fix=False), "position_mode").status is Status.REFUSE


def test_a_leverage_that_cannot_be_set_refuses(venue: Venue) -> None:
    venue.admin.admin(
        "account",
        {"leverage": [{"instId": BTC, "lever": "20", "mgnMode": "cross"}], "leverage_error": "59108"},
    )
    report = venue.run()
    c = check(report, f"leverage:{BTC}")
    assert (
        c.status is Status.REFUSE
        and "20x" in c.message
        and "3x" in c.message
        and "setting it failed" in c.message
    )
    assert "leverage" in venue.acct.halt.holds()[HOLD_PREFLIGHT].reason


def test_check_mode_changes_nothing(venue: Venue) -> None:
    report = venue.run(fix=False)
    c = check(report, f"leverage:{BTC}")
    assert c.status is Status.REFUSE and "10x" in c.message and "--check" in c.message
    assert venue.sim.exchange.lever_for(BTC, "cross", "net") == D(10)


def test_a_suspended_instrument_refuses(venue: Venue) -> None:
    venue.admin.admin("instrument", {"instId": ETH, "state": "suspend"})
    c = check(venue.run(), f"instrument:{ETH}")
    assert c.status is Status.REFUSE and "state suspend" in c.message


def test_changed_specs_warn_and_replace_the_cache(venue: Venue) -> None:
    load_instruments(venue.acct, venue.rest)  # cached in Redis, as the workers do
    venue.admin.admin("instrument", {"instId": BTC, "lotSz": "0.1"})
    report = venue.run()
    c = check(report, f"instrument:{BTC}")
    assert report.ok and c.status is Status.WARN and "lotSz 0.01 -> 0.1" in c.message
    rows = {r["instId"]: r for r in orjson.loads(venue.acct.redis.get(venue.acct.keys.instruments))}
    assert D(rows[BTC]["lotSz"]) == D("0.1") and D(rows[ETH]["lotSz"]) == D("0.01")
    assert check(venue.run(), f"instrument:{BTC}").status is Status.OK  # the cache now agrees


def test_key_permissions_and_ip_binding(venue: Venue) -> None:
    venue.admin.admin("account", {"perm": "read_only,withdraw,trade", "ip": ""})
    report = venue.run()
    key, ip = check(report, "api_key"), check(report, "ip_binding")
    assert report.ok and key.status is Status.WARN and "WITHDRAW" in key.message
    assert ip.status is Status.WARN and "not bound" in ip.message
    venue.admin.admin("account", {"perm": "read_only"})
    key = check(venue.run(), "api_key")
    assert key.status is Status.REFUSE and "cannot trade" in key.message


def test_clock_skew_warns_then_refuses(venue: Venue) -> None:
    venue.admin.admin("skew", {"seconds": 3})
    c = check(venue.run(), "clock")
    assert c.status is Status.WARN and "behind OKX" in c.message
    venue.admin.admin("skew", {"seconds": -8})
    c = check(venue.run(), "clock")
    assert c.status is Status.REFUSE and "ahead of OKX" in c.message and "time synchronisation" in c.message


def test_maintenance_within_the_hour_holds_entries_until_it_ends(venue: Venue) -> None:
    venue.admin.admin("system-status", {"begin_in_s": 7200, "duration_s": 600})  # in two hours: nothing yet
    c = check(venue.run(), "maintenance")
    assert c.status is Status.OK and "Next OKX maintenance" in c.message and not venue.acct.halt.is_halted()
    venue.admin.admin("system-status", {"clear": True, "begin_in_s": 1800, "duration_s": 600})
    report = venue.run()
    c = check(report, "maintenance")
    assert report.ok and c.status is Status.WARN and "entries are paused" in c.message
    assert set(venue.acct.halt.holds()) == {HOLD_MAINTENANCE}
    # under way, ending in a moment: beat's watch_venue lifts the hold once it has ended
    venue.admin.admin("system-status", {"clear": True, "begin_in_s": -1, "duration_s": 3})
    assert watch_venue(venue.acct, venue.rest)["maintenance"] is True and venue.acct.halt.is_halted()
    wait_for(
        lambda: watch_venue(venue.acct, venue.rest)["maintenance"] is False, 15, "the maintenance to end"
    )
    assert not venue.acct.halt.is_halted()


def test_maintenance_of_other_services_or_environments_is_ignored(venue: Venue) -> None:
    venue.admin.admin(
        "system-status", {"begin_in_s": 60, "duration_s": 600, "serviceType": "7"}
    )  # trading bots
    venue.admin.admin("system-status", {"begin_in_s": 60, "duration_s": 600, "env": "2"})  # demo trading
    assert check(venue.run(), "maintenance").status is Status.OK and not venue.acct.halt.is_halted()


def test_watch_venue_reruns_the_preflight_while_refused(venue: Venue) -> None:
    venue.admin.admin("account", {"acctLv": "1"})
    assert preflight_at_start(venue.acct, venue.rest) is not None and venue.acct.halt.is_halted()
    assert watch_venue(venue.acct, venue.rest)["preflight"] == "refused"
    venue.admin.admin("account", {"acctLv": "3"})  # the operator switched the mode in OKX
    assert watch_venue(venue.acct, venue.rest)["preflight"] == "ok" and not venue.acct.halt.is_halted()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def test_okx_unreachable_is_down_and_holds_at_start(redis_url: str, tmp_path: Path) -> None:
    env = env_for(f"http://127.0.0.1:{closed_port()}", redis_url, tmp_path)
    settings = load_settings(env="test", environ=env, dotenv=False)
    acct, rest = account(settings), OkxRestGateway(settings)
    try:
        with pytest.raises(PreflightDown, match="did not answer"):
            preflight_account(acct, rest)
        assert preflight_at_start(acct, rest) is None
        assert "could not run" in acct.halt.holds()[HOLD_PREFLIGHT].reason
    finally:
        rest.close()
        acct.close()


def cli(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *argv: str) -> int:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return preflight_cli.main(list(argv))


def test_cli_exit_codes_table_and_json(
    venue: Venue, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(monkeypatch, venue.env) == 0
    out = capsys.readouterr().out
    assert "athena preflight" in out and "OK to trade" in out and "leverage:BTC-USDT-SWAP" in out
    venue.admin.admin("account", {"acctLv": "1", "perm": "read_only,withdraw,trade"})
    assert cli(monkeypatch, venue.env, "--json") == 1
    doc = json.loads(capsys.readouterr().out)
    statuses = {c["name"]: c["status"] for c in doc["checks"]}
    assert doc["ok"] is False and statuses["account_mode"] == "refuse" and statuses["api_key"] == "warn"
    assert "Spot mode" in doc["holds"][HOLD_PREFLIGHT]
    venue.admin.admin("account", {"acctLv": "2"})
    assert cli(monkeypatch, venue.env, "--json") == 0
    assert json.loads(capsys.readouterr().out)["holds"] == {}


def test_cli_says_when_a_service_is_down(
    venue: Venue, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(monkeypatch, {**venue.env, "OKX_REST_URL": f"http://127.0.0.1:{closed_port()}"}) == 3
    err = capsys.readouterr().err
    assert "OKX did not answer" in err and "Traceback" not in err
    assert cli(monkeypatch, {**venue.env, "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}) == 3
    err = capsys.readouterr().err
    assert "Redis does not answer" in err and "Traceback" not in err
