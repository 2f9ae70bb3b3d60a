"""The test suite's own layout: one fixture per shared thing, one waiting module, no test module imported.

A test module imported by another runs its module-level set-up twice under two names and couples two
files nobody reads together; shared helpers live in helper modules (tests/waiting.py, tests/sim/helpers.py,
tests/integration/oms_harness.py, ...) and shared fixtures in a conftest.py. Read from the source (ast), so
this stays a fraction of a second.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
WAITING = TESTS / "waiting.py"
# The names of tests/waiting.py: a test module that needs a bounded poll imports it from there.
WAIT_NAMES = {"wait_for", "wait_until"}


def _sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _is_test_module(path: Path) -> bool:
    return path.name.startswith("test_") or path.name == "conftest.py"


def _module_file(dotted: str) -> Path | None:
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_files(tree: ast.Module) -> list[tuple[int, Path]]:
    """(line, file) of every module under tests/ that this module imports, including `from pkg import mod`."""
    found: list[tuple[int, Path]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for dotted in targets:
            if dotted == "tests" or dotted.startswith("tests."):
                path = _module_file(dotted)
                if path is not None:
                    found.append((node.lineno, path))
    return found


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    offenders = [
        f"{src.relative_to(ROOT)}:{line} imports {target.relative_to(ROOT)}"
        for src in _sources()
        for line, target in _imported_files(ast.parse(src.read_text(), str(src)))
        if _is_test_module(target) and target != src
    ]
    assert len(_sources()) > 100  # the tree was read
    assert offenders == [], "move what they share into a helper module or a fixture:\n" + "\n".join(offenders)


def _fixture_name(node: ast.AST) -> str | None:
    """The name pytest registers for a @pytest.fixture / @fixture function (name= wins), else None."""
    if not isinstance(node, ast.FunctionDef):
        return None
    for dec in node.decorator_list:
        call = dec if isinstance(dec, ast.Call) else None
        target = call.func if call else dec
        named = (isinstance(target, ast.Attribute) and target.attr == "fixture") or (
            isinstance(target, ast.Name) and target.id == "fixture"
        )
        if named:
            for kw in call.keywords if call else []:
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    return str(kw.value.value)
            return node.name
    return None


def _fixtures() -> dict[str, list[Path]]:
    where: dict[str, list[Path]] = defaultdict(list)
    for src in _sources():
        if _is_test_module(src):
            for node in ast.parse(src.read_text(), str(src)).body:
                name = _fixture_name(node)
                if name:
                    where[name].append(src)
    return where


def test_a_shared_fixture_is_defined_once() -> None:
    """A conftest.py fixture (tests/conftest.py's: the simulator, the Settings and Engine built against it,
    Redis, the Celery worker; a folder's: the okx gateway's rest) is not defined again where it is
    visible, in another conftest or test module of its folder: one thing, one definition, one name."""
    where = _fixtures()
    shared = {(name, f.parent) for name, files in where.items() for f in files if f.name == "conftest.py"}
    assert {
        ("sim", TESTS),
        ("sim_client", TESTS),
        ("sim_settings", TESTS),
        ("sim_engine", TESTS),
        ("redis_url", TESTS),
        ("celery_worker", TESTS),
        ("rest", TESTS / "okx"),
    } <= shared
    shadowed = sorted(
        f"{name} of {(folder / 'conftest.py').relative_to(ROOT)} again in {f.relative_to(ROOT)}"
        for name, folder in shared
        for f in where[name]
        if f != folder / "conftest.py" and folder in f.parents
    )
    assert shadowed == [], "one definition each, in the conftest.py of the folder using it:\n" + "\n".join(
        shadowed
    )


def test_waiting_lives_in_tests_waiting() -> None:
    """A bounded poll is tests/waiting.py's wait_for / wait_until, not a private copy of it."""
    copies = []
    for src in _sources():
        if src == WAITING:
            continue
        for node in ast.walk(ast.parse(src.read_text(), str(src))):
            if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") in WAIT_NAMES:
                copies.append(f"{src.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert copies == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from tests.sim import test_exchange\n", ["__init__.py", "test_exchange.py"]),
        ("import tests.okx.conftest\n", ["conftest.py"]),
        ("from tests.integration.oms_harness import entry\n", ["oms_harness.py"]),
        ("from athena.sim.server import SimServer\n", []),
    ],
)
def test_the_import_check_reads_each_import_form(source: str, expected: list[str]) -> None:
    """The check sees `from pkg import test_mod`, `import pkg.conftest` and helper imports alike."""
    assert [path.name for _, path in _imported_files(ast.parse(source))] == expected
