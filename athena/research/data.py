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
    fingerprint: str = ""  # of the files the driver read (fingerprint()); a worker checks its own against it

    @property
    def synthetic(self) -> bool:
        return not self.paths

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["paths"], d["instIds"] = list(self.paths), list(self.instIds)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DataSpec:
        return cls(
            paths=tuple(d.get("paths") or ()),
            format=str(d.get("format", "auto")),
            instIds=tuple(d.get("instIds") or ()),
            tardis_amount=str(d.get("tardis_amount", "contracts")),
            synthetic_seed=int(d.get("synthetic_seed", 7)),
            synthetic_duration_s=int(d.get("synthetic_duration_s", 600)),
            fingerprint=str(d.get("fingerprint", "")),
        )

    def describe(self) -> str:
        if self.synthetic:
            return f"the synthetic market (seed {self.synthetic_seed}, {self.synthetic_duration_s} s)"
        return ", ".join(self.paths)


def fingerprint(paths: Sequence[str]) -> str:
    """What the files under `paths` are, in short: each file's path below the given one and its size.
    Cheap (a stat per file), so a worker checks it for every trial: data that grew since it was read
    (a recorder still writing) is read again, and data that differs from the driver's (another copy
    on another machine) fails the trial instead of giving another result under the same seed."""
    import hashlib

    h = hashlib.sha256()
    for given in paths:
        root = Path(given)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for f in files:
            h.update(f"{given}|{f.relative_to(root) if f != root else ''}|{f.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def with_fingerprint(spec: DataSpec) -> DataSpec:
    from dataclasses import replace

    return spec if spec.synthetic else replace(spec, fingerprint=fingerprint(spec.paths))


def check_fingerprint(spec: DataSpec) -> None:
    """ValueError when the files here are not the ones the driver read."""
    if spec.synthetic or not spec.fingerprint:
        return
    try:
        here = fingerprint(spec.paths)
    except OSError as exc:
        raise ValueError(f"the data {spec.describe()} cannot be read on this worker: {exc}") from None
    if here != spec.fingerprint:
        raise ValueError(
            f"the data {spec.describe()} on this worker is not what athena optimize read (other "
            f"files or sizes): give every research worker the same data"
        )


def _read(spec: DataSpec) -> list[MarketEvent]:
    from athena.backtest.cli import load_events

    events, _ = load_events(
        [Path(p) for p in spec.paths] if spec.paths else None,
        spec.format,
        ",".join(spec.instIds),
        spec.tardis_amount,
        spec.synthetic_seed,
        spec.synthetic_duration_s,
    )
    return sorted(events, key=lambda e: e.ts)  # stable: same-ts events keep the feed's order


@functools.lru_cache(maxsize=2)
def _cached(key: str) -> tuple[MarketEvent, ...]:
    return tuple(_read(DataSpec.from_json(json.loads(key))))


def events_of(spec: DataSpec) -> Sequence[MarketEvent]:
    """Every event of `spec`, in time order (read once per process and fingerprint)."""
    check_fingerprint(spec)
    return _cached(json.dumps(spec.to_json(), sort_keys=True))


def window(events: Sequence[MarketEvent], start_ts: int, end_ts: int) -> list[MarketEvent]:
    """The events with start_ts <= ts < end_ts."""
    import bisect

    lo = bisect.bisect_left(events, start_ts, key=lambda e: e.ts)
    hi = bisect.bisect_left(events, end_ts, key=lambda e: e.ts)
    return list(events[lo:hi])
