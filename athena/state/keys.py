"""The Redis key schema. Every key lives under `athena:{env}:{account}:` so environments and
accounts sharing one Redis can never see each other's state. The exceptions are shared on purpose:
Celery's queues (named by athena.queues, `<role>.<account>`) and the workers' registry on them
(`athena:workers:<queue>`, athena.state.workers), which must see other deployments to refuse them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    env: str
    account: str

    def __post_init__(self) -> None:
        for part in (self.env, self.account):
            if not part or ":" in part or any(c.isspace() for c in part):
                raise ValueError(f"key namespace part {part!r} must be non-empty, without ':' or spaces")

    @property
    def prefix(self) -> str:
        return f"athena:{self.env}:{self.account}:"

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- orders -----------------------------------------------------------------------------
    def order(self, clOrdId: str) -> str:
        """Hash: one order, keyed by clOrdId (DESIGN rule 1)."""
        return self._k("order", clOrdId)

    @property
    def ord_id_index(self) -> str:
        """Hash: ordId -> clOrdId."""
        return self._k("ord_id_index")

    @property
    def working_orders(self) -> str:
        """Set: clOrdIds of non-terminal orders."""
        return self._k("working_orders")

    @property
    def fill_outbox(self) -> str:
        """Stream: fill/final side effects still to emit, appended atomically by the order Lua
        script and deleted once published + journaled + stop requested (OrderManager.drain)."""
        return self._k("outbox")

    def outbox_claim(self, entry_id: str) -> str:
        """String with a TTL: who is emitting one outbox entry right now."""
        return self._k("outbox_claim", entry_id)

    def algo(self, algoClOrdId: str) -> str:
        """Hash: one exchange-side stop, keyed by algoClOrdId."""
        return self._k("algo", algoClOrdId)

    @property
    def algo_id_index(self) -> str:
        """Hash: algoId -> algoClOrdId."""
        return self._k("algo_id_index")

    def algo_version(self, algoClOrdId: str) -> str:
        """String: a later version's algoClOrdId -> its entry's base algoClOrdId (the record's key)."""
        return self._k("algo_version", algoClOrdId)

    @property
    def working_algos(self) -> str:
        """Set: algoClOrdIds of working stops."""
        return self._k("working_algos")

    # -- coordination -----------------------------------------------------------------------
    def lock(self, name: str) -> str:
        return self._k("lock", name)

    def lease(self, name: str) -> str:
        return self._k("lease", name)

    def fence(self, name: str) -> str:
        return self._k("fence", name)

    def counter(self, name: str) -> str:
        return self._k("counter", name)

    def breaker(self, name: str) -> str:
        return self._k("breaker", name)

    def backoff(self, name: str) -> str:
        """Hash: a periodic job's backoff (consecutive failures, when the next attempt is due)."""
        return self._k("backoff", name)

    @property
    def halt(self) -> str:
        return self._k("halt")

    # -- shared views -----------------------------------------------------------------------
    @property
    def events(self) -> str:
        """Stream: the Redis event stream read by the stream worker."""
        return self._k("events")

    def mark(self, instId: str) -> str:
        return self._k("mark", instId)

    def ledger(self, instId: str, posSide: str) -> str:
        return self._k("ledger", instId, posSide)

    @property
    def capital(self) -> str:
        return self._k("capital")

    def reservation(self, clOrdId: str) -> str:
        """Hash: the margin CapitalCommander reserved for one entry (its pre-trade pass, recorded)."""
        return self._k("capital", "res", clOrdId)

    def kv(self, name: str) -> str:
        return self._k("kv", name)
