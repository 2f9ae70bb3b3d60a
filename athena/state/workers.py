"""Which workers consume an account's queues: one Redis hash per queue, one field per worker node,
refreshed by the worker every few seconds (a heartbeat).

It serves two purposes:
- A worker refuses to start on queues that live workers of ANOTHER deployment consume (another
  account, environment, mode or API key under the same queue names: those workers would take our
  tasks and place them with their credentials). The check and the registration are one Lua step, so
  two such workers starting at once cannot both pass.
- `athena status` and the controls' preflight read who is alive in one round trip, without a
  broadcast to every worker on the broker and the second of waiting for replies that it costs.

An entry older than FRESH_MS is a dead worker's (kill -9, a lost host); it neither blocks a start nor
counts as alive.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from athena.state.keys import worker_registry
from athena.state.scripts import LuaScript, s

HEARTBEAT_S = 5.0
FRESH_MS = 15_000
_KEY_TTL_MS = 4 * FRESH_MS  # a hash nobody refreshes disappears

# KEYS: the queues' hashes; ARGV: node, identity, entry, now ms, fresh ms, key ttl ms.
# Returns {} when registered, else {queue hash, node, entry} of the first live foreign worker.
_CLAIM = LuaScript(
    """
for _, key in ipairs(KEYS) do
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    if fields[i] ~= ARGV[1] then
      local ok, entry = pcall(cjson.decode, fields[i + 1])
      if ok and type(entry) == 'table' and entry.identity ~= ARGV[2]
          and tonumber(ARGV[4]) - (tonumber(entry.ts) or 0) < tonumber(ARGV[5]) then
        return {key, fields[i], fields[i + 1]}
      end
    end
  end
end
for _, key in ipairs(KEYS) do
  redis.call('HSET', key, ARGV[1], ARGV[3])
  redis.call('PEXPIRE', key, ARGV[6])
end
return {}
""",
    "worker_claim",
)


def identity_of(settings: Any) -> dict[str, str]:
    """What makes two deployments the same one: environment, account, mode and API key (as a short
    hash; the key itself never leaves the process)."""
    key = settings.credentials()[0]
    fingerprint = hashlib.sha256(f"athena-worker:{key}".encode()).hexdigest()[:12]
    return {"env": settings.env, "account": settings.account, "mode": settings.mode, "key": fingerprint}


def _identity_text(identity: dict[str, str]) -> str:
    return "/".join(identity[k] for k in ("env", "account", "mode", "key"))


@dataclass(frozen=True, slots=True)
class WorkerEntry:
    queue: str
    node: str
    role: str
    identity: str
    env: str
    account: str
    mode: str
    host: str
    pid: int
    ts: int  # ms of the last heartbeat
    started: int  # ms

    @classmethod
    def parse(cls, queue: str, node: str, raw: str) -> WorkerEntry | None:
        try:
            d = json.loads(raw)
            return cls(queue=queue, node=node, role=str(d.get("role", "")), identity=str(d["identity"]),
                       env=str(d.get("env", "")), account=str(d.get("account", "")),
                       mode=str(d.get("mode", "")),
                       host=str(d.get("host", "")), pid=int(d.get("pid", 0)), ts=int(d["ts"]),
                       started=int(d.get("started", 0)))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None

    def age_ms(self, now_ms: int) -> int:
        return max(0, now_ms - self.ts)

    def describe(self) -> str:
        return (
            f"{self.node} (account {self.account}, env {self.env}, mode {self.mode}, on {self.host} pid "
            f"{self.pid})"
        )


class QueueConflict(RuntimeError):
    """Live workers of another deployment consume one of the queues."""

    def __init__(self, queue: str, other: WorkerEntry | None, raw: str) -> None:
        self.queue, self.other = queue, other
        who = other.describe() if other is not None else raw[:200]
        super().__init__(f"queue {queue} is already consumed by worker {who}")


class WorkerRegistry:
    def __init__(self, redis: Any, clock: Callable[[], float] = time.time) -> None:
        self._r = redis
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def register(
        self, queues: Iterable[str], node: str, role: str, identity: dict[str, str], started_ms: int = 0
    ) -> None:
        """Register (or refresh) `node` on every queue; raises QueueConflict, registering nothing,
        when a live worker of another identity is on any of them."""
        queues = list(queues)
        now = self._now_ms()
        ident = _identity_text(identity)
        entry = json.dumps({"identity": ident, **identity, "role": role, "host": socket.gethostname(),
                            "pid": os.getpid(),
                            "ts": now, "started": started_ms or now})  # fmt: skip
        out = _CLAIM(
            self._r, [worker_registry(q) for q in queues], [node, ident, entry, now, FRESH_MS, _KEY_TTL_MS]
        )
        if out:
            key, other_node, raw = s(out[0]), s(out[1]), s(out[2])
            queue = key.removeprefix(worker_registry(""))
            raise QueueConflict(queue, WorkerEntry.parse(queue, other_node, raw), raw)

    def release(self, queues: Iterable[str], node: str) -> None:
        pipe = self._r.pipeline(transaction=False)
        for q in queues:
            pipe.hdel(worker_registry(q), node)
        pipe.execute()

    def entries(self, queues: Iterable[str], include_stale: bool = False) -> list[WorkerEntry]:
        """Every worker registered on these queues (one round trip), freshest first."""
        queues = list(queues)
        pipe = self._r.pipeline(transaction=False)
        for q in queues:
            pipe.hgetall(worker_registry(q))
        now = self._now_ms()
        out: list[WorkerEntry] = []
        for q, fields in zip(queues, pipe.execute(), strict=True):
            for node, raw in fields.items():
                e = WorkerEntry.parse(q, s(node), s(raw))
                if e is not None and (include_stale or e.age_ms(now) < FRESH_MS):
                    out.append(e)
        return sorted(out, key=lambda e: -e.ts)

    def alive(self, queue: str, identity: dict[str, str]) -> list[WorkerEntry]:
        """The live workers of this deployment on `queue`."""
        ident = _identity_text(identity)
        return [e for e in self.entries([queue]) if e.identity == ident]
