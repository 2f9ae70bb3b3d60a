"""Pre-flight: before the first order on an account, check what Athena assumes of it and say what to do.

`run_preflight(rest, settings)` runs the checks (athena.ops.preflight_checks) and is pure over an OKX REST
client: it reads (and, with fix=True, sets the two settings Athena owns: net position mode when nothing is
open, each strategy instrument's cross leverage) and returns a report of checks, each ok / warn / refuse with
one plain sentence naming what to do. Nothing here touches Redis; `apply_preflight(acct, report)` records it
(the report, the fresh instrument specs, the fee tier) and turns it into entry holds (athena.risk.halt):

- `preflight`: set while a check refuses, with the refusals as its reason; lifted by the next run that
  refuses nothing (`athena preflight`, the next stream worker start, or beat's watch_venue, which
  re-runs the pre-flight every minute while the hold is set). Entries stop; exits, stops and cancels
  go on: a worker that exited instead would leave the positions it holds unmanaged.
- `maintenance`: set from one hour before an OKX maintenance window that affects trading until it ends
  (watch_venue re-reads GET /system/status every minute and lifts it).

Checks: account level (acctLv: spot mode cannot trade swaps), position mode (net; switched when nothing
is open, else refused), the API key's permissions (withdraw: warned loudly; no trade: refused) and IP
binding, each strategy instrument's cross leverage (set to the strategy's, read back), the instruments'
specs (ctVal, lotSz, minSz, tickSz; changes warned and the cache replaced) and state (not live: refused),
the fee tier (account/trade-fee), the clock skew against OKX (above 5 s refused, above 1 s warned) and
OKX's maintenance schedule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from athena.config import Settings
from athena.domain import Instrument
from athena.domain.codec import to_json
from athena.engine import Account
from athena.okx.errors import OkxAuthError, OkxError, OkxRateLimited, OkxTransient
from athena.okx.port import ExchangePort
from athena.okx.types import Maintenance, TradeFee
from athena.ops.preflight_checks import (
    Check,
    PreflightDown,
    Status,
    check_account,
    check_clock,
    check_fee_tier,
    check_instruments,
    check_leverage,
    check_position_mode,
    down,
    maintenance_check,
    strategy_leverage,
    system_status,
    venue_env,
    wanted_instruments,
)
from athena.state.retention import INSTRUMENTS_CACHE_S

log = logging.getLogger(__name__)

HOLD_PREFLIGHT, HOLD_MAINTENANCE = "preflight", "maintenance"
WHO = "preflight"
REPORT_TTL_S = 7 * 86400


@dataclass(frozen=True)
class PreflightReport:
    checks: tuple[Check, ...]
    at_ms: int
    instruments: dict[str, Instrument] = field(default_factory=dict)  # fresh specs of the configured ones
    trade_fee: TradeFee | None = None
    maintenance: Maintenance | None = None  # the window that pauses entries now, if any

    @property
    def refusals(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.REFUSE]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.WARN]

    @property
    def ok(self) -> bool:
        """Nothing refuses (warnings allowed)."""
        return not self.refusals

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "at_ms": self.at_ms,
            "checks": [{"name": c.name, "status": str(c.status), "message": c.message,
                        "data": orjson.loads(orjson.dumps(c.data, default=str))} for c in self.checks],
            "trade_fee": orjson.loads(orjson.dumps(self.trade_fee, default=str)) if self.trade_fee else None,
            "maintenance": orjson.loads(orjson.dumps(self.maintenance)) if self.maintenance else None,
        }  # fmt: skip


def run_preflight(
    rest: ExchangePort,
    settings: Settings,
    *,
    cached: Mapping[str, Instrument] | None = None,
    fix: bool = True,
    clock: Callable[[], float] = time.time,
) -> PreflightReport:
    """Every check, in order. Raises PreflightDown when OKX cannot be reached at all."""
    checks: list[Check] = []
    try:
        cfg = rest.account_config()
    except OkxAuthError as exc:
        checks.append(
            Check(
                "api_key",
                Status.REFUSE,
                f"OKX refused the API key ({exc.msg}): check the key, secret "
                f"and passphrase, and that the key is for {settings.mode} trading, then run "
                "`athena preflight` again.",
                {"code": exc.code},
            )
        )
        return PreflightReport(tuple(checks), int(clock() * 1000))
    except (OkxTransient, OkxRateLimited) as exc:
        raise down(exc, "the account request") from None
    try:
        checks += check_account(cfg)
        checks.append(check_position_mode(rest, cfg, fix))
        wanted = wanted_instruments(settings)
        fresh = {i.instId: i for i in rest.instruments("SWAP") if i.instId in set(wanted)}
        checks += check_instruments(fresh, wanted, cached or {})
        for inst_id, lever in sorted(strategy_leverage(settings).items()):
            if inst_id in fresh:
                checks.append(check_leverage(rest, inst_id, lever, fix))
        fee_check, fee = check_fee_tier(rest)
        checks.append(fee_check)
        checks.append(check_clock(rest, clock))
        maint_check, window = maintenance_check(system_status(rest), int(clock() * 1000), venue_env(settings))
        checks.append(maint_check)
    except (OkxTransient, OkxRateLimited) as exc:
        raise down(exc, "during the pre-flight") from None
    return PreflightReport(tuple(checks), int(clock() * 1000), fresh, fee, window)


# -- recording and holds --------------------------------------------------------------------------------
def apply_preflight(acct: Account, report: PreflightReport) -> None:
    """Record the report, the fresh instrument specs and the fee tier in Redis; hold entries while it
    refuses or while maintenance is near, lift those holds when not."""
    r, k = acct.redis, acct.keys
    r.set(k.preflight_report, orjson.dumps(report.to_dict()), ex=REPORT_TTL_S)
    if report.instruments:
        _refresh_instruments(acct, report.instruments)
    if report.trade_fee is not None:
        r.set(k.trade_fee, orjson.dumps(report.trade_fee, default=str))
    if report.refusals:
        text = " | ".join(c.message for c in report.refusals)
        acct.halt.hold(HOLD_PREFLIGHT, f"pre-flight refused: {text}", WHO)
        for c in report.refusals:
            log.error("PRE-FLIGHT REFUSED %s: %s", c.name, c.message)
    else:
        acct.halt.release(HOLD_PREFLIGHT, WHO)
    for c in report.warnings:
        log.warning("pre-flight warning %s: %s", c.name, c.message)
    apply_maintenance(
        acct, next((c for c in report.checks if c.name == "maintenance"), None), report.maintenance
    )


def apply_maintenance(acct: Account, check: Check | None, window: Maintenance | None) -> None:
    if window is not None and check is not None:
        acct.halt.hold(HOLD_MAINTENANCE, check.message, "maintenance_watch")
    elif check is not None:  # a known verdict without a pausing window: lift (never on a failed read)
        acct.halt.release(HOLD_MAINTENANCE, "maintenance_watch")


def _refresh_instruments(acct: Account, fresh: Mapping[str, Instrument]) -> None:
    """Replace the cached rows of these instruments (the others stay) with what OKX lists now."""
    key = acct.keys.instruments
    raw = acct.redis.get(key)
    rows = {row["instId"]: row for row in orjson.loads(raw)} if raw else {}
    if not rows:
        return  # nothing cached: the engine loads the full list itself (athena.wiring.load_instruments)
    changed = False
    for inst_id, inst in fresh.items():
        row = to_json(inst)
        if rows.get(inst_id) != row:
            rows[inst_id] = row
            changed = True
    if changed:
        ttl = acct.redis.ttl(key)
        acct.redis.set(
            key, orjson.dumps(list(rows.values())), ex=ttl if ttl and ttl > 0 else INSTRUMENTS_CACHE_S
        )


def cached_instruments(acct: Account) -> dict[str, Instrument]:
    raw = acct.redis.get(acct.keys.instruments)
    return {row["instId"]: Instrument.from_okx(row) for row in orjson.loads(raw)} if raw else {}


def load_trade_fee(redis: Any, keys: Any) -> TradeFee | None:
    """The fee tier the last pre-flight read (None before one ran): for sizing and fee-aware entry gates."""
    raw = redis.get(keys.trade_fee)
    if not raw:
        return None
    d = orjson.loads(raw)
    dec = {
        k: (Decimal(v) if v not in (None, "", "None") else None)
        for k, v in d.items()
        if k in ("maker", "taker", "makerU", "takerU", "makerUSDC", "takerUSDC")
    }
    return TradeFee(
        instType=str(d.get("instType") or ""),
        level=str(d.get("level") or ""),
        ts=int(d.get("ts") or 0),
        **dec,
    )


def last_report(acct: Account) -> dict[str, Any] | None:
    raw = acct.redis.get(acct.keys.preflight_report)
    return orjson.loads(raw) if raw else None


def preflight_account(acct: Account, rest: ExchangePort, fix: bool = True) -> PreflightReport:
    """Run the pre-flight with this REST client and apply it to the account (the stream worker at start,
    beat's watch_venue while a pre-flight hold is set, `athena preflight`). It needs no Engine: it runs
    before the stream worker's engine loads the instruments (which then reads the specs it refreshed)."""
    report = run_preflight(rest, acct.settings, cached=cached_instruments(acct), fix=fix)
    apply_preflight(acct, report)
    return report


def preflight_at_start(acct: Account, rest: ExchangePort) -> PreflightReport | None:
    """The stream worker, before it starts trading: run and apply the pre-flight. A refusal holds new
    entries (and says so loudly); the worker still starts, so what is already open keeps being managed.
    When OKX cannot be asked, entries are held until a pre-flight succeeds (watch_venue retries)."""
    try:
        report = preflight_account(acct, rest)
    except PreflightDown as exc:
        acct.halt.hold(HOLD_PREFLIGHT, f"the pre-flight could not run at start: {exc}", WHO)
        log.error("PRE-FLIGHT NOT RUN, new entries held: %s", exc)
        return None
    except OkxError as exc:  # an answer it could not use (a malformed reply, ...): unverified, so held
        acct.halt.hold(HOLD_PREFLIGHT, f"the pre-flight failed at start ({exc}): run `athena preflight`", WHO)
        log.exception("PRE-FLIGHT FAILED, new entries held")
        return None
    if report.ok:
        log.info("pre-flight passed (%d checks, %d warnings)", len(report.checks), len(report.warnings))
    else:
        log.critical(
            "PRE-FLIGHT REFUSED: new entries are held until `athena preflight` passes: %s",
            " | ".join(c.message for c in report.refusals),
        )
    return report


def watch_venue(acct: Account, rest: ExchangePort) -> dict[str, Any]:
    """Beat: OKX's maintenance schedule -> the maintenance hold; while a pre-flight hold is set, the whole
    pre-flight again (its hold lifts once the cause is fixed, e.g. the account mode switched in OKX)."""
    out: dict[str, Any] = {}
    if HOLD_PREFLIGHT in acct.halt.holds():
        try:
            report = preflight_account(acct, rest)
        except PreflightDown as exc:
            return {"preflight": "down", "detail": str(exc)}
        return {
            "preflight": "ok" if report.ok else "refused",
            "refusals": [c.message for c in report.refusals],
            "maintenance": report.maintenance is not None,
        }
    try:
        windows = system_status(rest)
    except OkxError as exc:  # unknown: keep whatever hold is set
        return {"maintenance": "unknown", "detail": str(exc)}
    check, window = maintenance_check(windows, int(time.time() * 1000), venue_env(acct.settings))
    apply_maintenance(acct, check, window)
    out.update(maintenance=window is not None, message=check.message)
    return out
