#!/usr/bin/env bash
# Make the venv NautilusTrader runs in (a conformance client of the simulator; it needs Python >= 3.12,
# newer than the project's own). Usage: nautilus_venv.sh [VENV_DIR]   (default .venv-nautilus)
#
# The interpreter is looked up, never a machine path: pyenv's versions (pyenv root), then python3.12+
# on PATH, then `uv` (an installed Python, else `uv python install 3.12`). With none of them this prints
# a loud warning and exits 0 without a venv: tests/conformance/test_nautilus.py then skips and says why.
# A venv stamped with the pinned version is left alone, so running this again is quick.
set -euo pipefail

NAUTILUS_VERSION="1.231.0"
VENV="${1:-.venv-nautilus}"
STAMP="$VENV/.installed"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$NAUTILUS_VERSION" ] && [ -x "$VENV/bin/python" ]; then
    exit 0
fi

usable() {  # a Python >= 3.12 that really runs (a pyenv shim for an unselected version does not)
    [ -n "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
    local p root
    # pyenv's root from pyenv itself, else $PYENV_ROOT, else pyenv's default (for a PATH without pyenv)
    root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
    for p in "$root"/versions/3.12*/bin/python3 "$root"/versions/3.1[3-9]*/bin/python3; do
        if usable "$p"; then echo "$p"; return 0; fi
    done
    for p in python3.12 python3.13 python3.14 python3; do
        p="$(command -v "$p" 2>/dev/null || true)"
        if usable "$p"; then echo "$p"; return 0; fi
    done
    if command -v uv >/dev/null 2>&1; then
        p="$(uv python find '>=3.12' 2>/dev/null || true)"
        if ! usable "$p"; then
            uv python install 3.12 >&2 || true
            p="$(uv python find 3.12 2>/dev/null || true)"
        fi
        if usable "$p"; then echo "$p"; return 0; fi
    fi
    return 1
}

if ! PY="$(find_python)"; then
    {
        echo "################################################################################"
        echo "## WARNING: no Python >= 3.12 found (looked in pyenv, on PATH and via uv)."
        echo "## NautilusTrader needs one: the Nautilus conformance test will be SKIPPED."
        echo "## Install one (e.g. pyenv install 3.12) and run make test again."
        echo "################################################################################"
    } >&2
    exit 0
fi

echo "nautilus venv: $VENV with $("$PY" -V 2>&1) and nautilus_trader==$NAUTILUS_VERSION" >&2
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "nautilus_trader==$NAUTILUS_VERSION"
echo "$NAUTILUS_VERSION" > "$STAMP"
