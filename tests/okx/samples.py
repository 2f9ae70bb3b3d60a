"""The real OKX payloads the tests read, from tests/data/okx_samples (a copy kept in the repository; its
README names the source). A missing file is a test failure, never a skip: a clone that lacks a sample
must not show green while checking less."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "okx_samples"


def sample_path(name: str) -> Path:
    """The sample's path; raises FileNotFoundError (a failure) when it is not there."""
    p = SAMPLES / name
    if not p.is_file():
        raise FileNotFoundError(f"OKX sample {name} is missing from {SAMPLES}: restore it from git")
    return p


def load(name: str) -> Any:
    return json.loads(sample_path(name).read_text())


def load_jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in sample_path(name).read_text().splitlines() if line.strip()]
