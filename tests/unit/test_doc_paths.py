"""The docs name only what exists (repo paths, modules, `athena` commands and their flags, make
targets), and README's Layout and Libraries tables name every part and every dependency.

A trader follows the README and docs/ literally; a path moved by a refactor, a command renamed or a flag
dropped must fail here, not on their machine. No network, no subprocess: the commands' flags come from
their own argparse help, in process (~1 s, mostly `athena sim`'s imports)."""

from __future__ import annotations

import contextlib
import io
import re
import tomllib
from functools import cache
from pathlib import Path

import pytest

from athena.cli import COMMANDS, _resolve

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "athena" / "sim" / "README.md",
    ROOT / "bench" / "README.md",
]
DOC_IDS = [str(p.relative_to(ROOT)) for p in DOCS]

# A repo path starts with one of the repo's top-level folders; `<time>`, `$ATHENA_ENV`, `*` or `...` in
# it make it a pattern, not a path. Paths relative to a package (`okx/parse.py`) are not checked: the
# user's own `strategies/` folder would read as `athena/strategies/`.
TOP_DIRS = ("athena", "bench", "config", "deploy", "docs", "tests", "tools", "workers")
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(TOP_DIRS) + r")/[\w./<>$*{}-]*)")
PATTERN_CHARS = re.compile(r"[<>$*{}]|\.\.\.")
# Named by the docs but never in the repo: each machine's own layer of config (git-ignored).
NOT_IN_REPO = {"config/local.json"}

# `athena.process.launch.Stack`: the longest prefix that is a module, then a name that module defines.
DOTTED = re.compile(r"(?<![\w./-])((?:athena|workers|tests|bench)(?:\.\w+)+)")
# `athena worker: ...` is how a worker's refusal starts, not a command.
COMMAND = re.compile(r"(?<![\w.-])athena ([a-z][\w-]*+)(?!:)((?:(?!athena |#|;).)*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`]+)`")


def _text(doc: Path) -> str:
    return doc.read_text(encoding="utf-8")


def _code(doc: Path) -> list[str]:
    """Every fenced block (continuation lines joined) and every inline code span of the doc."""
    text = _text(doc)
    blocks = [m.group(1).replace("\\\n", " ") for m in FENCE.finditer(text)]
    return blocks + [m.group(1).replace("\n", " ") for m in INLINE.finditer(FENCE.sub("", text))]


def _module_file(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _task_names() -> str:
    return (ROOT / "athena" / "queues.py").read_text(encoding="utf-8")


@cache
def _flags(command: str) -> frozenset[str]:
    out = io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.suppress(SystemExit),
    ):
        _resolve(COMMANDS[command][0])(["--help"])
    return frozenset(FLAG.findall(out.getvalue()))


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_every_repo_path_exists(doc: Path) -> None:
    missing = []
    for n, line in enumerate(_text(doc).splitlines(), 1):
        for m in PATH.finditer(line):
            path = m.group(1).rstrip(".")
            if PATTERN_CHARS.search(path) or path in NOT_IN_REPO:
                continue
            if not (ROOT / path).exists():
                missing.append(f"line {n}: {path}")
    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_every_module_and_name_exists(doc: Path) -> None:
    wrong = []
    for dotted in sorted(set(DOTTED.findall(_text(doc)))):
        if f'"{dotted}"' in _task_names():  # a Celery task's name (athena.run_trial), not a module
            continue
        parts = dotted.split(".")
        k = len(parts)
        while k and _module_file(parts[:k]) is None:
            k -= 1
        module = _module_file(parts[:k]) if k else None
        if module is None:
            wrong.append(f"{dotted}: no such module")
        elif k < len(parts) and not re.search(rf"\b{parts[k]}\b", module.read_text(encoding="utf-8")):
            wrong.append(f"{dotted}: {'.'.join(parts[:k])} has no {parts[k]!r}")
    assert not wrong, f"{doc.relative_to(ROOT)} names modules or names that do not exist: {wrong}"


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_every_athena_command_and_flag_exists(doc: Path) -> None:
    wrong = []
    for code in _code(doc):
        for m in COMMAND.finditer(code):
            command, args = m.group(1), m.group(2)
            if command not in COMMANDS:
                wrong.append(f"athena {command}: no such command")
                continue
            wrong += [
                f"athena {command} {f}: no such flag" for f in FLAG.findall(args) if f not in _flags(command)
            ]
    assert not wrong, f"{doc.relative_to(ROOT)}: {wrong}"


def _readme_section(title: str) -> str:
    text = _text(ROOT / "README.md")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_layout_table_names_every_part_once() -> None:
    rows = [line for line in _readme_section("Layout").splitlines() if line.startswith("| `")]
    named = [p for row in rows for p in re.findall(r"`([^`]+)`", row.split("|")[1])]
    parts = [f"athena/{p.name}/" for p in (ROOT / "athena").iterdir() if (p / "__init__.py").is_file()]
    parts += [f"athena/{p.name}" for p in (ROOT / "athena").glob("*.py") if p.name != "__init__.py"]
    parts += [f"{d}/" for d in TOP_DIRS if d != "athena"] + ["beat_schedule.py"]
    missing = sorted(p for p in parts if p not in named)
    assert not missing, f"README's Layout table misses {missing}"
    assert len(named) == len(set(named)), f"README's Layout table names a path twice: {named}"


# The required ones (Celery, Redis, SQLite through SQLModel, with Celery's kombu) and the standard
# tooling need no row; pytest-celery is explained in README's Tests section (installed, not loaded).
NOT_IN_LIBRARIES = {"celery", "kombu", "redis", "sqlmodel", "pytest", "ruff", "mypy", "pytest-celery"}


def test_libraries_table_names_every_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = project["dependencies"] + [
        s for extra in project["optional-dependencies"].values() for s in extra
    ]
    names = {re.split(r"[\[<>=;! ]", s, maxsplit=1)[0].lower().replace("_", "-") for s in specs}
    names = {n for n in names if n != "athena" and not n.startswith("types-")} - NOT_IN_LIBRARIES
    table = _readme_section("Libraries beyond the required ones, and why").lower().replace("_", "-")
    cells = {c.strip() for line in table.splitlines() if line.startswith("|") for c in line.split("|")[1:2]}
    listed = " ".join(cells)
    missing = sorted(n for n in names if not re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", listed))
    assert not missing, f"README's Libraries table misses {missing} (pyproject.toml's dependencies)"


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_every_make_target_exists(doc: Path) -> None:
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    named = {t for code in _code(doc) for t in re.findall(r"(?<![\w.-])make ([a-z][\w-]*)", code)}
    assert named <= targets, (
        f"{doc.relative_to(ROOT)} names make targets that do not exist: {named - targets}"
    )
