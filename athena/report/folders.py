"""Report folders: one per run, named by its UTC start time and what ran, never reused."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

MAX_TRIES = 1000


def label_of(classes: list[str]) -> str:
    """The folder's label from the strategy classes that ran (ScalperV1, or ScalperV1+UpTicks)."""
    names = sorted({re.sub(r"[^A-Za-z0-9_.-]", "", c.rsplit(":", 1)[-1].rsplit(".", 1)[-1]) for c in classes})
    return "+".join(n for n in names if n)[:60] or "run"


def new_run_folder(parent: Path, label: str, now: datetime | None = None) -> Path:
    """Create parent/<YYYYmmdd-HHMMSS>-<label>/ (UTC); a run in the same second gets -2, -3 ...
    mkdir without exist_ok is the claim, so two processes never get the same folder."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{label}"
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, MAX_TRIES + 1):
        folder = parent / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"{parent} already holds {MAX_TRIES} reports named {base}; clean it up")
