"""athena/fastpath: each fast path is pinned to the library versions it was checked against, can be
switched off by environment, and the runtime libraries they read are bounded in pyproject.toml and
pinned in constraints.txt."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from athena.fastpath import FASTPATHS, enabled, untested

ROOT = Path(__file__).resolve().parents[2]
BOUNDED = ("celery", "kombu", "redis", "websocket-client", "requests")


@pytest.fixture(autouse=True)
def _no_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATHENA_FASTPATHS", raising=False)
    for p in FASTPATHS.values():
        monkeypatch.delenv(p.env, raising=False)


def test_the_installed_libraries_are_the_versions_the_fast_paths_were_checked_against() -> None:
    """Fails after an upgrade: re-check the fast path it names (its `check`), widen its `tested` in
    athena/fastpath/__init__.py, or turn it off with its switch until then."""
    assert untested() == [], "\n".join(untested())


def test_an_untested_version_names_the_path_what_to_check_and_the_switch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("athena.fastpath.version", lambda lib: "9.1.0" if lib == "kombu" else version(lib))
    out = untested()
    assert len(out) == 2 and all("kombu 5.7 and 9.1.0 is installed" in line for line in out)
    assert "ATHENA_FASTPATH_KOMBU_ENVELOPE=off" in out[0] and "TRANSPORT_ALIASES" in out[1]


def test_each_module_names_its_switch() -> None:
    for p in FASTPATHS.values():
        assert p.env in (importlib.import_module(p.module).__doc__ or ""), p.name


def test_switches() -> None:
    assert all(enabled(name) for name in FASTPATHS)  # on unless told otherwise


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no"])
def test_one_switch_turns_every_path_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ATHENA_FASTPATHS", value)
    assert not any(enabled(name) for name in FASTPATHS)


def test_a_path_of_its_own_wins_over_the_global_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATHENA_FASTPATHS", "off")
    monkeypatch.setenv("ATHENA_FASTPATH_WS_FRAMES", "on")
    assert [n for n in FASTPATHS if enabled(n)] == ["ws_frames"]
    monkeypatch.delenv("ATHENA_FASTPATHS")
    monkeypatch.setenv("ATHENA_FASTPATH_KOMBU_ENVELOPE", "off")
    assert [n for n in FASTPATHS if not enabled(n)] == ["kombu_envelope"]


def test_a_value_that_is_no_switch_is_an_error_that_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATHENA_FASTPATH_ORDER_DRAFT", "maybe")
    with pytest.raises(
        ValueError, match="ATHENA_FASTPATH_ORDER_DRAFT='maybe' is not a switch: set it to on or off"
    ):
        enabled("order_draft")


def run(code: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_switches_read_at_import_follow_the_environment() -> None:
    """The parser's and the worker's choices are made when the process starts: turned off, the parser
    builds OrderUpdates with the constructor and the worker keeps kombu's own Redis transport."""
    code = (
        "import athena.okx.parse as p, workers.app; from kombu.transport import TRANSPORT_ALIASES as T; "
        "print(p._RETYPE, T['redis'])"
    )
    assert run(code) == "True athena.fastpath.kombu_transport:Transport"
    assert run(code, ATHENA_FASTPATHS="off") == "False kombu.transport.redis:Transport"
    assert run(code, ATHENA_FASTPATH_ORDER_DRAFT="off") == "False athena.fastpath.kombu_transport:Transport"


def test_the_libraries_fast_paths_read_are_bounded_below_their_next_minor() -> None:
    deps = {
        Requirement(d).name.lower(): Requirement(d)
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    for lib in BOUNDED:
        req = deps[lib]
        uppers = [s.version for s in req.specifier if s.operator == "<"]
        assert len(uppers) == 1, f"{lib}: no upper bound in pyproject.toml"
        installed = version(lib)
        major, minor_ = (int(x) for x in installed.split(".")[:2])
        assert uppers[0] == f"{major}.{minor_ + 1}", f"{lib} {installed} installed, bounded <{uppers[0]}"
        assert req.specifier.contains(installed)


def test_constraints_pin_what_is_installed() -> None:
    pins = dict(
        line.split("==")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(BOUNDED) <= set(pins)
    assert {name: version(name) for name in pins} == pins
