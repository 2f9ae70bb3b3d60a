"""What docker compose would make of docker-compose.yml, without Docker: variable interpolation and a
service's container environment, after the Compose Specification
(https://github.com/compose-spec/compose-spec: interpolation.md, 05-services.md "env_file" and
"environment"), and a build context after Docker's .dockerignore rules (moby/patternmatcher).

Interpolation: `$$` is a literal `$`; `$VAR` and `${VAR}`; `${VAR:-default}` (unset or empty) and
`${VAR-default}` (unset); `${VAR:?error}` / `${VAR?error}` refuse to run; `${VAR:+alt}` / `${VAR+alt}`;
defaults may nest. Values come from the shell's environment, then the project's `.env` file.
A container's environment: its env_file's variables, then its `environment` entries, which win.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ComposeError(ValueError):
    """What `docker compose` would refuse with (a required variable unset, a bad substitution)."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2)
            out.append(_substitute(text[i + 2 : end], env))
            i = end + 1
        else:
            m = _NAME.match(text, i + 1)
            if not m:
                raise ComposeError(f"invalid interpolation format in {text!r}")
            out.append(env.get(m.group(), ""))
            i = m.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ComposeError(f"unclosed ${{ in {text!r}")


def _substitute(expr: str, env: Mapping[str, str]) -> str:
    m = _NAME.match(expr)
    if not m:
        raise ComposeError(f"invalid interpolation format ${{{expr}}}")
    name, rest = m.group(), expr[m.end() :]
    value = env.get(name)
    if not rest:
        return value or ""
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op) :]
            empty_counts = op.startswith(":")
            missing = value is None or (empty_counts and value == "")
            if op.endswith("-"):
                return interpolate(arg, env) if missing else (value or "")
            if op.endswith("?"):
                if missing:
                    raise ComposeError(
                        f"required variable {name} is missing a value: {interpolate(arg, env)}"
                    )
                return value or ""
            return "" if missing else interpolate(arg, env)
    raise ComposeError(f"invalid interpolation format ${{{expr}}}")


def interpolate_all(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_all(x, env) for x in node]
    if isinstance(node, dict):
        return {k: interpolate_all(v, env) for k, v in node.items()}
    return node


def project_env(project_dir: Path, shell: Mapping[str, str], env_file: str = ".env") -> dict[str, str]:
    """The variables interpolation sees: the project's .env file (or `--env-file`'s), overridden by
    the shell's."""
    dotenv = project_dir / env_file
    values = {k: v or "" for k, v in dotenv_values(dotenv).items()} if dotenv.exists() else {}
    return {**values, **shell}


def container_env(service: Mapping[str, Any], project_dir: Path) -> dict[str, str]:
    """The environment compose gives the service's containers (the service already interpolated)."""
    env: dict[str, str] = {}
    files = service.get("env_file") or []
    for entry in [files] if isinstance(files, str | dict) else files:
        path = entry["path"] if isinstance(entry, dict) else entry
        env.update({k: v or "" for k, v in dotenv_values(project_dir / path).items()})
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(e.split("=", 1) if "=" in e else (e, "") for e in environment)
    env.update({k: "" if v is None else str(v) for k, v in environment.items()})
    return env


# -- .dockerignore ----------------------------------------------------------------------------------------
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as moby/patternmatcher compiles it: `**` any number of directories,
    `*` and `?` within one path element, `[...]` classes, anchored at both ends."""
    out = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if i < len(pattern) and pattern[i] == "/":
                i += 1
            out += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch in "[]":
            out += ch
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(f"^{out}$")


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(exclusion?, pattern) in file order; `!` lines re-include."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:].strip() if negate else line
        line = re.sub(r"/+", "/", line).strip("/")  # filepath.Clean's effect on these patterns
        if line.startswith("./"):
            line = line[2:]
        rules.append((not negate, _pattern_regex(line)))
    return rules


def ignored(path: str, rules: Iterable[tuple[bool, re.Pattern[str]]]) -> bool:
    """patternmatcher.MatchesOrParentMatches: the last rule matching the path or one of its parent
    directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    matched = False
    for exclude, rx in rules:
        if exclude == matched:
            continue  # an exclusion cannot change an excluded path, nor an inclusion an included one
        if any(rx.match(c) for c in candidates):
            matched = exclude
    return matched


def build_context(root: Path, dockerignore: str) -> list[str]:
    """Every file `docker build root` sends, as paths relative to root."""
    rules = dockerignore_rules(dockerignore)
    return sorted(
        rel
        for rel in (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink())
        if not ignored(rel, rules)
    )
