"""Finding the report folders a run wrote (each run makes a new <UTC time>-<label> folder)."""

from __future__ import annotations

from pathlib import Path


def report_folders(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.is_dir())


def report_folder(parent: Path) -> Path:
    """The one report folder under parent."""
    found = report_folders(parent)
    assert len(found) == 1, f"expected one report folder in {parent}, found {[p.name for p in found]}"
    return found[0]
