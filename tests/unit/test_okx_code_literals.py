"""OKX's codes are named in one place (athena/okx/errors.py): the trading side catches error classes,
it never compares code strings. A 5-digit OKX code literal ("5xxxx", "6xxxx") anywhere else in
athena/ or workers/ fails here, naming file:line. The simulator (athena/sim) is the exchange side and
keeps its own table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODES_MODULE = ROOT / "athena" / "okx" / "errors.py"
EXCHANGE_SIDE = ROOT / "athena" / "sim"
OKX_CODE = re.compile(r"[56]\d{4}")


def code_literals(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.relative_to(root)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and OKX_CODE.fullmatch(node.value)
    ]


def trading_side_files() -> list[Path]:
    files = [*sorted((ROOT / "athena").rglob("*.py")), *sorted((ROOT / "workers").rglob("*.py"))]
    return [f for f in files if f != CODES_MODULE and EXCHANGE_SIDE not in f.parents]


def test_no_okx_code_literal_outside_the_codes_module() -> None:
    files = trading_side_files()
    assert len(files) > 50 and any(f.name == "placement.py" for f in files)
    found = [hit for f in files for hit in code_literals(f)]
    assert found == [], (
        "OKX code literals outside athena/okx/errors.py (name them there, catch classes):\n"
        + "\n".join(found)
    )


def test_the_scan_sees_a_literal(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text('x = 1\nif code == "51603":\n    pass\nok = "515" + "0"\n')
    assert code_literals(probe, tmp_path) == ["probe.py:2: '51603'"]
    assert code_literals(CODES_MODULE)  # the codes module does hold them
