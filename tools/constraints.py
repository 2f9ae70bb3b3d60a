"""Writes constraints.txt: the exact versions installed in this venv of Athena's runtime dependencies
(pyproject's `dependencies` and the `flower` extra the image installs) and everything they pull in.

`make install` and the Dockerfile install with `-c constraints.txt`, so a clean clone gets the versions
the tests ran against. After an upgrade: `make constraints` in a venv whose tests pass, and commit.

    .venv/bin/python tools/constraints.py > constraints.txt
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, distribution

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def closure(roots: list[tuple[str, set[str]]]) -> dict[str, str]:
    """{distribution name: installed version} of the roots (name, extras) and their requirements."""
    env = default_environment()
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name, extras = todo.pop()
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        key = canonicalize_name(dist.metadata["Name"])
        first = key not in seen
        seen[key] = dist.version
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is not None and not any(
                req.marker.evaluate({**env, "extra": e}) for e in (extras or {""})
            ):
                continue
            if first or req.marker is not None:
                todo.append((req.name, set(req.extras)))
    return seen


def main() -> None:
    env = {**default_environment(), "extra": "flower"}  # the image's extra; test/dev tools are not pinned
    reqs = [Requirement(r) for r in distribution("athena").requires or []]
    roots = [(r.name, set(r.extras)) for r in reqs if r.marker is None or r.marker.evaluate(env)]
    pins = closure(roots)
    pins.pop("athena", None)
    sys.stdout.write(
        "# Runtime dependencies as installed and tested (tools/constraints.py writes this file).\n"
    )
    sys.stdout.writelines(f"{name}=={v}\n" for name, v in sorted(pins.items()))


if __name__ == "__main__":
    main()
