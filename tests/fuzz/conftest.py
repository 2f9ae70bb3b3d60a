"""Fuzz session summary: how many inputs each target was fed (printed after the test results)."""

from __future__ import annotations

from typing import Any

from tests.fuzz._fuzz import PROFILE, TRIED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TRIED:
        return
    tr = terminalreporter
    tr.write_sep("-", f"fuzz inputs tried (hypothesis profile {PROFILE!r})")
    for target, n in sorted(TRIED.items()):
        tr.write_line(f"{target:<40} {n:>8}")
    tr.write_line(f"{'total':<40} {sum(TRIED.values()):>8}")
