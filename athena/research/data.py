"""What a trial replays: a data reference a worker can read, never the data itself.

A DataSpec names files (paths every research worker can read: a shared disk, or the same tree on
each machine) or the seeded synthetic market. A worker reads it once per process and keeps the
events (two specs at most), so a search's hundreds of trials parse it once per worker process.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from athena.backtest.feed import MarketEvent


@dataclass(frozen=True, slots=True)
class DataSpec:
    paths: tuple[str, ...] = ()  # empty: the synthetic market
    format: str = "auto"
    instIds: tuple[str, ...] = ()
    tardis_amount: str = "contracts"
    synthetic_seed: int = 7
    synthetic_duration_s: int = 600

    @property
    def synthetic(self) -> bool:
        return not self.paths

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["paths"], d["instIds"] = list(self.paths), list(self.instIds)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DataSpec:
        return cls(paths=tuple(d.get("paths") or ()), format=str(d.get("format", "auto")),
                   instIds=tuple(d.get("instIds") or ()), tardis_amount=str(d.get("tardis_amount", "contracts")),
                   synthetic_seed=int(d.get("synthetic_seed", 7)),
                   synthetic_duration_s=int(d.get("synthetic_duration_s", 600)))

    def describe(self) -> str:
        if self.synthetic:
            return f"the synthetic market (seed {self.synthetic_seed}, {self.synthetic_duration_s} s)"
        return ", ".join(self.paths)


def _read(spec: DataSpec) -> list[MarketEvent]:
    from athena.backtest.cli import load_events

    events, _ = load_events([Path(p) for p in spec.paths] if spec.paths else None, spec.format,
                            ",".join(spec.instIds), spec.tardis_amount, spec.synthetic_seed, spec.synthetic_duration_s)
    return sorted(events, key=lambda e: e.ts)  # stable: same-ts events keep the feed's order


@functools.lru_cache(maxsize=2)
def _cached(key: str) -> tuple[MarketEvent, ...]:
    return tuple(_read(DataSpec.from_json(json.loads(key))))


def events_of(spec: DataSpec) -> Sequence[MarketEvent]:
    """Every event of `spec`, in time order (read once per process)."""
    return _cached(json.dumps(spec.to_json(), sort_keys=True))


def window(events: Sequence[MarketEvent], start_ts: int, end_ts: int) -> list[MarketEvent]:
    """The events with start_ts <= ts < end_ts."""
    import bisect

    lo = bisect.bisect_left(events, start_ts, key=lambda e: e.ts)
    hi = bisect.bisect_left(events, end_ts, key=lambda e: e.ts)
    return list(events[lo:hi])
