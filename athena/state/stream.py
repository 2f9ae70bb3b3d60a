"""EventStream: a Redis Stream carrying JSON events between processes (tasks -> stream worker)."""

from __future__ import annotations

from typing import Any

import orjson
from redis import Redis

from athena.domain.codec import to_json
from athena.state.scripts import s

Event = tuple[str, str, dict[str, Any]]  # (stream id, kind, payload)


class EventStream:
    """publish() appends {kind, data} (MAXLEN ~ trimmed); read() returns events after an id.

    Payload values go through codec.to_json, so domain objects and Decimals may be passed as is;
    Decimals come back as strings (parse them with the codec's *_from_json helpers).
    """

    def __init__(self, redis: Redis, key: str, maxlen: int = 100_000) -> None:
        self.redis = redis
        self.key = key
        self.maxlen = maxlen

    def publish(self, kind: str, payload: dict[str, Any]) -> str:
        data = orjson.dumps(to_json(payload))
        return s(
            self.redis.xadd(self.key, {"kind": kind, "data": data}, maxlen=self.maxlen, approximate=True)
        )

    def read(self, last_id: str = "0-0", block_ms: int | None = None, count: int = 100) -> list[Event]:
        """Events after last_id (use latest_id() to start at the end). block_ms None or 0 = do not wait."""
        if block_ms:
            reply = self.redis.xread({self.key: last_id}, count=count, block=block_ms)
        else:
            reply = self.redis.xread({self.key: last_id}, count=count)
        out: list[Event] = []
        for _key, entries in reply or []:
            for entry_id, fields in entries:
                f = {s(k): v for k, v in fields.items()}
                out.append((s(entry_id), s(f.get("kind")), orjson.loads(f.get("data") or b"{}")))
        return out

    def latest_id(self) -> str:
        """The id of the newest event ("0-0" when empty): read after it to get only new events."""
        last = self.redis.xrevrange(self.key, count=1)
        return s(last[0][0]) if last else "0-0"

    def length(self) -> int:
        return int(self.redis.xlen(self.key))
