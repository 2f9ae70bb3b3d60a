"""Build strategies from Settings.strategies: `cls` -> class (athena.strategies.loader, the one loader),
instIds, params, allocation, risk."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from athena.bus import EventBus
from athena.config import Settings, StrategySettings
from athena.domain import Instrument
from athena.risk.halt import HaltSwitch
from athena.state.flags import Flag
from athena.strategies.base import BaseStrategy
from athena.strategies.clock import Clock
from athena.strategies.context import FeeRates, LockFactory, StrategyContext
from athena.strategies.loader import resolve
from athena.strategies.pause import StrategyPause

# (settings of one strategy, instIds only it trades) -> its context
ContextFactory = Callable[[StrategySettings, frozenset[str]], StrategyContext]


def strategy_class(name: str, strategy: str = "", strategies_dir: str | None = None) -> type[BaseStrategy]:
    """The class config's `cls` names (athena.strategies.loader.resolve); StrategyParamError if none."""
    return resolve(name, strategies_dir, strategy)


def exclusive_instruments(settings: list[StrategySettings]) -> dict[str, frozenset[str]]:
    """Per strategy, the instIds no other enabled strategy trades (its position there is its own)."""
    enabled = [s for s in settings if s.enabled]
    count = Counter(i for s in enabled for i in set(s.instIds))
    return {s.name: frozenset(i for i in s.instIds if count[i] == 1) for s in enabled}


def build_strategies(
    settings: list[StrategySettings], make_ctx: ContextFactory, strategies_dir: str | None = None
) -> list[BaseStrategy]:
    """Enabled strategies, in config order. Raises StrategyParamError naming the strategy and key."""
    exclusive = exclusive_instruments(settings)
    out: list[BaseStrategy] = []
    for s in settings:
        if not s.enabled:
            continue
        cls = strategy_class(s.cls, s.name, strategies_dir)
        out.append(cls(s.name, list(s.instIds), dict(s.params), make_ctx(s, exclusive[s.name])))
    return out


def notional_cap(
    settings: Settings,
    s: StrategySettings,
    equity: Callable[[], Decimal | None],
    free: Callable[[], Decimal | None] | None = None,
) -> Callable[[], Decimal | None]:
    """The largest entry notional the risk limits allow this strategy: min(max_order_notional,
    leverage x equity, leverage x free allocation). Entries are sized to it so PreTradeCheck does
    not refuse them for size (max_order_notional, leverage, buying_power)."""
    lev = min(s.risk.leverage, settings.risk.max_leverage)
    cap: Decimal = s.risk.max_order_notional

    def max_notional() -> Decimal | None:
        eq = equity()
        out = min(cap, lev * eq) if eq is not None and eq > 0 else cap
        spare = free() if free is not None else None
        return min(out, lev * max(spare, Decimal(0))) if spare is not None else out

    return max_notional


def context_factory(
    settings: Settings,
    *,
    orders: Any,
    pretrade: Any,
    capital: Any,
    instruments: dict[str, Instrument],
    clock: Clock,
    locks: LockFactory,
    bus: EventBus,
    routes: dict[str, str],
    pause: StrategyPause | None = None,
    halt: HaltSwitch | None = None,
    position_view: Callable[[str], Decimal | None] | None = None,
    fee_rates: Callable[[str], FeeRates | None] | None = None,
) -> ContextFactory:
    """The one builder of every strategy's context (the stream worker for live, demo and sim; the
    backtest): what differs between them (clock, locks, position_view, the sender behind orders) is
    passed in, the risk wiring is the same everywhere. equity = allocation + net realised PnL
    (CapitalCommander); an entry is sized to at most min(max_order_notional, leverage x equity,
    leverage x free allocation) and max_position contracts; sizing by PreTradeCheck.size_for_risk
    (risk.risk_per_trade); entries refused while the strategy is paused (pause: StrategyPause); the
    halt and pause switches are read with the decision's capital numbers, in one round trip."""
    flags: tuple[Flag, ...] = (halt.flag,) if halt is not None else ()

    def make(s: StrategySettings, exclusive: frozenset[str]) -> StrategyContext:
        def equity() -> Decimal | None:
            return Decimal(capital.allocation(s.name)) + Decimal(capital.realised(s.name))

        return StrategyContext(
            s.name,
            orders=orders,
            risk=pretrade,
            instruments=instruments,
            equity=equity,
            sizer=pretrade.size_for_risk,
            clock=clock,
            locks=locks,
            bus=bus,
            routes=routes,
            position_view=position_view,
            exclusive=exclusive,
            capital=capital,
            max_position=s.risk.max_position,
            max_notional=notional_cap(settings, s, equity, lambda: Decimal(capital.free(s.name))),
            paused=pause.view(s.name) if pause is not None else None,
            decision_flags=flags + ((pause.flag(s.name),) if pause is not None else ()),
            fee_rates=fee_rates,
        )

    return make


def ledger_position(positions: Any) -> Callable[[str], Decimal | None]:
    """A context's position_view: the PositionManager's expected (ledger) position, signed contracts."""

    def view(instId: str) -> Decimal | None:
        sz: Decimal | None = positions.expected(instId).sz
        return sz

    return view


FEE_TIER_REFRESH_MS = 60_000  # the pre-flight re-reads the tier at start and on `athena preflight`


def fee_view(redis: Any, keys: Any, settings: Settings, clock: Clock) -> Callable[[str], FeeRates | None]:
    """A context's fee_rates: the account's tier as the last pre-flight stored it (GET /account/trade-fee,
    OKX's sign flipped to a cost), re-read at most once a minute; settings.fees while there is none."""
    from athena.ops.preflight import load_trade_fee

    fallback = FeeRates(settings.fees.maker, settings.fees.taker, "config")
    cache: dict[str, Any] = {"at": None, "rates": fallback}

    def view(instId: str) -> FeeRates | None:
        now = clock.now_ms()
        if cache["at"] is None or now - cache["at"] >= FEE_TIER_REFRESH_MS:
            cache["at"] = now
            try:
                tier = load_trade_fee(redis, keys)
            except Exception:  # Redis hiccup: keep what we had
                tier = None
            if tier is not None:
                settle = instId.split("-")[1] if instId.count("-") >= 2 else "USDT"
                maker, taker = tier.rates(settle)
                if maker is not None and taker is not None:
                    cache["rates"] = FeeRates(-maker, -taker, "exchange")
        rates: FeeRates = cache["rates"]
        return rates

    return view


def redis_locks(redis: Any, keys: Any) -> LockFactory:
    """Production close locks: Redis SET NX PX keys under keys.lock(name) (rule 6, docs/DESIGN_RULES.md)."""
    from athena.state.locks import TtlLock

    def make(name: str, ttl_ms: int) -> TtlLock:
        return TtlLock(redis, keys.lock(name), ttl_ms)

    return make
