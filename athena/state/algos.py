"""AlgoStore: the exchange-side stops (OKX conditional algo orders) keyed by algoClOrdId."""

from __future__ import annotations

from redis import Redis

from athena.domain.enums import AlgoState
from athena.domain.orders import AlgoOrder
from athena.state.indexes import prune_index
from athena.state.keys import Keys
from athena.state.records import algo_from_hash, algo_to_hash, decode
from athena.state.retention import ORDER_RETENTION_S
from athena.state.scripts import LuaScript, s

_UPDATE = LuaScript.from_package("algo_update.lua")


class AlgoStore:
    def __init__(self, redis: Redis, keys: Keys, retention_s: float = ORDER_RETENTION_S) -> None:
        self.redis = redis
        self.keys = keys
        self.retention_ms = max(0, int(retention_s * 1000))  # finished stops leave Redis after this

    def _run(
        self,
        algoClOrdId: str,
        state: AlgoState,
        may_create: bool,
        fields: dict[str, str],
        report_of: str = "",
    ) -> bool:
        k = self.keys
        flat: list[str] = []
        for field, value in fields.items():
            flat += [field, value]
        working = "1" if state.is_working else "0"
        live_id = fields.get("liveId") or algoClOrdId
        keys = [k.algo(algoClOrdId), k.working_algos, k.algo_id_index, k.algo_version(live_id)]
        args = [algoClOrdId, working, "1" if may_create else "0", self.retention_ms, report_of, *flat]
        return bool(int(_UPDATE(self.redis, keys, args)))

    def record(self, algo: AlgoOrder, live_id: str | None = None) -> bool:
        """Insert or refresh a stop (placed, amended, or seen on the exchange).
        live_id: the exchange id of the version now working when it is not algo.algoClOrdId (a grown
        stop); reports about any other version are then ignored (apply_report).
        False when the stop is already final (effective/canceled/failed): it is never revived."""
        fields = algo_to_hash(algo)
        if live_id is not None:
            fields["liveId"] = live_id
        return self._run(algo.algoClOrdId, algo.state, True, fields)

    def set_state(
        self, algoClOrdId: str, state: AlgoState, algoId: str | None = None, uTime: int = 0
    ) -> bool:
        """Move a known stop to `state` (whatever version is live). False if unknown or already final."""
        return self._run(algoClOrdId, state, False, _state_fields(state, algoId, uTime))

    def apply_report(self, algo: AlgoOrder) -> bool:
        """What the exchange says of one algo order (a push, a listing): applied to the stop it is the
        live version of; ignored for a superseded version, an unknown stop or a final one."""
        return self.report_state(algo.algoClOrdId, algo.state, algo.algoId, algo.uTime)

    def report_state(
        self, algoClOrdId: str, state: AlgoState, algoId: str | None = None, uTime: int = 0
    ) -> bool:
        """apply_report for a report that names only the version's id and its state (the order a
        triggered stop created, found in the order history)."""
        base = self.redis.get(self.keys.algo_version(algoClOrdId))
        record_id = s(base) if base else algoClOrdId
        fields = _state_fields(state, algoId, uTime)
        return self._run(record_id, state, False, fields, report_of=algoClOrdId)

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

    def prune_index(self) -> int:
        """Drop algoId index entries whose stop has expired; returns how many (athena.prune_indexes)."""
        return prune_index(self.redis, self.keys.algo_id_index, self.keys.algo)


def _state_fields(state: AlgoState, algoId: str | None, uTime: int) -> dict[str, str]:
    fields = {"state": str(state), "algoId": algoId or ""}
    if uTime:
        fields["uTime"] = str(uTime)
    return fields
