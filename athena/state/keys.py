"""The Redis key schema: every key Athena writes is named here, and only here. Every key lives under
`athena:{env}:{account}:` so environments and accounts sharing one Redis can never see each other's state.
The exceptions, shared on purpose, are named at the top: the workers' registry on the queues (which must
see other deployments to refuse them) and the launcher's borrow marker. Celery's queues are named by
athena.queues (`<role>.<account>`).

A family's method called with "" gives its prefix, for a Lua script that appends the member itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Outside every account: what `athena demo` / launch.Stack leaves in a Redis DB it borrowed, so the
# next run knows the Celery queues there are its own.
LAUNCH_BORROWED = "athena:launch:borrowed"


def worker_registry(queue: str) -> str:
    """Hash, outside every account: the workers consuming one Celery queue, node -> identity and
    heartbeat (athena.state.workers), so a worker of another deployment on the same queue is refused."""
    return f"athena:workers:{queue}"


def env_prefix(env: str) -> str:
    """What every key of every account of one environment starts with."""
    return f"athena:{env}:"


@dataclass(frozen=True, slots=True)
class Keys:
    env: str
    account: str
    prefix: str = field(init=False, repr=False, compare=False)  # athena:{env}:{account}:

    def __post_init__(self) -> None:
        for part in (self.env, self.account):
            if not part or ":" in part or any(c.isspace() for c in part):
                raise ValueError(f"key namespace part {part!r} must be non-empty, without ':' or spaces")
        object.__setattr__(self, "prefix", f"{env_prefix(self.env)}{self.account}:")

    # -- orders -----------------------------------------------------------------------------
    def order(self, clOrdId: str) -> str:
        """Hash: one order, keyed by clOrdId (rule 1, docs/DESIGN_RULES.md)."""
        return f"{self.prefix}order:{clOrdId}"

    @property
    def ord_id_index(self) -> str:
        """Hash: ordId -> clOrdId."""
        return f"{self.prefix}ord_id_index"

    @property
    def working_orders(self) -> str:
        """Set: clOrdIds of non-terminal orders."""
        return f"{self.prefix}working_orders"

    @property
    def fill_outbox(self) -> str:
        """Stream: fill/final side effects still to emit, appended atomically by the order Lua
        script and deleted once published + journaled + stop requested (OrderManager.drain)."""
        return f"{self.prefix}outbox"

    def outbox_claim(self, entry_id: str) -> str:
        """String with a TTL: who is emitting one outbox entry right now."""
        return f"{self.prefix}outbox_claim:{entry_id}"

    def placing(self, clOrdId: str) -> str:
        """String: an attempt to place this order began (a retry queries the exchange before sending)."""
        return f"{self.prefix}kv:placing:{clOrdId}"

    def intent_seq(self, strategy: str, instId: str) -> str:
        """Counter: the last block of decision sequence numbers a strategy took on an instrument."""
        return f"{self.prefix}counter:intent:{strategy}:{instId}"

    def resends(self, clOrdId: str) -> str:
        """Counter: how often an ambiguous order was sent again."""
        return f"{self.prefix}counter:resends:{clOrdId}"

    # -- exchange-side stops ----------------------------------------------------------------
    def algo(self, algoClOrdId: str) -> str:
        """Hash: one exchange-side stop, keyed by algoClOrdId."""
        return f"{self.prefix}algo:{algoClOrdId}"

    @property
    def algo_id_index(self) -> str:
        """Hash: algoId -> algoClOrdId."""
        return f"{self.prefix}algo_id_index"

    def algo_version(self, algoClOrdId: str) -> str:
        """String: a later version's algoClOrdId -> its entry's base algoClOrdId (the record's key)."""
        return f"{self.prefix}algo_version:{algoClOrdId}"

    @property
    def working_algos(self) -> str:
        """Set: algoClOrdIds of working stops."""
        return f"{self.prefix}working_algos"

    def stop_version(self, algoClOrdId: str) -> str:
        """String: the current version number of an entry's stop (athena.ops.stops.versioned_id)."""
        return f"{self.prefix}kv:stopver:{algoClOrdId}"

    def stop_owner(self, algoClOrdId: str) -> str:
        """Hash: the strategy and entry a stop protects (who a triggered stop's fill belongs to)."""
        return f"{self.prefix}kv:stopowner:{algoClOrdId}"

    # -- coordination -----------------------------------------------------------------------
    def lock(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    def lease(self, name: str) -> str:
        return f"{self.prefix}lease:{name}"

    def fence(self, name: str) -> str:
        return f"{self.prefix}fence:{name}"

    def breaker(self, name: str) -> str:
        return f"{self.prefix}breaker:{name}"

    def backoff(self, name: str) -> str:
        """Hash: a periodic job's backoff (consecutive failures, when the next attempt is due)."""
        return f"{self.prefix}backoff:{name}"

    def alert_gate(self, key: str) -> str:
        """Counter (expires with its window): alerts sent under one alert key by every process of the
        account (athena.alerts.notifier.SharedGate)."""
        return f"{self.prefix}alertgate:{key}"

    def order_rate(self, strategy: str) -> str:
        """Sorted set: one strategy's orders in the last minute (athena.risk.rate)."""
        return f"{self.prefix}counter:orders_per_min:{strategy}"

    @property
    def halt(self) -> str:
        return f"{self.prefix}halt"

    @property
    def halt_history(self) -> str:
        """List: halts and resumes, newest first."""
        return f"{self.prefix}kv:halt_history"

    @property
    def strategy_pause(self) -> str:
        """Hash: paused strategy -> why, who, when."""
        return f"{self.prefix}kv:strategy_pause"

    # -- shared views -----------------------------------------------------------------------
    @property
    def events(self) -> str:
        """Stream: the Redis event stream read by the stream worker."""
        return f"{self.prefix}events"

    @property
    def stream_cursor(self) -> str:
        """String: the last event-stream id the stream worker handled."""
        return f"{self.prefix}kv:stream_reader_cursor"

    @property
    def stream_status(self) -> str:
        """String (JSON, TTL): the stream worker's status snapshot."""
        return f"{self.prefix}kv:stream_status"

    @property
    def heartbeat(self) -> str:
        """String (JSON, TTL): the last re-arming of OKX's cancel-all-after."""
        return f"{self.prefix}kv:heartbeat"

    @property
    def balance(self) -> str:
        """String (JSON, TTL): the last balance the private WebSocket pushed."""
        return f"{self.prefix}kv:balance"

    @property
    def instruments(self) -> str:
        """String (JSON, TTL): the exchange's instrument list."""
        return f"{self.prefix}kv:instruments"

    @property
    def last_reconcile(self) -> str:
        """String (JSON, TTL): the latest reconcile's time and outcome, for `athena status`."""
        return f"{self.prefix}kv:last_reconcile"

    # -- the pre-flight (athena.ops.preflight) ----------------------------------------------
    @property
    def preflight_report(self) -> str:
        """String (JSON, TTL): the last pre-flight's checks."""
        return f"{self.prefix}kv:preflight"

    @property
    def trade_fee(self) -> str:
        """String (JSON): the fee tier the last pre-flight read."""
        return f"{self.prefix}kv:trade_fee"

    # -- funding (athena.ops.funding) -------------------------------------------------------
    @property
    def funding_cursor(self) -> str:
        """String: the last funding billId booked."""
        return f"{self.prefix}kv:funding_cursor"

    @property
    def funding_since(self) -> str:
        """String: epoch ms; funding bills before it are not Athena's (its first booking run)."""
        return f"{self.prefix}kv:funding_since"

    def mark(self, instId: str) -> str:
        return f"{self.prefix}mark:{instId}"

    # -- the shadow ledger (athena.oms.positions) -------------------------------------------
    def ledger(self, instId: str, posSide: str) -> str:
        return f"{self.prefix}ledger:{instId}:{posSide}"

    def ledger_fills(self, instId: str, posSide: str) -> str:
        """Set: the fills one ledger entry has booked (each books once)."""
        return f"{self.prefix}kv:ledger_fills:{instId}:{posSide}"

    @property
    def ledgers(self) -> str:
        """Set: the ledger entries that exist."""
        return f"{self.prefix}kv:ledgers"

    @property
    def exchange_positions(self) -> str:
        """Hash: the exchange's last reported position per instId/posSide."""
        return f"{self.prefix}kv:exchange_positions"

    @property
    def ledger_drift(self) -> str:
        """Hash: differences between the ledger and the exchange still settling."""
        return f"{self.prefix}kv:ledger_drift"

    # -- capital (athena.oms.capital) -------------------------------------------------------
    @property
    def capital(self) -> str:
        """Hash: the account's totals (high-water mark, ...)."""
        return f"{self.prefix}capital"

    def capital_strategy(self, strategy: str) -> str:
        """Hash: one strategy's reserved margin, notional, realised PnL and fees."""
        return f"{self.prefix}capital:s:{strategy}"

    def capital_position(self, ident: str) -> str:
        """Hash: one strategy's position on one instrument and posSide (ident: strategy|instId|posSide)."""
        return f"{self.prefix}capital:pos:{ident}"

    def capital_day(self, day: str) -> str:
        """Hash: one UTC day's net realised PnL, per strategy and in total."""
        return f"{self.prefix}capital:day:{day}"

    def capital_fill(self, fill_key: str) -> str:
        """String: this fill is booked (a relayed copy books nothing)."""
        return f"{self.prefix}capital:fill:{fill_key}"

    def capital_funding(self, billId: str) -> str:
        """String: this funding bill is booked (a repeated or concurrent run books nothing)."""
        return f"{self.prefix}capital:funding:{billId}"

    def reservation(self, clOrdId: str) -> str:
        """Hash: the margin CapitalCommander reserved for one entry (its pre-trade pass, recorded)."""
        return f"{self.prefix}capital:res:{clOrdId}"

    @property
    def capital_open(self) -> str:
        """Set: clOrdIds holding a reservation."""
        return f"{self.prefix}capital:open"

    @property
    def capital_positions(self) -> str:
        """Set: the capital_position idents that exist."""
        return f"{self.prefix}capital:positions"

    @property
    def capital_strategies(self) -> str:
        """Set: strategies capital has booked anything for."""
        return f"{self.prefix}capital:strategies"

    @property
    def capital_errors(self) -> str:
        """Hash: accounting error counts (clamps)."""
        return f"{self.prefix}capital:errors"

    @property
    def capital_clamps(self) -> str:
        """List: the latest clamps, newest first."""
        return f"{self.prefix}capital:clamps"
