"""Redis hot state (key schema, Lua transitions, locks, counters, event stream) and the SQLite journal.

The journal (SQLModel) is imported from athena.state.journal on demand, so Redis-only users do
not pay for SQLAlchemy at import time.
"""

from athena.state.algos import AlgoStore
from athena.state.counters import Breaker, RateCounter
from athena.state.keys import Keys
from athena.state.locks import Lease, LockBusy, TtlLock
from athena.state.orders import OrderStore, Transition
from athena.state.stream import EventStream

__all__ = [
    "AlgoStore",
    "Breaker",
    "EventStream",
    "Keys",
    "Lease",
    "LockBusy",
    "OrderStore",
    "RateCounter",
    "Transition",
    "TtlLock",
]
