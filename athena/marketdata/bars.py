"""OKX candle sizes ("bars"): parsing and alignment, shared by the downloader and the sim."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
HKT = 8 * HOUR  # OKX aligns 6H and longer bars without the "utc" suffix to UTC+8
_UNITS = {"s": 1000, "m": MINUTE, "H": HOUR, "D": DAY, "W": 7 * DAY}


@dataclass(frozen=True, slots=True)
class Bar:
    """A candle size as OKX names it ("1m", "4H", "1Dutc", "1M")."""

    name: str
    ms: int  # fixed length; 0 for calendar months
    months: int = 0
    offset: int = 0  # local-time offset the bar is aligned to (UTC+8 unless "utc")

    def start(self, ts: int) -> int:
        if self.months:
            d = datetime.fromtimestamp((ts + self.offset) / 1000, UTC)
            m0 = (d.year * 12 + d.month - 1) // self.months * self.months
            return calendar.timegm((m0 // 12, m0 % 12 + 1, 1, 0, 0, 0)) * 1000 - self.offset
        if self.ms == _UNITS["W"]:  # weeks start on Monday; 1970-01-01 was a Thursday
            monday = 4 * DAY
            return (ts + self.offset - monday) // self.ms * self.ms + monday - self.offset
        return (ts + self.offset) // self.ms * self.ms - self.offset

    def next(self, start: int) -> int:
        if self.months:
            return self.start(start + 32 * DAY * self.months)
        return start + self.ms


def parse_bar(name: str) -> Bar:
    """OKX's bar names ("1s", "1m", "4H", "1D", "1Dutc", "1W", "1M", ...); ValueError for anything else."""
    utc = name.endswith("utc")
    core = name[:-3] if utc else name
    num, unit = core[:-1], core[-1:]
    if not num.isdigit() or int(num) <= 0 or unit not in (*_UNITS, "M"):
        raise ValueError(f"unknown bar {name!r} (e.g. 1s, 1m, 5m, 1H, 4H, 1D, 1Dutc, 1W, 1M)")
    n = int(num)
    if unit == "M":
        if n not in (1, 3):
            raise ValueError(f"unknown bar {name!r} (e.g. 1s, 1m, 5m, 1H, 4H, 1D, 1Dutc, 1W, 1M)")
        return Bar(name, 0, n, 0 if utc else HKT)
    length = n * _UNITS[unit]
    if utc and length < 6 * HOUR:
        raise ValueError(f"bar {name!r}: OKX has utc variants only from 6H up")
    return Bar(name, length, 0, 0 if utc or length < 6 * HOUR else HKT)
