"""Lua scripts run with EVALSHA; loaded once with SCRIPT LOAD and reloaded on NOSCRIPT
(a restarted or flushed Redis forgets its script cache)."""

from __future__ import annotations

from importlib import resources
from typing import Any

from redis import Redis
from redis.exceptions import NoScriptError


class LuaScript:
    __slots__ = ("_sha", "name", "source")

    def __init__(self, source: str, name: str = "") -> None:
        self.source = source
        self.name = name
        self._sha: str | None = None

    @classmethod
    def from_package(cls, filename: str) -> LuaScript:
        return cls(resources.files("athena.state").joinpath(filename).read_text(), filename)

    def _load(self, redis: Redis) -> str:
        sha = redis.script_load(self.source)
        self._sha = sha.decode() if isinstance(sha, bytes) else str(sha)
        return self._sha

    def __call__(self, redis: Redis, keys: list[str], args: list[str | int]) -> Any:
        sha = self._sha or self._load(redis)
        try:
            return redis.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:
            return redis.evalsha(self._load(redis), len(keys), *keys, *args)


def s(value: Any) -> str:
    """A Redis reply (bytes, or str with decode_responses=True) as str."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)
