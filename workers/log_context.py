"""The order identifiers a task works on, for its log lines (athena.logs: JSON lines carry them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from athena import queues

FIELDS = ("clOrdId", "instId", "strategy")
# tasks whose positional arguments are (instId, clOrdId-or-algoClOrdId, ...)
_POSITIONAL = {queues.CANCEL_ORDER, queues.AMEND_ORDER, queues.CANCEL_STOP}


def task_fields(task: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    if task in _POSITIONAL and len(args) >= 2:
        out["instId"], out["clOrdId"] = str(args[0]), str(args[1])
    for value in (*args, *kwargs.values()):
        if isinstance(value, Mapping):  # an OrderRequest / StopRequest as JSON
            for name in FIELDS:
                if value.get(name):
                    out.setdefault(name, str(value[name]))
            if value.get("algoClOrdId"):
                out.setdefault("clOrdId", str(value.get("entryClOrdId") or value["algoClOrdId"]))
    for name, alias in (
        ("instId", "instId"),
        ("inst_id", "instId"),
        ("clOrdId", "clOrdId"),
        ("strategy", "strategy"),
    ):
        if kwargs.get(name):
            out.setdefault(alias, str(kwargs[name]))
    return out
