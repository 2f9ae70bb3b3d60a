"""The research worker: `celery -A workers.research worker -Q research.<account>` runs the trials of
`athena optimize` (athena.research.trial.run_trial), one deterministic backtest per task.

It never talks to the exchange and carries no credentials' work, so any number of them on any
number of machines may consume the queue: each added CPU takes trials off it. Default pool prefork
(one child per CPU: a backtest is CPU-bound Python, threads would share one GIL). It registers in
the worker registry like the others (workers/claim.py), which is how `athena optimize` knows a
research worker is running before it sends anything.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from athena import queues as q
from workers.app import make_app, queue_of

app = make_app(include=[])
# This app knows one task: a message of any other queue taken here would be lost as an unregistered
# task (an order, say). So it consumes research.<account> alone, also when started without -Q, and
# QueueClaim refuses any other -Q (athena_only_queues).
_RESEARCH = queue_of(app, q.RUN_TRIAL)
app.conf.task_queues = tuple(kq for kq in app.conf.task_queues if kq.name == _RESEARCH)
app.conf.task_default_queue = app.conf.task_default_exchange = app.conf.task_default_routing_key = _RESEARCH
app.conf.athena_only_queues = (_RESEARCH,)


@app.task(name=q.RUN_TRIAL, acks_late=True, reject_on_worker_lost=True, shared=False)  # this app only
def run_trial(
    data_spec: dict[str, Any], strategy: str, params: dict[str, Any], period: list[int], seed: int
) -> dict[str, Any]:
    """Metrics of one trial, plus where and how long it ran (which the search keeps out of its result)."""
    from athena.research.trial import run_trial as trial

    t0 = time.perf_counter()
    metrics = trial(data_spec, strategy, params, (period[0], period[1]), seed)
    return {
        "metrics": metrics,
        "worker": f"{run_trial.request.hostname or socket.gethostname()}",
        "seconds": round(time.perf_counter() - t0, 4),
    }


__all__ = ["app"]
