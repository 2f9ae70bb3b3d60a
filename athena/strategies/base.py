"""BaseStrategy: the hooks a strategy implements and its validated params.

A strategy holds no I/O and no locks of its own; everything it does to the world goes through its
StrategyContext. Hooks run on the single dispatcher thread (or the backtest loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from athena.domain import Fill, OrderState, Position, Tick

if TYPE_CHECKING:
    from athena.strategies.context import StrategyContext


class StrategyParamError(ValueError):
    """A strategy param is unknown or has the wrong type/value; names the strategy and the key.
    problems: (key, what is wrong) pairs, key relative to the strategy's settings ("params.levels")."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class StrategyParams(BaseModel):
    """Base of every strategy's params model: strict about unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One order's new state as a strategy sees it, whatever the OMS published (Transition/Order/update)."""

    clOrdId: str  # the order's id (what ctx.buy/sell/close returned in Intent.clOrdId)
    instId: str
    state: OrderState  # live, partially_filled, filled, canceled, rejected, ambiguous, ...
    accFillSz: Decimal | None = None  # contracts filled so far
    reason: str = ""  # why it was rejected or cancelled, when known


def parse_params(strategy: str, model: type[StrategyParams], params: dict[str, Any] | None) -> StrategyParams:
    try:
        return model.model_validate(params or {})
    except ValidationError as exc:
        parts, problems = [], []
        for err in exc.errors(include_input=False, include_url=False):
            key = ".".join(str(p) for p in err["loc"]) or "params"
            if err["type"] == "extra_forbidden":
                msg = f"unknown param (known: {', '.join(model.model_fields) or 'none'})"
            else:
                msg = f"{err['msg']} (see {model.__name__})" if err["type"] == "missing" else err["msg"]
            parts.append(f"strategy {strategy!r}: params.{key}: {msg}")
            problems.append((f"params.{key}", msg))
        raise StrategyParamError("; ".join(parts), problems) from None


class BaseStrategy:
    """Subclasses set `Params` and override the hooks they need."""

    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(
        self, name: str, instIds: list[str], params: dict[str, Any] | None, ctx: StrategyContext
    ) -> None:
        if not instIds:
            raise StrategyParamError(f"strategy {name!r}: instIds must not be empty")
        self.name = name
        self.instIds = tuple(instIds)
        self.params = parse_params(name, self.Params, params)
        self.ctx = ctx

    # -- hooks -------------------------------------------------------------------------------
    def on_tick(self, tick: Tick) -> None:
        """Market data for one of self.instIds."""

    def on_order(self, event: OrderEvent) -> None:
        """A state change of one of this strategy's orders."""

    def on_fill(self, fill: Fill) -> None:
        """A fill delta of one of this strategy's orders (exactly once per delta)."""

    def on_position(self, position: Position) -> None:
        """The PositionManager's view of a position in one of self.instIds."""

    def on_stop_failed(self, instId: str, reason: str) -> None:
        """The exchange-side stop protecting this strategy's position could not be placed."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {list(self.instIds)})"
