"""Settings: config/base.json <- config/$ATHENA_ENV.json <- config/local.json <- environment (.env).

Every process loads Settings once at start. A wrong type, an unknown key or a missing live
credential raises ConfigError naming the key and the file (or variable) it came from. Secrets are
SecretStr: they never appear in repr, logs or error messages.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(os.environ.get("ATHENA_CONFIG_DIR", ROOT / "config"))

Mode = Literal["sim", "paper", "demo", "live"]
LOCAL_MODES = ("sim", "paper")  # Athena talks to its own `athena sim` on loopback, with the sim's keys
Env = Literal["development", "production", "test"]
LIVE_CONFIRMATION = "I-ACCEPT-REAL-MONEY-RISK"

OKX_HOSTS = {
    "live": ("https://www.okx.com", "wss://ws.okx.com:8443/ws/v5"),
    "demo": ("https://www.okx.com", "wss://wspap.okx.com:8443/ws/v5"),
}


class ConfigError(ValueError):
    """Bad configuration, with the offending key and where it came from."""


# Numbers beyond this cannot be meant, and a Decimal past the context's Emax (1e999999) raises Overflow
# in the first multiplication, long after start-up.
MAX_NUMBER = Decimal("1e15")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _finite_and_sane(cls, v: Any) -> Any:
        if isinstance(v, Decimal | float | int) and not isinstance(v, bool):
            d = v if isinstance(v, Decimal) else Decimal(v)
            if not d.is_finite() or d.copy_abs() >= MAX_NUMBER:  # copy_abs: abs() would round and overflow
                raise ValueError(f"out of range (must be finite and below {MAX_NUMBER:.0e} in size)")
        return v


def is_folder(path: str | Path) -> bool:
    """An existing directory; False also for a path the OS cannot even look up (too long, NUL bytes)."""
    try:
        return Path(path).expanduser().is_dir()
    except (OSError, ValueError, RuntimeError):  # RuntimeError: ~user that does not exist
        return False


class OkxSettings(_Strict):
    api_key: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr("")
    passphrase: SecretStr = SecretStr("")
    rest_url: str = ""  # empty = derived from mode
    ws_public_url: str = ""
    ws_private_url: str = ""
    ws_business_url: str = ""
    timeout_s: float = Field(5.0, gt=0)  # REST timeout: beyond it an order is AMBIGUOUS
    # how the orders worker places orders: "ws" over its own logged-in private WebSocket (`op: order`, REST
    # while that is down), "rest" always by REST. Cancels, amends and stops go by REST either way.
    order_entry: Literal["ws", "rest"] = "ws"

    def has_credentials(self) -> bool:
        return all(s.get_secret_value() for s in (self.api_key, self.secret_key, self.passphrase))


class SimSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    seed: int = 7
    api_key: SecretStr = SecretStr("sim-api-key")
    secret_key: SecretStr = SecretStr("sim-secret-key")
    passphrase: SecretStr = SecretStr("sim-passphrase")
    tls: bool = False
    tick_interval_ms: int = Field(100, ge=1)
    initial_usdt: Decimal = Decimal(100_000)


class PaperSettings(_Strict):
    """ATHENA_MODE=paper: the local sim is a paper venue fed by this public feed (no API keys needed)."""

    upstream_rest_url: str = "https://www.okx.com"  # public/instruments and market/tickers
    upstream_ws_url: str = "wss://ws.okx.com:8443/ws/v5/public"  # books, trades, mark-price, funding-rate


class RiskSettings(_Strict):
    risk_per_trade: Decimal = Field(Decimal("0.01"), gt=0, le=Decimal("0.05"))
    max_leverage: Decimal = Field(Decimal(3), gt=0, le=Decimal(3))
    max_drawdown: Decimal = Field(Decimal("0.10"), gt=0, lt=1)
    daily_loss_limit: Decimal = Field(Decimal("0.03"), gt=0, lt=1)
    max_total_exposure: Decimal = Field(Decimal(3), gt=0)  # x equity, all strategies together
    # entries are held while liquidation is closer than this many times the stop's distance
    # (athena.risk.liquidation)
    liq_distance_multiple: Decimal = Field(Decimal(3), gt=0)


class FeeSettings(_Strict):
    """The fee rates assumed while the exchange's tier (GET /account/trade-fee, read by the pre-flight) is
    unknown: a cost per unit of notional, positive = paid (OKX's regular tier for swaps: 0.02% / 0.05%)."""

    maker: Decimal = Field(Decimal("0.0002"), gt=-1, lt=1)
    taker: Decimal = Field(Decimal("0.0005"), gt=-1, lt=1)


class RiskProfileSettings(_Strict):
    leverage: Decimal = Field(Decimal(3), gt=0)
    stop_type: Literal["exchange_conditional"] = "exchange_conditional"
    max_order_notional: Decimal = Field(Decimal(10_000), gt=0)
    max_orders_per_minute: int = Field(30, gt=0)
    max_position: Decimal = Field(Decimal(100), gt=0)  # contracts per instrument


class StrategySettings(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9]{1,12}$")  # goes into clOrdId
    cls: str = "ScalperV1"
    instIds: list[str] = Field(min_length=1)
    allocation: Decimal = Field(gt=0, le=1)  # fraction of total capital
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)
    risk: RiskProfileSettings = RiskProfileSettings()


class ScheduleSettings(_Strict):
    """Beat intervals in seconds."""

    sync_positions: float = Field(5.0, gt=0)
    reconcile: float = Field(30.0, gt=0)
    protect_positions: float = Field(5.0, gt=0)
    cancel_ghost_orders: float = Field(30.0, gt=0)
    snapshot_equity: float = Field(60.0, gt=0)
    check_drawdown: float = Field(10.0, gt=0)
    heartbeat: float = Field(10.0, gt=0)
    prune_indexes: float = Field(3600.0, gt=0)  # drops exchange-id index entries of expired records
    watch_venue: float = Field(60.0, ge=5)  # OKX's system/status allows 1 request per 5 s
    book_funding: float = Field(60.0, gt=0)  # funding bills -> realised PnL (OKX settles every 8 h)
    dead_man_timeout: int = Field(60, ge=10, le=120)  # OKX cancel-all-after timeOut
    breaker_threshold: int = Field(10, ge=1)  # consecutive sync failures that open the breaker
    breaker_open_s: float = Field(60.0, gt=0)  # how long an open breaker pauses the job
    visibility_timeout: int = Field(300, ge=1)  # s before a killed worker's unacked task is redelivered


class DashboardSettings(_Strict):
    """`athena dashboard` (athena.dashboard): the web page of the account and its operator actions."""

    host: str = "127.0.0.1"  # loopback by default: the actions can trade the account
    port: int = Field(8780, ge=0, le=65535)
    # Whoever knows it can halt and flatten the account. Empty: the dashboard refuses to start.
    password: SecretStr = SecretStr("")
    session_hours: float = Field(12.0, gt=0)  # a login lasts this long
    refresh_s: float = Field(1.0, gt=0)  # how often the page's live view is refreshed


class MetricsSettings(_Strict):
    """Prometheus endpoints (athena.observe): one port per worker role; 0 = off."""

    host: str = "127.0.0.1"  # docker-compose binds 0.0.0.0 inside the container network
    stream_port: int = Field(0, ge=0, le=65535)
    orders_port: int = Field(0, ge=0, le=65535)


class AlertSettings(_Strict):
    """Where alerts go (athena.alerts) and when a condition becomes one. Every URL and token is a secret:
    a webhook URL is a bearer credential. No sink configured = alerts off."""

    webhook_url: SecretStr = SecretStr("")  # generic JSON webhook (POST)
    telegram_bot_token: SecretStr = SecretStr("")
    telegram_chat_id: str = ""
    telegram_api_url: str = "https://api.telegram.org"  # a test points it at a local server
    slack_webhook_url: SecretStr = SecretStr(
        ""
    )  # Slack-compatible incoming webhook (Mattermost, Rocket.Chat)
    rate_window_s: float = Field(300.0, gt=0)  # per event key: at most max_per_window sends in this window
    max_per_window: int = Field(1, ge=1)
    queue_size: int = Field(100, ge=1)  # per sink; a full queue drops (counted), it never blocks the caller
    sink_timeout_s: float = Field(5.0, gt=0)
    unprotected_after_s: float = Field(15.0, gt=0)  # an open position without a covering stop
    ws_down_after_s: float = Field(30.0, gt=0)
    heartbeat_stale_after_s: float = Field(30.0, gt=0)  # a worker's heartbeat (every 5 s) stopped
    ambiguous_after_s: float = Field(60.0, gt=0)  # an order whose outcome is still unknown
    daily_summary_hour_utc: int = Field(0, ge=0, le=23)  # beat sends the previous day's PnL at this hour

    def any_sink(self) -> bool:
        return bool(
            self.webhook_url.get_secret_value()
            or self.slack_webhook_url.get_secret_value()
            or (self.telegram_bot_token.get_secret_value() and self.telegram_chat_id)
        )


class Settings(_Strict):
    env: Env = "development"
    mode: Mode = "sim"
    account: str = Field("main", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    total_capital: Decimal = Field(Decimal(10_000), gt=0)
    symbols: list[str] = Field(default_factory=lambda: ["BTC-USDT-SWAP"], min_length=1)
    redis_url: SecretStr = SecretStr(
        "redis://127.0.0.1:6379/0"
    )  # may hold a password; or sentinel://... (athena.broker)
    redis_sentinel_master: str = ""  # the master's name when redis_url is a sentinel:// URL
    result_backend: SecretStr = SecretStr("")  # Celery's result backend; empty = redis_url
    db_url: str = "sqlite:///var/athena.db"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    var_dir: str = "var"
    live_confirm: str = ""
    # a folder of strategy files (*.py) that `cls` names are also looked up in (athena.strategies.loader);
    # relative paths are relative to the working directory
    strategies_dir: str = ""
    okx: OkxSettings = OkxSettings()
    sim: SimSettings = SimSettings()
    paper: PaperSettings = PaperSettings()
    risk: RiskSettings = RiskSettings()
    fees: FeeSettings = FeeSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    strategies: list[StrategySettings] = Field(default_factory=list)
    dashboard: DashboardSettings = DashboardSettings()
    metrics: MetricsSettings = MetricsSettings()
    alerts: AlertSettings = AlertSettings()

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.mode in ("demo", "live") and not self.okx.has_credentials():
            missing = [
                k
                for k in ("api_key", "secret_key", "passphrase")
                if not getattr(self.okx, k).get_secret_value()
            ]
            where = ", ".join(f"okx.{m} (${m_var})" for m in missing for m_var in [f"OKX_{m.upper()}"])
            raise ValueError(
                f"okx.{missing[0]}: mode {self.mode!r} needs OKX credentials (missing: {where}; set "
                "them in the environment or .env, or in config/local.json)"
            )
        for key, url in (("redis_url", self.redis_url), ("result_backend", self.result_backend)):
            text = url.get_secret_value()
            if text and not text.startswith(("redis://", "rediss://", "unix://", "sentinel://")):
                raise ValueError(f"{key}: must be a redis://, rediss://, unix:// or sentinel:// URL")
            if text.startswith("sentinel://") and not self.redis_sentinel_master:
                raise ValueError(
                    f"redis_sentinel_master: {key} is a sentinel:// URL; set REDIS_SENTINEL_MASTER to "
                    "the monitored master's name"
                )
        if self.mode == "live" and self.live_confirm != LIVE_CONFIRMATION:
            raise ValueError(
                f"live_confirm: live mode trades real money; set ATHENA_LIVE_CONFIRM={LIVE_CONFIRMATION}"
            )
        total = sum((s.allocation for s in self.strategies if s.enabled), Decimal(0))
        if total > 1:
            raise ValueError(f"strategies: allocations add up to {total} > 1")
        names = [s.name for s in self.strategies]
        if len(names) != len(set(names)):
            raise ValueError("strategies: strategy names must be unique")
        for s in self.strategies:
            if s.risk.leverage > self.risk.max_leverage:
                raise ValueError(
                    f"strategies.{s.name}.risk.leverage: {s.risk.leverage} exceeds risk.max_leverage "
                    f"{self.risk.max_leverage}"
                )
        self._check_strategy_classes()
        return self

    def _check_strategy_classes(self) -> None:
        """Every strategy's class loads and its params fit its Params model: an unknown class or a
        misspelt or mistyped parameter stops `athena config` and every worker at start, not a trade later."""
        from athena.strategies.base import StrategyParamError
        from athena.strategies.loader import StrategyLoadError, validate

        if self.strategies_dir and not is_folder(self.strategies_dir):
            raise ValueError(
                f"strategies_dir: {self.strategies_dir[:200]!r} is not a folder (relative to {Path.cwd()}); "
                "create it or fix the path"
            )
        for s in self.strategies:
            try:
                validate(s.cls, dict(s.params), self.strategies_dir or None, s.name)
            except StrategyLoadError as exc:
                raise ValueError(f"strategies.{s.name}.cls: {exc}") from None
            except StrategyParamError as exc:
                key, msg = exc.problems[0] if exc.problems else ("params", str(exc))
                if msg.startswith("unknown param"):
                    known = msg.partition("(known: ")[2].rstrip(")")
                    msg = (
                        f"strategy {s.name!r} ({s.cls}) has no parameter {key.split('.')[-1]!r}; its "
                        f"parameters: {known}"
                    )
                else:
                    msg = f"strategy {s.name!r} ({s.cls}): {msg}"
                raise ValueError(f"strategies.{s.name}.{key}: {msg}") from None

    # -- derived endpoints -----------------------------------------------------------------
    @property
    def simulated_trading(self) -> bool:
        return self.mode == "demo"

    @property
    def rest_url(self) -> str:
        if self.okx.rest_url:
            return self.okx.rest_url
        if self.mode in LOCAL_MODES:
            scheme = "https" if self.sim.tls else "http"
            return f"{scheme}://{self.sim.host}:{self.sim.port}"
        return OKX_HOSTS[self.mode][0]

    def ws_url(self, kind: Literal["public", "private", "business"]) -> str:
        explicit = {
            "public": self.okx.ws_public_url,
            "private": self.okx.ws_private_url,
            "business": self.okx.ws_business_url,
        }[kind]
        if explicit:
            return explicit
        if self.mode in LOCAL_MODES:
            scheme = "wss" if self.sim.tls else "ws"
            return f"{scheme}://{self.sim.host}:{self.sim.port}/ws/v5/{kind}"
        return f"{OKX_HOSTS[self.mode][1]}/{kind}"

    def credentials(self) -> tuple[str, str, str]:
        """(api_key, secret_key, passphrase) for signing. In sim and paper mode the sim's own keys."""
        src: OkxSettings | SimSettings = self.okx
        if self.mode in LOCAL_MODES and not self.okx.has_credentials():
            src = self.sim
        return (
            src.api_key.get_secret_value(),
            src.secret_key.get_secret_value(),
            src.passphrase.get_secret_value(),
        )

    def secrets(self) -> list[str]:
        """Every secret value in force, for log redaction."""
        out = [s.get_secret_value() for s in (self.okx.api_key, self.okx.secret_key, self.okx.passphrase)]
        out += [
            s.get_secret_value() for s in (self.sim.secret_key, self.sim.passphrase, self.dashboard.password)
        ]
        alerts = self.alerts
        out += [
            s.get_secret_value()
            for s in (alerts.webhook_url, alerts.telegram_bot_token, alerts.slack_webhook_url)
        ]
        from urllib.parse import urlparse

        for url in (self.redis_url, self.result_backend):
            for part in url.get_secret_value().split(";"):
                try:
                    pw = urlparse(part.strip()).password
                except ValueError:
                    continue
                if pw:
                    out.append(pw)
        return [s for s in out if s and len(s) >= 4]


# Environment variables -> dotted keys. Lists are comma-separated.
ENV_VARS: dict[str, str] = {
    "ATHENA_ENV": "env",
    "ATHENA_MODE": "mode",
    "ATHENA_ACCOUNT": "account",
    "ATHENA_TOTAL_CAPITAL": "total_capital",
    "ATHENA_SYMBOLS": "symbols",
    "REDIS_URL": "redis_url",
    "REDIS_SENTINEL_MASTER": "redis_sentinel_master",
    "ATHENA_RESULT_BACKEND": "result_backend",
    "ATHENA_DB_URL": "db_url",
    "ATHENA_LOG_LEVEL": "log_level",
    "ATHENA_LOG_FORMAT": "log_format",
    "ATHENA_VAR_DIR": "var_dir",
    "ATHENA_LIVE_CONFIRM": "live_confirm",
    "ATHENA_STRATEGIES_DIR": "strategies_dir",
    "OKX_API_KEY": "okx.api_key",
    "OKX_SECRET_KEY": "okx.secret_key",
    "OKX_PASSPHRASE": "okx.passphrase",
    "OKX_REST_URL": "okx.rest_url",
    "OKX_WS_PUBLIC_URL": "okx.ws_public_url",
    "OKX_WS_PRIVATE_URL": "okx.ws_private_url",
    "OKX_WS_BUSINESS_URL": "okx.ws_business_url",
    "ATHENA_ORDER_ENTRY": "okx.order_entry",
    "ATHENA_SIM_HOST": "sim.host",
    "ATHENA_SIM_PORT": "sim.port",
    "ATHENA_SIM_SEED": "sim.seed",
    "ATHENA_SIM_TLS": "sim.tls",
    "ATHENA_PAPER_UPSTREAM_REST": "paper.upstream_rest_url",
    "ATHENA_PAPER_UPSTREAM_WS": "paper.upstream_ws_url",
    "ATHENA_DASHBOARD_HOST": "dashboard.host",
    "ATHENA_DASHBOARD_PORT": "dashboard.port",
    "ATHENA_DASHBOARD_PASSWORD": "dashboard.password",
    "ATHENA_METRICS_HOST": "metrics.host",
    "ATHENA_METRICS_STREAM_PORT": "metrics.stream_port",
    "ATHENA_METRICS_ORDERS_PORT": "metrics.orders_port",
    "ATHENA_ALERT_WEBHOOK_URL": "alerts.webhook_url",
    "ATHENA_TELEGRAM_BOT_TOKEN": "alerts.telegram_bot_token",
    "ATHENA_TELEGRAM_CHAT_ID": "alerts.telegram_chat_id",
    "ATHENA_SLACK_WEBHOOK_URL": "alerts.slack_webhook_url",
}
_LIST_KEYS = {"symbols"}
_SECRET_KEYS = {
    "okx.api_key",
    "okx.secret_key",
    "okx.passphrase",
    "redis_url",
    "result_backend",
    "sim.api_key",
    "sim.secret_key",
    "sim.passphrase",
    "dashboard.password",
    "alerts.webhook_url",
    "alerts.telegram_bot_token",
    "alerts.slack_webhook_url",
}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except UnicodeDecodeError as exc:  # a binary or non-UTF-8 file
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None
    except OSError as exc:  # a directory, no permission
        raise ConfigError(f"{path}: cannot read ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a JSON object")
    return data


def _merge(
    dst: dict[str, Any], src: dict[str, Any], origin: str, sources: dict[str, str], prefix: str = ""
) -> None:
    for key, value in src.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(dst.get(key), dict) and key not in ("params",):
            _merge(dst[key], value, origin, sources, dotted + ".")
        else:
            dst[key] = value
        _mark(value, dotted, origin, sources)


def _mark(value: Any, dotted: str, origin: str, sources: dict[str, str]) -> None:
    sources[dotted] = origin
    if isinstance(value, dict):
        for k, v in value.items():
            _mark(v, f"{dotted}.{k}", origin, sources)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[parts[-1]] = value


def _source_of(dotted: str, sources: dict[str, str]) -> str:
    while dotted:
        if dotted in sources:
            return sources[dotted]
        dotted = dotted.rpartition(".")[0]
    return "defaults"


def load_settings(
    env: str | None = None,
    environ: dict[str, str] | None = None,
    config_dir: Path | str | None = None,
    dotenv: bool = True,
) -> Settings:
    """Load and validate Settings. Raises ConfigError naming the key and its source."""
    if dotenv and environ is None:
        from dotenv import load_dotenv

        load_dotenv(ROOT / ".env", override=False)
    environ = dict(os.environ if environ is None else environ)
    cdir = Path(config_dir) if config_dir is not None else CONFIG_DIR
    env = env or environ.get("ATHENA_ENV") or "development"

    tree: dict[str, Any] = {}
    sources: dict[str, str] = {}
    layers = [cdir / "base.json", cdir / f"{env}.json", cdir / "local.json"]
    for i, path in enumerate(layers):
        if path.exists():
            _merge(tree, _read_json(path), str(path), sources)
        elif i == 1 and env not in ("development", "production", "test"):
            raise ConfigError(f"ATHENA_ENV: unknown environment {env!r} (no {path})")
    tree["env"] = env
    sources.setdefault("env", "ATHENA_ENV")

    for var, dotted in ENV_VARS.items():
        if var == "ATHENA_ENV" or var not in environ:
            continue
        raw: Any = environ[var]
        if dotted in _LIST_KEYS:
            raw = [s.strip() for s in raw.split(",") if s.strip()]
        _set_dotted(tree, dotted, raw)
        sources[dotted] = f"${var}"
    # Generic nested override: ATHENA__risk__max_leverage=2
    for var, raw in environ.items():
        if var.startswith("ATHENA__"):
            dotted = var[len("ATHENA__") :].lower().replace("__", ".")
            _set_dotted(tree, dotted, raw)
            sources[dotted] = f"${var}"

    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, sources, tree)) from None


def _describe(exc: ValidationError, sources: dict[str, str], tree: dict[str, Any]) -> str:
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = list(err["loc"])
        # strategies[i] -> strategies.<name> when a name is known
        parts: list[str] = []
        for i, part in enumerate(loc):
            if isinstance(part, int) and parts and parts[-1] == "strategies":
                strategies = tree.get("strategies") or []
                name = (
                    strategies[part].get("name")
                    if part < len(strategies) and isinstance(strategies[part], dict)
                    else None
                )
                parts.append(str(name or part))
                _ = i
            else:
                parts.append(str(part))
        dotted = ".".join(parts)
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
            key = msg.split(":", 1)[0] if ":" in msg else dotted
            lines.append(f"{key} ({_source_of(key.split(' ')[0], sources)}): {msg.split(':', 1)[-1].strip()}")
            continue
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        src_key = ".".join(str(p) for p in loc)
        lines.append(f"{dotted} ({_source_of(src_key, sources)}): {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


_cached: Settings | None = None


def get_settings() -> Settings:
    """The process-wide Settings, loaded once."""
    global _cached
    if _cached is None:
        _cached = load_settings()
    return _cached


def set_settings(settings: Settings | None) -> None:
    """Install Settings for this process (tests, CLI overrides)."""
    global _cached
    _cached = settings


_ = _SECRET_KEYS
