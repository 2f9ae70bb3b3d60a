"""AlgoStore: the exchange-side stops (OKX conditional algo orders) keyed by algoClOrdId."""

from __future__ import annotations

from redis import Redis

from athena.domain.enums import AlgoState
from athena.domain.orders import AlgoOrder
from athena.state.keys import Keys
from athena.state.orders import DEFAULT_RETENTION_S
from athena.state.records import algo_from_hash, algo_to_hash, decode
from athena.state.scripts import LuaScript, s

_UPDATE = LuaScript.from_package("algo_update.lua")


class AlgoStore:
    def __init__(self, redis: Redis, keys: Keys, retention_s: float = DEFAULT_RETENTION_S) -> None:
        self.redis = redis
        self.keys = keys
        self.retention_ms = max(0, int(retention_s * 1000))  # finished stops leave Redis after this

    def _run(self, algoClOrdId: str, state: AlgoState, may_create: bool, fields: dict[str, str]) -> bool:
        k = self.keys
        flat: list[str] = []
        for field, value in fields.items():
            flat += [field, value]
        working = "1" if state.is_working else "0"
        keys = [k.algo(algoClOrdId), k.working_algos, k.algo_id_index]
        return bool(int(_UPDATE(self.redis, keys, [algoClOrdId, working, "1" if may_create else "0", self.retention_ms, *flat])))

    def record(self, algo: AlgoOrder) -> bool:
        """Insert or refresh a stop (placed, amended, or seen on the exchange).
        False when the stop is already final (effective/canceled/failed): it is never revived."""
        return self._run(algo.algoClOrdId, algo.state, True, algo_to_hash(algo))

    def set_state(self, algoClOrdId: str, state: AlgoState, algoId: str | None = None, uTime: int = 0) -> bool:
        """Move a known stop to `state`. False if unknown or already final."""
        fields = {"state": str(state), "algoId": algoId or ""}
        if uTime:
            fields["uTime"] = str(uTime)
        return self._run(algoClOrdId, state, False, fields)

    def get(self, algoClOrdId: str) -> AlgoOrder | None:
        raw = self.redis.hgetall(self.keys.algo(algoClOrdId))
        return algo_from_hash(decode(raw)) if raw else None

    def by_algo_id(self, algoId: str) -> AlgoOrder | None:
        cl = self.redis.hget(self.keys.algo_id_index, algoId)
        return self.get(s(cl)) if cl else None

    def working(self, instId: str | None = None) -> list[AlgoOrder]:
        ids = sorted(s(x) for x in self.redis.smembers(self.keys.working_algos))
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for cl in ids:
            pipe.hgetall(self.keys.algo(cl))
        out = [algo_from_hash(decode(raw)) for raw in pipe.execute() if raw]
        return [a for a in out if instId is None or a.instId == instId]
