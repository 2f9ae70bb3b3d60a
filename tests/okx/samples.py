"""Access to the real OKX payloads in /work/shared/okx/samples (skips when absent)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

SAMPLES = Path(os.environ.get("OKX_SAMPLES_DIR", "/work/shared/okx/samples"))


def load(name: str) -> Any:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"sample {path} not available")
    return json.loads(path.read_text())


def load_jsonl(name: str) -> list[dict[str, Any]]:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"sample {path} not available")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
