"""Fault injection: what the admin API (/sim/faults) and the config can switch on. See README.md."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Rule:
    """Fires for the next `count` matching requests, then with probability `rate`."""

    count: int = 0
    rate: float = 0.0
    path: str = "/api/v5/"  # prefix of the request paths it applies to

    def fire(self, path: str, rng: random.Random) -> bool:
        if not path.startswith(self.path):
            return False
        if self.count > 0:
            self.count -= 1
            return True
        return self.rate > 0 and rng.random() < self.rate

    @property
    def active(self) -> bool:
        return self.count > 0 or self.rate > 0


@dataclass
class Faults:
    # WebSocket
    stall_until: float = 0.0  # monotonic time until which pushes are held back
    push_delay_s: float = 0.0  # every push is delivered this much later
    push_before_ack: bool = False  # REST trade replies wait until the resulting pushes are sent
    duplicate_pushes: float = 0.0  # probability a push is sent twice
    reorder_pushes: float = 0.0  # probability a push swaps places with the next one
    stall_all: bool = False  # a stall also holds acks and pongs (a black-holed connection)
    books_gap: int = 0  # the next N `books` updates are lost (the client sees a seqId gap)
    # REST
    rest_5xx: Rule = field(default_factory=Rule)
    rest_5xx_execute: bool = False  # process the request anyway before answering 5xx
    rest_5xx_code: str = "50001"  # the OKX code of that 503 (50001 unavailable, 50013 busy, 50026 error)
    rest_timeout: Rule = field(default_factory=Rule)
    rest_timeout_hold_s: float = 10.0  # hold the request this long, then still execute it
    rest_rate_limit: Rule = field(default_factory=Rule)
    # a trade POST (place, amend, cancel, algo) answered HTTP 200, code "1", each item carrying this sCode
    rest_scode: Rule = field(default_factory=Rule)
    rest_scode_code: str = "51149"  # 51149 "Order timed out": OKX may or may not have placed it
    rest_scode_execute: bool = False  # process the request first (the order exists), then answer the code
    reject_orders: int = 0  # the next N placements are rejected ...
    reject_code: str = "51008"  # ... with this sCode
    rng: random.Random = field(default_factory=lambda: random.Random(7), repr=False)
    fired: Counter[str] = field(default_factory=Counter)  # faults injected so far, by kind (chaos figures)

    def update(self, spec: dict[str, Any]) -> None:
        """Apply an admin JSON spec, e.g. {"stall_s": 3, "rest_timeout": {"count": 1}, "reject_orders": 2}."""
        names = {f.name for f in fields(self)} - {"rng", "stall_until", "fired"}
        for k, v in spec.items():
            if k == "stall_s":
                self.stall_until = time.monotonic() + float(v)
                self.fired["stall"] += 1
            elif k in ("rest_5xx", "rest_timeout", "rest_rate_limit", "rest_scode"):
                setattr(self, k, Rule(**v) if isinstance(v, dict) else Rule(count=int(v)))
            elif k in names:
                cur = getattr(self, k)
                setattr(self, k, type(cur)(v))
            else:
                raise KeyError(k)

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "rng":
                continue
            v = getattr(self, f.name)
            out[f.name] = v.__dict__.copy() if isinstance(v, Rule) else dict(v) if isinstance(v, Counter) else v
        out["stall_s_left"] = max(0.0, self.stall_until - time.monotonic())
        return out
