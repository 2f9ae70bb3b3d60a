"""The parameter space of a search, from the command line: `NAME=int:LO:HI[:STEP]`,
`NAME=float:LO:HI[:STEP]` or `NAME=choice:A,B,...` (each value a number if it reads as one).

Checked before anything is sent: every NAME must be a parameter of the strategy, and both ends of
every range (every choice) must pass the strategy's own params model, so a trial never fails on a
value the space allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from athena.strategies.base import StrategyParams


class SpaceError(ValueError):
    """A parameter space that cannot be searched: the message names the parameter and what to fix."""


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    kind: str  # int | float | choice
    low: float = 0
    high: float = 0
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def distribution(self) -> Any:
        import optuna

        if self.kind == "int":
            return optuna.distributions.IntDistribution(
                int(self.low), int(self.high), step=int(self.step or 1)
            )
        if self.kind == "float":
            return optuna.distributions.FloatDistribution(self.low, self.high, step=self.step)
        return optuna.distributions.CategoricalDistribution(self.choices)

    def grid(self) -> list[Any]:
        """Every value of a finite dimension (a float needs a step)."""
        if self.kind == "choice":
            return list(self.choices)
        if self.step is None and self.kind == "float":
            raise SpaceError(
                f"{self.name}: a grid needs a step for a float range ({self.name}=float:LO:HI:STEP)"
            )
        lo, hi, step = Decimal(str(self.low)), Decimal(str(self.high)), Decimal(str(self.step or 1))
        n = int((hi - lo) / step) + 1
        values = [lo + i * step for i in range(n)]
        return [int(v) for v in values] if self.kind == "int" else [float(v) for v in values]

    def ends(self) -> list[Any]:
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]


def _number(text: str, name: str) -> float:
    try:
        return float(Decimal(text))
    except (InvalidOperation, ValueError):
        raise SpaceError(f"{name}: {text!r} is not a number") from None


def _choice(text: str) -> Any:
    try:
        d = Decimal(text)
    except InvalidOperation:
        return text
    return int(d) if d == d.to_integral_value() and "." not in text else float(d)


def parse_dimension(spec: str) -> Dimension:
    name, eq, rest = spec.partition("=")
    name = name.strip()
    kind, _, args = rest.partition(":")
    if not eq or not name or kind not in ("int", "float", "choice") or not args:
        raise SpaceError(
            f"--param {spec!r} does not read as NAME=int:LO:HI[:STEP], NAME=float:LO:HI[:STEP] "
            f"or NAME=choice:A,B,..."
        )
    if kind == "choice":
        choices = tuple(_choice(c.strip()) for c in args.split(",") if c.strip())
        if not choices:
            raise SpaceError(f"{name}: choice needs at least one value")
        return Dimension(name, kind, choices=choices)
    parts = args.split(":")
    if len(parts) not in (2, 3):
        raise SpaceError(f"{name}: a range is {kind}:LO:HI or {kind}:LO:HI:STEP")
    low, high = (_number(p, name) for p in parts[:2])
    step = _number(parts[2], name) if len(parts) == 3 else None
    if kind == "int" and any(v != int(v) for v in (low, high, step or 1)):
        raise SpaceError(f"{name}: an int range takes whole numbers")
    if not low < high:
        raise SpaceError(f"{name}: LO ({parts[0]}) must be below HI ({parts[1]})")
    if step is not None and not 0 < step <= high - low:
        raise SpaceError(f"{name}: STEP must be above 0 and at most HI-LO")
    return Dimension(name, kind, low, high, step)


def parse_space(specs: list[str], strategy: str, model: type[StrategyParams]) -> list[Dimension]:
    """The dimensions of `specs`, checked against `strategy`'s params model (SpaceError if not)."""
    if not specs:
        raise SpaceError(
            "no parameter to search: give at least one --param NAME=int:LO:HI (or float:, choice:)"
        )
    dims = [parse_dimension(s) for s in specs]
    known = sorted(model.model_fields)
    seen: set[str] = set()
    for d in dims:
        if d.name in seen:
            raise SpaceError(f"{d.name} is given twice")
        seen.add(d.name)
        if d.name not in model.model_fields:
            raise SpaceError(f"{strategy} has no parameter {d.name!r} (its parameters: {', '.join(known)})")
        for value in d.ends():
            try:
                model.model_validate({d.name: str(value) if isinstance(value, float) else value})
            except ValidationError as exc:
                why = exc.errors()[0]["msg"] if exc.errors() else str(exc)
                raise SpaceError(
                    f"{strategy}'s {d.name} refuses {value!r} ({why}): narrow the range"
                ) from None
    return dims


def grid_size(dims: list[Dimension]) -> int:
    n = 1
    for d in dims:
        n *= len(d.grid())
    return n
