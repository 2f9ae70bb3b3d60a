"""JSON-safe dicts <-> domain objects, for Celery arguments and the Redis event stream.

Decimal travels as a string (exact, exponent kept), enums as their OKX value, None as null.
from_json(to_json(x)) == x for every supported type. Parsers are strict: an unknown key or a
float where a Decimal belongs is an error, not a guess.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from athena.domain.money import D
from athena.domain.orders import AlgoOrder, Fill, Order, OrderRequest, OrderUpdate, Position

TYPE_KEY = "_type"
_TYPES: dict[str, type] = {
    c.__name__: c for c in (OrderRequest, OrderUpdate, Order, Fill, AlgoOrder, Position)
}

T = TypeVar("T")


class CodecError(ValueError):
    """A dict that does not describe the expected domain object."""


def to_json(obj: Any) -> Any:
    """A domain object (or a dict/list/scalar holding them) as JSON-safe values, tagged with _type."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {TYPE_KEY: type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = to_json(getattr(obj, f.name))
        return out
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json(v) for v in obj]
    if obj is None or isinstance(obj, str | int | bool):
        return obj
    if isinstance(obj, float):
        raise CodecError(f"float {obj!r} refused: money and sizes are Decimal")
    raise CodecError(f"cannot encode {type(obj).__name__}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            if len(args) < len(typing.get_args(hint)):
                return None
            raise CodecError(f"{where}: null not allowed")
        return _convert(value, args[0], where)
    if value is None:
        raise CodecError(f"{where}: null not allowed")
    try:
        if hint is Decimal:
            if isinstance(value, float | bool):
                raise CodecError(f"{where}: expected a decimal string, got {type(value).__name__}")
            return D(value)
        if isinstance(hint, type) and issubclass(hint, Enum):
            return hint(value)
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            return _build(hint, value, where)
        if hint is bool:
            if not isinstance(value, bool):
                raise CodecError(f"{where}: expected a bool")
            return value
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise CodecError(f"{where}: expected an int")
            return value
        if hint is str:
            if not isinstance(value, str):
                raise CodecError(f"{where}: expected a string")
            return value
        if origin is dict:
            if not isinstance(value, dict):
                raise CodecError(f"{where}: expected an object")
            # dict[str, str] (Position.extra): a float or list inside would not encode again
            kt, vt = (*typing.get_args(hint), Any, Any)[:2]
            return {
                _convert(k, kt, f"{where}.<key>") if kt is not Any else k: _convert(v, vt, f"{where}.{k}")
                if vt is not Any
                else v
                for k, v in value.items()
            }
    except CodecError:
        raise
    except ValueError as exc:
        raise CodecError(f"{where}: {exc}") from None
    raise CodecError(f"{where}: unsupported type {hint!r}")


def _build(cls: type[T], data: Any, where: str = "") -> T:
    name = cls.__name__
    where = where or name
    if not isinstance(data, dict):
        raise CodecError(f"{where}: expected an object, got {type(data).__name__}")
    tag = data.get(TYPE_KEY)
    if tag is not None and tag != name:
        raise CodecError(f"{where}: is a {tag}, expected {name}")
    hints = _hints(cls)  # type: ignore[arg-type]
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields) - {TYPE_KEY}
    if unknown:
        raise CodecError(f"{where}: unknown keys {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for fname in fields:
        if fname in data:
            kwargs[fname] = _convert(data[fname], hints[fname], f"{where}.{fname}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a required field is missing, or __post_init__ refused the values
        raise CodecError(f"{where}: {exc}") from None


def order_request_from_json(data: dict[str, Any]) -> OrderRequest:
    return _build(OrderRequest, data)


def order_update_from_json(data: dict[str, Any]) -> OrderUpdate:
    return _build(OrderUpdate, data)


def order_from_json(data: dict[str, Any]) -> Order:
    return _build(Order, data)


def fill_from_json(data: dict[str, Any]) -> Fill:
    return _build(Fill, data)


def algo_order_from_json(data: dict[str, Any]) -> AlgoOrder:
    return _build(AlgoOrder, data)


def position_from_json(data: dict[str, Any]) -> Position:
    return _build(Position, data)


def from_json(data: dict[str, Any]) -> Any:
    """Any tagged dict produced by to_json back into its domain object."""
    tag = data.get(TYPE_KEY) if isinstance(data, dict) else None
    cls = _TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise CodecError(f"no known {TYPE_KEY} tag: {tag!r}")
    return _build(cls, data)


def decode_as(cls: type[T], data: dict[str, Any]) -> T:
    """Any dataclass (also outside athena.domain, e.g. StopRequest) from its to_json dict."""
    return _build(cls, data)
