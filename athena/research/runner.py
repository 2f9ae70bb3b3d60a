"""Trials as Celery tasks on queue research.<account>: a batch is sent, waited for, and given up
cleanly (athena optimize's TrialRunner; athena/research/cli.py has the command around it).

Every task carries `expires` (the batch's timeout): a worker that takes it later discards it unrun.
Giving up (timeout, Ctrl-C, a failed trial, no research worker left) takes the batch's unstarted
messages back out of the queue (athena.process.control.withdraw: one LREM, atomic against a worker's
BRPOP) and revokes the rest, so nothing the command queued runs after it has stopped waiting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from athena import queues as q
from athena.process.control import (
    EXIT_DOWN,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    ControlExit,
    _fail,
    _release,
    client_app,
    withdraw,
)
from athena.research.search import SearchConfig, TrialCall

POLL_S = 0.05  # a trial takes 0.1 s and more; each poll is a GET per pending trial
WORKER_CHECK_S = 2.0


class CeleryRunner:
    """Sends a batch of trials to queue research.<account> and waits for all of them."""

    def __init__(self, ready: Any, config: SearchConfig, timeout: float) -> None:
        self.ready, self.config, self.timeout = ready, config, timeout
        self.app = client_app(ready.settings)
        self.queue = ready.queues.research
        self.workers: dict[str, int] = {}  # worker node -> trials it ran (shown, never in the result)

    def _send(self, call: TrialCall) -> Any:
        kwargs = {
            "data_spec": self.config.data.to_json(),
            "strategy": self.config.strategy,
            "params": call.params,
            "period": list(call.period),
            "seed": self.config.seed,
        }
        return self.app.send_task(q.RUN_TRIAL, kwargs=kwargs, queue=self.queue, expires=self.timeout)

    def _give_up(self, pending: Sequence[Any]) -> tuple[int, int]:
        """(taken back unrun, maybe running): every pending trial withdrawn from the queue, or revoked."""
        back = 0
        for r in pending:
            if withdraw(self.app, r.id, self.queue):
                back += 1
            try:
                self.app.control.revoke(r.id)  # a worker holding it unstarted discards it
            except Exception:
                pass  # its expiry stops it all the same
        return back, len(pending) - back

    def _alive(self) -> bool:
        from athena.state.workers import WorkerRegistry, identity_of

        return bool(
            research_workers(WorkerRegistry(self.ready.redis), self.queue, identity_of(self.ready.settings))
        )

    def run(self, calls: Sequence[TrialCall], done: Callable[[], None]) -> list[dict[str, Any]]:
        results: list[Any] = []
        out: list[dict[str, Any] | None] = [None] * len(calls)
        deadline = time.monotonic() + self.timeout
        next_check = time.monotonic() + WORKER_CHECK_S
        try:
            for c in calls:  # inside the try: Ctrl-C while sending takes back what was sent
                try:
                    results.append(self._send(c))
                except Exception as exc:
                    self._give_up(results)
                    _fail(
                        f"the trials could not be sent ({type(exc).__name__}: {exc}); the "
                        f"{len(results)} sent "
                        f"were withdrawn. Check Redis.",
                        EXIT_DOWN,
                    )
            while any(o is None for o in out):
                for i, r in enumerate(results):
                    if out[i] is None and r.ready():
                        if r.state == "REVOKED":  # expired in the queue: the --timeout has run out
                            self._give_up_and_fail(results, out, self._late(out))
                        if r.failed():
                            err = r.result
                            self._give_up([x for j, x in enumerate(results) if out[j] is None and j != i])
                            _fail(
                                f"a trial failed on its worker ({type(err).__name__}: {err}) with params "
                                f"{json.dumps(calls[i].params)}; the other pending trials were withdrawn",
                                EXIT_FAILED,
                            )
                        value = r.get(timeout=5)
                        r.forget()  # read once: no need to keep it in the backend for result_expires
                        out[i] = value["metrics"]
                        self.workers[value["worker"]] = self.workers.get(value["worker"], 0) + 1
                        done()
                now = time.monotonic()
                if now > deadline:
                    self._give_up_and_fail(results, out, self._late(out))
                if now > next_check:
                    next_check = now + WORKER_CHECK_S
                    if not self._alive():
                        self._give_up_and_fail(
                            results, out, f"no research worker is running any more on {self.queue}"
                        )
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            back, maybe = self._give_up([r for i, r in enumerate(results) if out[i] is None])
            raise ControlExit(
                f"interrupted; {back} queued trial(s) withdrawn unrun, {maybe} already on a worker revoked",
                EXIT_INTERRUPTED,
            ) from None
        finally:
            for r in results:  # stop listening now: left to AsyncResult.__del__ it printed a traceback
                _release(r)
        return [o for o in out if o is not None]

    def _late(self, out: Sequence[Any]) -> str:
        return (
            f"the research workers did not finish {sum(o is None for o in out)} trial(s) within "
            f"{self.timeout:g} s"
        )

    def _give_up_and_fail(self, results: Sequence[Any], out: Sequence[Any], why: str) -> None:
        back, maybe = self._give_up([r for i, r in enumerate(results) if out[i] is None])
        _fail(
            f"{why}; {back} queued trial(s) were withdrawn unrun and {maybe} revoked (a trial already "
            f"running finishes, its result unused). Check `athena status` and the research workers.",
            EXIT_DOWN,
        )

    def close(self) -> None:
        try:
            self.app.close()
        except Exception:
            pass


def research_workers(registry: Any, queue: str, identity: dict[str, str]) -> list[Any]:
    """The live research workers on `queue`: role research only (an orders worker started without -Q
    also consumes the queue, but it does not know the trial task)."""
    return [e for e in registry.alive(queue, identity) if e.role == "research"]
