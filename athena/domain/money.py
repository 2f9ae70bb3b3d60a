"""Decimal parsing and rounding. Money and sizes are Decimal end to end, parsed from OKX strings."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)


class BadNumber(ValueError):
    """A field that must be a number was not one."""


def D(value: str | int | Decimal) -> Decimal:
    """Parse an OKX numeric string (or int/Decimal) into a finite Decimal. Floats are refused."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise BadNumber(f"not a finite number: {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadNumber(f"expected a decimal string, got {type(value).__name__}: {value!r}")
    try:
        d = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise BadNumber(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise BadNumber(f"not a finite number: {value!r}")
    return d


def opt_D(value: object) -> Decimal | None:
    """OKX sends "" (or null) for 'not applicable': that is an absent value, never zero."""
    if value is None or value == "":
        return None
    return D(value)  # type: ignore[arg-type]


def round_to_step(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round value to a multiple of step (tickSz or lotSz), keeping step's exponent."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    units = (value / step).to_integral_value(rounding=rounding)
    return (units * step).quantize(step)


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    return round_to_step(value, step, ROUND_FLOOR)


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    return round_to_step(value, step, ROUND_CEILING)


def truncate_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Toward zero: sizes are never rounded up into more risk than asked for."""
    return round_to_step(value, step, ROUND_DOWN)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return (value % step) == 0


def fmt(value: Decimal) -> str:
    """Decimal to an OKX wire string without exponent notation ("1E+2" -> "100")."""
    if value.is_zero():  # never "-0"
        return "0"
    if value == value.to_integral_value():
        return str(value.quantize(ONE))
    return format(value.normalize(), "f")
