"""On/off switches kept in Redis (the global halt, a strategy's pause), readable one by one or all
at once with the rest of a pre-trade decision's reads.

A switch is a Flag: a key that exists, or a field that exists in a hash. `is_set` asks Redis,
unless the current thread is inside `known(...)`, whose values were read in the same atomic round
trip as the decision's other numbers (CapitalCommander.consistent_view), so an entry decision pays no
round trip of its own for them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Flag:
    key: str
    field: str | None = None  # None: set while the key exists; else while the hash has this field


_scope = threading.local()


@contextmanager
def known(values: Mapping[Flag, bool]) -> Iterator[None]:
    """In this block (this thread), is_set answers these flags from `values`."""
    outer = getattr(_scope, "values", None)
    _scope.values = {**outer, **values} if outer else dict(values)
    try:
        yield
    finally:
        _scope.values = outer


def is_set(redis: Any, flag: Flag) -> bool:
    values: dict[Flag, bool] | None = getattr(_scope, "values", None)
    if values is not None:
        known_value = values.get(flag)
        if known_value is not None:
            return known_value
    if flag.field is None:
        return bool(redis.exists(flag.key))
    return bool(redis.hexists(flag.key, flag.field))
