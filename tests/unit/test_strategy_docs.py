"""docs/strategies.md works as written: its python blocks run in order in a fresh folder (a block tagged
`file=PATH` is written there instead), and its event reference is what the code generates."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from athena.strategies import eventdoc

DOC = Path(__file__).resolve().parents[2] / "docs" / "strategies.md"
BLOCK = re.compile(r"^```python([^\n]*)\n(.*?)^```$", re.S | re.M)


@pytest.fixture()
def clean_imports() -> Iterator[None]:
    """The guide's strategy folder goes on sys.path and its modules into sys.modules: undone after."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name in ("book_lean", "up_ticks"):
            del sys.modules[name]


def test_the_guides_code_blocks_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_imports: None
) -> None:
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 5, "the guide lost its code blocks"
    monkeypatch.chdir(tmp_path)
    for var in [v for v in os.environ if v.startswith(("ATHENA_", "OKX_"))]:
        monkeypatch.delenv(var)
    namespace: dict[str, object] = {"__name__": "guide"}
    ran = written = 0
    for info, code in blocks:
        m = re.search(r"file=(\S+)", info)
        if m:
            target = tmp_path / m.group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code)
            written += 1
            continue
        exec(compile(code, f"{DOC.name} block {ran + written + 1}", "exec"), namespace)
        ran += 1
    assert written >= 1 and ran >= 4
    assert (tmp_path / "strategies" / "up_ticks.py").exists()  # athena new-strategy wrote it
    assert list((tmp_path / "var").glob("backtest-booklean*")), "the guide's backtest wrote no report"


def test_the_event_reference_is_generated_from_the_code() -> None:
    text = DOC.read_text()
    assert eventdoc.replaced(text) == text, (
        "docs/strategies.md is stale: python -m athena.strategies.eventdoc --write"
    )
    for name in ("Tick", "BookTop", "Trade", "Fill", "OrderEvent", "Position"):
        assert f"### {name} (" in text
    # a field renamed in the code shows up as a difference
    assert "| `fillPx` | `Decimal` |" in eventdoc.section()


def test_the_check_fails_on_a_stale_doc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "strategies.md"
    stale.write_text(DOC.read_text().replace("| `fillSz` |", "| `fill_size` |"))
    assert eventdoc.main(["--check", "--doc", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert eventdoc.main(["--write", "--doc", str(stale)]) == 0
    assert eventdoc.main(["--check", "--doc", str(stale)]) == 0
