"""Queue and task names: the one place the Celery app, the senders, beat, the CLI, the launcher and
docker-compose take them from.

Every queue carries the account it serves (`orders.<account>`, `stream.<account>`,
`default.<account>`) and is bound to an exchange of its own under that same name, with that name as
its routing key. So deployments of several accounts share one broker without taking each other's
tasks (a worker consumes only its own account's queues), and a message published to some other
exchange or routing key (say Celery's `default`) reaches no queue at all instead of whichever worker
happens to listen. Celery publishes a task to a direct queue on the nameless exchange with the queue
name as routing key, and athena/fastpath/kombu_envelope.py writes the same.

Roles: the orders worker serves `orders` (placement, stops, cancels, flatten, halt: one writer per
account) and `default` (periodic and control jobs); the stream worker's queue is `stream`; the
research worker's is `research` (`athena optimize`'s backtest trials: CPU only, never the exchange,
so any number of research workers on any number of machines may consume it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ORDERS = "orders"
STREAM = "stream"
DEFAULT = "default"
RESEARCH = "research"
ROLES = (ORDERS, STREAM, DEFAULT, RESEARCH)

# -- task names ------------------------------------------------------------------------------------
PING = "athena.ping"
PLACE_ORDER = "athena.place_order"
SUBMIT_STOP_LOSS = "athena.submit_stop_loss"
CANCEL_STOP = "athena.cancel_stop"
CANCEL_ORDER = "athena.cancel_order"
AMEND_ORDER = "athena.amend_order"
FLATTEN = "athena.flatten"
HALT = "athena.halt"
RESUME = "athena.resume"
HEARTBEAT = "athena.heartbeat"
PROTECT_POSITIONS = "athena.protect_positions"
CANCEL_GHOST_ORDERS = "athena.cancel_ghost_orders"
SYNC_POSITIONS = "athena.sync_positions"
RECONCILE = "athena.reconcile"
SNAPSHOT_EQUITY = "athena.snapshot_equity"
CHECK_DRAWDOWN = "athena.check_drawdown"
WATCH_VENUE = "athena.watch_venue"
BOOK_FUNDING = "athena.book_funding"
PRUNE_INDEXES = "athena.prune_indexes"
DAILY_SUMMARY = "athena.daily_summary"
RUN_TRIAL = "athena.run_trial"

# task -> the role of the queue it goes to. Everything that writes to the exchange for an account
# (orders, stops, cancels, the dead-man's switch, halting's cancels) goes through the orders queue,
# the same single writer as placement.
ROUTES: dict[str, str] = {
    PLACE_ORDER: ORDERS,
    SUBMIT_STOP_LOSS: ORDERS,
    CANCEL_STOP: ORDERS,
    CANCEL_ORDER: ORDERS,
    AMEND_ORDER: ORDERS,
    FLATTEN: ORDERS,
    HALT: ORDERS,
    HEARTBEAT: ORDERS,
    PROTECT_POSITIONS: ORDERS,
    CANCEL_GHOST_ORDERS: ORDERS,
    PING: DEFAULT,
    RESUME: DEFAULT,
    SYNC_POSITIONS: DEFAULT,
    RECONCILE: DEFAULT,
    SNAPSHOT_EQUITY: DEFAULT,
    CHECK_DRAWDOWN: DEFAULT,
    WATCH_VENUE: DEFAULT,
    BOOK_FUNDING: DEFAULT,
    PRUNE_INDEXES: DEFAULT,
    DAILY_SUMMARY: DEFAULT,
    RUN_TRIAL: RESEARCH,
}

# The roles each worker serves (its -Q), and how docker-compose / the launcher / the README start it.
# The research worker runs prefork at Celery's default concurrency (one child per CPU): a trial is a
# pure-Python backtest, CPU-bound, so threads would share one GIL.
WORKER_ROLES: dict[str, tuple[str, ...]] = {
    "orders": (ORDERS, DEFAULT),
    "stream": (STREAM,),
    "research": (RESEARCH,),
}
WORKER_APPS = {"orders": "workers.app", "stream": "workers.stream", "research": "workers.research"}
WORKER_POOLS = {"orders": ("threads", 4), "stream": ("solo", 1), "research": ("prefork", 0)}


def queue_name(role: str, account: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown queue role {role!r} (one of {', '.join(ROLES)})")
    if not account or "." in account or any(c.isspace() for c in account):
        raise ValueError(f"account {account!r} cannot name a queue (non-empty, no '.', no spaces)")
    return f"{role}.{account}"


def account_of(queue: str) -> str | None:
    """The account an Athena queue name carries; None for any other name."""
    role, dot, account = queue.partition(".")
    return account if dot and role in ROLES and account else None


@dataclass(frozen=True, slots=True)
class AccountQueues:
    """The queue names of one account."""

    account: str

    def __post_init__(self) -> None:
        queue_name(ORDERS, self.account)  # validates the account

    @property
    def orders(self) -> str:
        return queue_name(ORDERS, self.account)

    @property
    def stream(self) -> str:
        return queue_name(STREAM, self.account)

    @property
    def default(self) -> str:
        return queue_name(DEFAULT, self.account)

    @property
    def research(self) -> str:
        return queue_name(RESEARCH, self.account)

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(queue_name(r, self.account) for r in ROLES)

    def for_task(self, task: str) -> str:
        """The queue task `task` goes to (unknown tasks: the default queue)."""
        return queue_name(ROUTES.get(task, DEFAULT), self.account)

    def for_worker(self, worker: str) -> tuple[str, ...]:
        """The queues a worker ("orders", "stream" or "research") consumes: its -Q."""
        return tuple(queue_name(r, self.account) for r in WORKER_ROLES[worker])

    def routes(self) -> dict[str, dict[str, str]]:
        """Celery's task_routes: every task by name to its queue. Celery sends to a direct queue on
        the nameless exchange with the queue's name as routing key, which needs no binding declared
        yet (beat or the CLI may send before any worker of the account has started)."""
        return {task: {"queue": self.for_task(task)} for task in ROUTES}

    def kombu_queues(self) -> tuple[Any, ...]:
        """Celery's task_queues: each queue on a direct exchange of its own."""
        from kombu import Exchange, Queue

        return tuple(Queue(q, Exchange(q, type="direct"), routing_key=q) for q in self.all)

    def node_name(self, worker: str, host: str = "%h") -> str:
        return f"{worker}-{self.account}@{host}"

    def worker_command(
        self, worker: str, app_args: tuple[str, ...] = ("celery",), pool: str = "", concurrency: int = 0
    ) -> list[str]:
        """The command line that starts `worker` ("orders", "stream" or "research") for this account."""
        default_pool, default_concurrency = WORKER_POOLS[worker]
        args = [
            *app_args,
            "-A",
            WORKER_APPS[worker],
            "worker",
            "-Q",
            ",".join(self.for_worker(worker)),
            "-P",
            pool or default_pool,
        ]
        if worker == "orders":
            args += ["-c", str(concurrency or default_concurrency), "--prefetch-multiplier", "1"]
        elif concurrency:
            args += ["-c", str(concurrency)]
        return [*args, "-n", self.node_name(worker)]
