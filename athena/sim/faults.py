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


RULES = (
    "rest_5xx",
    "rest_timeout",
    "rest_rate_limit",
    "rest_scode",
    "batch_partial",
    "ws_op_timeout",
    "ws_op_error",
)


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
    rest_5xx_code: str = "50001"  # the OKX code of that 503 (50001 unavailable, 50013 busy, 50026 error);
    # several, comma-separated, are drawn at random per fault
    rest_5xx_execute_rate: float = 0.0  # without rest_5xx_execute: the share of those 503s processed anyway
    rest_timeout: Rule = field(default_factory=Rule)
    rest_timeout_hold_s: float = 10.0  # hold the request this long, then still execute it
    rest_rate_limit: Rule = field(default_factory=Rule)
    # a trade POST (place, amend, cancel, algo) answered HTTP 200, code "1", each item carrying this sCode
    rest_scode: Rule = field(default_factory=Rule)
    rest_scode_code: str = "51149"  # 51149 "Order timed out": OKX may or may not have placed it
    rest_scode_execute: bool = False  # process the request first (the order exists), then answer the code
    # a batch POST (batch-orders, cancel-batch-orders, amend-batch-orders, cancel-algos): some of its items
    # (each with probability 1/2, at least one) are answered with one of these sCodes and NOT processed, the
    # others are; the envelope's code is then "2" (OKX's partial success) or "1" (all failed)
    batch_partial: Rule = field(default_factory=Rule)
    batch_partial_code: str = "50013,51149"
    # WebSocket trade ops (order, cancel-order, amend-order and their batches on /private). A rule's path is
    # the op's REST twin (`op: order` -> /api/v5/trade/order), so one path prefix can aim at both transports.
    ws_op_timeout: Rule = field(default_factory=Rule)  # the op's reply is never sent ...
    ws_op_timeout_execute: bool = True  # ... after the op was processed (False: not processed either)
    ws_op_error: Rule = field(default_factory=Rule)  # the op answered with this code and empty data ...
    ws_op_error_code: str = "51149"  # (comma-separated: one drawn per fault)
    ws_op_error_execute: bool = False  # ... after it was processed anyway
    # REST down: until then every REST request is answered by a "load balancer" (HTTP 503, not JSON,
    # nothing processed); set by {"rest_down_s": N}
    rest_down_until: float = 0.0
    # WebSocket down: until then new connections are refused (HTTP 503) and open ones were dropped when it
    # was set; set by {"ws_down_s": N}
    ws_down_until: float = 0.0
    reject_orders: int = 0  # the next N placements are rejected ...
    reject_code: str = "51008"  # ... with this sCode
    rng: random.Random = field(default_factory=lambda: random.Random(7), repr=False)
    fired: Counter[str] = field(default_factory=Counter)  # faults injected so far, by kind (chaos figures)

    def update(self, spec: dict[str, Any]) -> None:
        """Apply an admin JSON spec, e.g. {"stall_s": 3, "rest_timeout": {"count": 1}, "reject_orders": 2}."""
        names = {f.name for f in fields(self)} - {
            "rng",
            "stall_until",
            "fired",
            "rest_down_until",
            "ws_down_until",
        }
        for k, v in spec.items():
            if k == "stall_s":
                self.stall_until = time.monotonic() + float(v)
                self.fired["stall"] += 1
            elif k in ("rest_down_s", "ws_down_s"):
                setattr(self, k[:-2] + "_until", time.monotonic() + float(v))
                if float(v) > 0:
                    self.fired[k[:-2]] += 1
            elif k in RULES:
                setattr(self, k, Rule(**v) if isinstance(v, dict) else Rule(count=int(v)))
            elif k in names:
                cur = getattr(self, k)
                setattr(self, k, type(cur)(v))
            else:
                raise KeyError(k)

    def draw_code(self, codes: str) -> str:
        """One of the comma-separated codes, at random."""
        choices = [c.strip() for c in codes.split(",") if c.strip()]
        return self.rng.choice(choices) if len(choices) > 1 else choices[0]

    def rest_down(self) -> bool:
        return time.monotonic() < self.rest_down_until

    def ws_down(self) -> bool:
        return time.monotonic() < self.ws_down_until

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "rng":
                continue
            v = getattr(self, f.name)
            out[f.name] = (
                v.__dict__.copy() if isinstance(v, Rule) else dict(v) if isinstance(v, Counter) else v
            )
        now = time.monotonic()
        out["stall_s_left"] = max(0.0, self.stall_until - now)
        out["rest_down_s_left"] = max(0.0, self.rest_down_until - now)
        out["ws_down_s_left"] = max(0.0, self.ws_down_until - now)
        return out
