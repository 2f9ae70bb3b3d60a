"""The pre-flight's checks, each pure over an OKX REST client (athena.ops.preflight runs them, records
the report and turns it into entry holds). Every check returns ok / warn / refuse with one plain
sentence; warn and refuse name what to do."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from athena.config import Settings
from athena.domain import Instrument, PosMode, TdMode
from athena.okx.errors import OkxError, OkxRateLimited, OkxTransient
from athena.okx.port import ExchangePort
from athena.okx.types import AccountConfig, Maintenance, TradeFee

STATUS_WINDOW_S = 5.1  # OKX allows GET /system/status once per 5 s per IP (shared by every process here)
SKEW_REFUSE_MS = 5_000
SKEW_WARN_MS = 1_000
MAINTENANCE_LEAD_MS = 3_600_000  # entries pause this long before a window begins
# serviceType of a window that affects Athena: WebSocket, trading service (all, by account, by product),
# others (e.g. instruments suspended). Block trading, bots, spread and copy trading do not.
TRADING_SERVICES = {
    "0": "WebSocket",
    "5": "trading service",
    "8": "trading service (in batches of accounts)",
    "9": "trading service (in batches of products)",
    "99": "instrument trading",
}
SPEC_FIELDS = ("ctVal", "lotSz", "minSz", "tickSz")


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    message: str  # one plain sentence; for warn / refuse it names what to do
    data: dict[str, Any] = field(default_factory=dict)


class PreflightDown(RuntimeError):
    """OKX could not be asked (network, OKX down): nothing was checked. One sentence, no traceback."""


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _pct(rate: Decimal | None) -> str:
    return "?" if rate is None else f"{rate * 100:.4f}".rstrip("0").rstrip(".") + "%"


def down(exc: OkxError, what: str) -> PreflightDown:
    return PreflightDown(
        f"OKX did not answer {what} ({exc.msg}): check the network and OKX's status page, "
        "then run `athena preflight` again"
    )


def strategy_leverage(settings: Settings) -> dict[str, Decimal]:
    """The cross leverage each instrument a strategy trades must have: the highest of its strategies' (each
    capped by risk.max_leverage), so no strategy on it is short of margin."""
    out: dict[str, Decimal] = {}
    for s in settings.strategies:
        if not s.enabled:
            continue
        lev = min(s.risk.leverage, settings.risk.max_leverage)
        for inst in s.instIds:
            out[inst] = max(out.get(inst, lev), lev)
    return out


def wanted_instruments(settings: Settings) -> list[str]:
    return sorted(set(settings.symbols) | {i for s in settings.strategies if s.enabled for i in s.instIds})


# -- the checks ---------------------------------------------------------------------------------------
def check_account(cfg: AccountConfig) -> list[Check]:
    out = []
    level = {"1": "Spot", "2": "Futures", "3": "Multi-currency margin", "4": "Portfolio margin"}.get(
        cfg.acctLv
    )
    if cfg.acctLv == "1":
        out.append(
            Check(
                "account_mode",
                Status.REFUSE,
                "The account is in Spot mode (acctLv 1), which cannot trade "
                "swaps: switch it to Futures, Multi-currency or Portfolio margin mode in OKX (Settings > "
                "Account mode) and run `athena preflight` again.",
                {"acctLv": cfg.acctLv},
            )
        )
    elif level is None:
        out.append(
            Check(
                "account_mode",
                Status.WARN,
                f"OKX reports an account level Athena does not know "
                f"(acctLv {cfg.acctLv!r}): check the account mode in OKX.",
                {"acctLv": cfg.acctLv},
            )
        )
    else:
        out.append(
            Check("account_mode", Status.OK, f"{level} mode (acctLv {cfg.acctLv}).", {"acctLv": cfg.acctLv})
        )
    if not cfg.can_trade:
        out.append(
            Check(
                "api_key",
                Status.REFUSE,
                f"The API key cannot trade (permissions: {cfg.perm or 'none'}): "
                "create a key with Read and Trade permission and configure it.",
                {"perm": cfg.perm},
            )
        )
    elif cfg.can_withdraw:
        out.append(
            Check(
                "api_key",
                Status.WARN,
                "WARNING: the API key can WITHDRAW funds: anyone who obtains it "
                "can empty the account; replace it with a key that has only Read and Trade permission.",
                {"perm": cfg.perm},
            )
        )
    else:
        out.append(
            Check(
                "api_key",
                Status.OK,
                f"The API key may {cfg.perm.replace(',', ', ')} (no withdraw).",
                {"perm": cfg.perm},
            )
        )
    if cfg.ip:
        out.append(Check("ip_binding", Status.OK, f"The API key is bound to {cfg.ip}.", {"ip": cfg.ip}))
    else:
        out.append(
            Check(
                "ip_binding",
                Status.WARN,
                "The API key is not bound to an IP address: bind it to this "
                "server's address in OKX (API management) so a leaked key is useless elsewhere.",
                {"ip": ""},
            )
        )
    return out


def check_position_mode(rest: ExchangePort, cfg: AccountConfig, fix: bool) -> Check:
    if cfg.posMode is PosMode.NET:
        return Check("position_mode", Status.OK, "Net position mode.", {"posMode": str(cfg.posMode)})
    positions = [p for p in rest.positions() if not p.is_flat]
    orders = [*rest.orders_pending(), *rest.algos_pending()]
    data = {"posMode": str(cfg.posMode), "positions": len(positions), "orders": len(orders)}
    if positions or orders:
        return Check(
            "position_mode",
            Status.REFUSE,
            f"The account is in long/short position mode with "
            f"{len(positions)} open position(s) and {len(orders)} open order(s); Athena trades in net "
            "mode: close them, switch to net mode in OKX (Settings > Position mode) and run "
            "`athena preflight` again.",
            data,
        )
    if not fix:
        return Check(
            "position_mode",
            Status.REFUSE,
            "The account is in long/short position mode; Athena trades in "
            "net mode: run `athena preflight` (without --check) to switch it, nothing is open.",
            data,
        )
    try:
        rest.set_position_mode(PosMode.NET)
        now = rest.account_config().posMode
    except OkxError as exc:
        return Check(
            "position_mode",
            Status.REFUSE,
            f"Switching to net position mode failed ({exc.msg}): switch "
            "it in OKX (Settings > Position mode) and run `athena preflight` again.",
            data,
        )
    if now is not PosMode.NET:
        return Check(
            "position_mode",
            Status.REFUSE,
            f"OKX still reports {now} after switching to net mode: "
            "switch it in OKX (Settings > Position mode) and run `athena preflight` again.",
            data,
        )
    return Check(
        "position_mode",
        Status.OK,
        "Switched the account from long/short to net position mode (nothing was open).",
        {**data, "posMode": str(now), "changed": True},
    )


def check_instruments(
    fresh: Mapping[str, Instrument], wanted: Iterable[str], cached: Mapping[str, Instrument]
) -> list[Check]:
    out = []
    for inst_id in wanted:
        inst = fresh.get(inst_id)
        name = f"instrument:{inst_id}"
        if inst is None:
            out.append(
                Check(name, Status.REFUSE, f"OKX does not list {inst_id}: remove it from the configuration.")
            )
            continue
        specs = {k: str(getattr(inst, k)) for k in SPEC_FIELDS}
        if inst.ctType != "linear":
            out.append(
                Check(
                    name,
                    Status.REFUSE,
                    f"{inst_id} is an inverse swap, which Athena does not trade: "
                    "remove it from the configuration.",
                    specs,
                )
            )
            continue
        if inst.state != "live":
            out.append(
                Check(
                    name,
                    Status.REFUSE,
                    f"{inst_id} is not trading on OKX (state {inst.state}): entries "
                    "stay refused until it is live again; remove it from the configuration or wait, then "
                    "run `athena preflight` again.",
                    {**specs, "state": inst.state},
                )
            )
            continue
        old = cached.get(inst_id)
        changed = {
            k: (str(getattr(old, k)), specs[k])
            for k in SPEC_FIELDS
            if old is not None and getattr(old, k) != getattr(inst, k)
        }
        if changed:
            what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
            out.append(
                Check(
                    name,
                    Status.WARN,
                    f"{inst_id}'s contract specs changed on OKX ({what}): the cached "
                    "specs are replaced; check the strategy's sizes still make sense.",
                    {**specs, "changed": {k: list(v) for k, v in changed.items()}},
                )
            )
        else:
            out.append(
                Check(
                    name,
                    Status.OK,
                    f"{inst_id} live: ctVal {specs['ctVal']}, lotSz {specs['lotSz']}, "
                    f"minSz {specs['minSz']}, tickSz {specs['tickSz']}.",
                    {**specs, "state": inst.state},
                )
            )
    return out


def check_leverage(rest: ExchangePort, inst_id: str, lever: Decimal, fix: bool) -> Check:
    name, mode = f"leverage:{inst_id}", TdMode.CROSS
    error = ""
    if fix:
        try:
            rest.set_leverage(inst_id, lever, mode)
        except OkxError as exc:
            error = exc.msg
    held = [i.lever for i in rest.leverage_info(inst_id, mode)]
    data = {"instId": inst_id, "mgnMode": str(mode), "want": str(lever), "have": [str(x) for x in held]}
    if held and all(x == lever for x in held):
        return Check(name, Status.OK, f"{inst_id}: cross margin, {lever}x as the strategies use.", data)
    have = "/".join(f"{x}x" for x in held) or "unknown"
    why = f" and setting it failed ({error})" if error else "" if fix else " (not changed: --check)"
    return Check(
        name,
        Status.REFUSE,
        f"{inst_id}'s cross leverage is {have}, the strategies use {lever}x{why}: "
        f"set {lever}x cross for {inst_id} in OKX (or close what prevents the change) and run "
        "`athena preflight` again.",
        {**data, "error": error},
    )


def check_fee_tier(rest: ExchangePort) -> tuple[Check, TradeFee | None]:
    try:
        fee = rest.trade_fee("SWAP")
    except (OkxTransient, OkxRateLimited) as exc:
        raise down(exc, "the fee-tier request") from None
    except OkxError as exc:
        return Check(
            "fee_tier",
            Status.WARN,
            f"The fee tier could not be read ({exc.msg}): fee-aware sizing "
            "falls back to its configured rates until `athena preflight` reads it.",
        ), None
    maker, taker = fee.rates("USDT")
    return Check(
        "fee_tier",
        Status.OK,
        f"Fee tier {fee.level or '?'}: maker {_pct(maker)}, taker {_pct(taker)} (negative = paid).",
        {"level": fee.level, "maker": str(maker), "taker": str(taker)},
    ), fee


def check_clock(rest: ExchangePort, clock: Callable[[], float]) -> Check:
    t0 = clock() * 1000
    server = rest.server_time()
    t1 = clock() * 1000
    skew = int(server - (t0 + t1) / 2)  # + : OKX is ahead of this machine
    data = {"skew_ms": skew, "rtt_ms": int(t1 - t0)}
    where = f"{abs(skew) / 1000:.1f} s {'behind' if skew > 0 else 'ahead of'} OKX's"
    if abs(skew) > SKEW_REFUSE_MS:
        return Check(
            "clock",
            Status.REFUSE,
            f"This machine's clock is {where}: fix its time synchronisation "
            "(chrony or systemd-timesyncd) and run `athena preflight` again.",
            data,
        )
    if abs(skew) > SKEW_WARN_MS:
        return Check(
            "clock",
            Status.WARN,
            f"This machine's clock is {where}: check its time synchronisation "
            "(requests are signed with OKX's time, but logs and timers drift).",
            data,
        )
    return Check("clock", Status.OK, f"Clock within {abs(skew)} ms of OKX's.", data)


def maintenance_check(
    windows: Iterable[Maintenance], now_ms: int, env: str
) -> tuple[Check, Maintenance | None]:
    """The maintenance verdict: the window that pauses entries now (ongoing, or beginning within the hour,
    of a service Athena uses, in this environment), else the next one, for information."""
    relevant = sorted(
        (
            w
            for w in windows
            if w.serviceType in TRADING_SERVICES
            and (not w.env or w.env == env)
            and w.state in ("scheduled", "ongoing", "pre_open")
        ),
        key=lambda w: w.begin,
    )
    for w in relevant:
        what = f"OKX {TRADING_SERVICES[w.serviceType]} maintenance ({w.title or 'untitled'})"
        until = f" until {_utc(w.end)}" if w.end else ""
        data = {
            "title": w.title,
            "state": w.state,
            "begin": w.begin,
            "end": w.end,
            "serviceType": w.serviceType,
        }
        if w.state in ("ongoing", "pre_open") or (w.begin and w.begin <= now_ms):
            return Check(
                "maintenance",
                Status.WARN,
                f"{what} is under way{until}: new entries are paused until it "
                "ends; positions keep their stops.",
                data,
            ), w
        if w.begin - now_ms <= MAINTENANCE_LEAD_MS:
            minutes = max(0, (w.begin - now_ms) // 60_000)
            return Check(
                "maintenance",
                Status.WARN,
                f"{what} begins at {_utc(w.begin)} (in {minutes} min){until}: "
                "new entries are paused from now until it ends; positions keep their stops.",
                data,
            ), w
    if relevant:
        w = relevant[0]
        return Check(
            "maintenance",
            Status.OK,
            f"Next OKX maintenance: {w.title or 'untitled'} at {_utc(w.begin)}.",
            {"title": w.title, "begin": w.begin},
        ), None
    return Check("maintenance", Status.OK, "No OKX maintenance scheduled."), None


def system_status(rest: ExchangePort, sleep: Callable[[float], None] = time.sleep) -> list[Maintenance]:
    """GET /system/status, once more after OKX's 5 s window when another process here just asked."""
    try:
        windows: list[Maintenance] = rest.system_status()
    except OkxRateLimited:
        sleep(STATUS_WINDOW_S)
        windows = rest.system_status()
    return windows


def venue_env(settings: Settings) -> str:
    return "2" if settings.simulated_trading else "1"
