"""Celery tasks: thin wrappers over athena.ops. Every task is idempotent (a redelivered or retried
task never doubles an order: same clOrdId, query before resend), acks_late, and routed by
athena.queues.ROUTES (placement, stops, cancels, flatten and halt on the account's `orders.<account>`
queue, the rest on `default.<account>`); the names are athena.queues' constants. No Celery time limit:
the threads pool does not enforce one, so every blocking call carries its own timeout (workers/app.py)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from celery import Task
from celery.signals import worker_process_shutdown

from athena.alerts import summary as summary_ops
from athena.config import get_settings
from athena.domain import OrderRequest
from athena.domain.codec import decode_as, order_request_from_json
from athena.engine import Account, Engine
from athena.okx.errors import OkxAuthError, OkxError, OkxRejected
from athena.oms.stops import StopRequest
from athena.ops import flatten as flatten_ops
from athena.ops import funding as funding_ops
from athena.ops import halt as halt_ops
from athena.ops import housekeeping, placement
from athena.ops import preflight as preflight_ops
from athena.ops import reconcile as reconcile_ops
from athena.ops import stops as stop_ops
from athena.ops import sync as sync_ops
from athena.ops.errors import BreakerOpen, RetryLater
from athena.wiring import account as build_account
from athena.wiring import orders_engine
from workers.app import app
from workers.sender import CelerySender

log = logging.getLogger(__name__)

_account: Account | None = None
_engine: Engine | None = None
_engine_lock = threading.Lock()


def account() -> Account:
    """This process's account state in Redis: the Engine's once it is built. resume, and a halt with no
    working entry to cancel, need nothing more, so they work while the exchange cannot be reached (the
    Engine loads instruments)."""
    global _account
    with _engine_lock:
        if _account is None:
            _account = build_account(get_settings())
        return _account


def engine() -> Engine:
    """One Engine per worker process, built on first use (after fork)."""
    global _engine
    acct = account()
    with _engine_lock:
        if _engine is None:
            _engine = orders_engine(acct, CelerySender(app))
            try:  # what a crashed predecessor committed but never emitted goes out now
                n = _engine.orders.recover_outbox()
                if n:
                    log.warning("recovered %d fill/final events left by a crashed process", n)
            except Exception:
                log.exception("outbox recovery at start-up failed (reconcile retries it)")
        return _engine


def set_engine(eng: Engine) -> None:
    """Use this Engine for the tasks of this process (an embedding tool or test that builds its own,
    e.g. with an injected clock); the previous one is closed."""
    global _account, _engine
    with _engine_lock:
        _close(_engine, _account, keep=eng)
        _account = _engine = eng


def reset_engine() -> None:
    global _account, _engine
    with _engine_lock:
        _close(_engine, _account)
        _account = _engine = None


def _close(*built: Account | None, keep: Account | None = None) -> None:
    for one in {id(b): b for b in built if b is not None and b is not keep}.values():
        one.close()


@worker_process_shutdown.connect
def _close_engine(**_: Any) -> None:
    reset_engine()


class AthenaTask(Task):  # type: ignore[misc]
    acks_late = True
    reject_on_worker_lost = True
    max_retries = 12


RETRY_MAX_S = 30.0  # the longest wait between two attempts of a task retried after an exchange error


def _retry(task: Task, exc: RetryLater) -> Any:
    raise task.retry(exc=exc, countdown=exc.countdown)


def _retry_after_error(task: Task, exc: OkxError, first_s: float = 0.2) -> Exception:
    """The retry of `task` after an exchange error: first_s, then doubling, at most RETRY_MAX_S."""
    return task.retry(exc=exc, countdown=min(RETRY_MAX_S, first_s * 2**task.request.retries))


@app.task(name="athena.ping")
def ping() -> str:
    """Liveness probe used by tests and `athena status`."""
    return "pong"


@app.task(bind=True, base=AthenaTask, name="athena.place_order")
def place_order(self: Task, req: dict[str, Any]) -> dict[str, Any]:
    request: OrderRequest = order_request_from_json(req)
    try:
        return placement.place(engine(), request).to_dict()
    except RetryLater as exc:
        return _retry(self, exc)


@app.task(bind=True, base=AthenaTask, name="athena.submit_stop_loss")
def submit_stop_loss(self: Task, stop: dict[str, Any]) -> dict[str, Any]:
    request = decode_as(StopRequest, stop)
    try:
        return stop_ops.ensure_stop(engine(), request).to_dict()
    except OkxRejected as exc:
        # A definite refusal (e.g. trigger already crossed): the entry is unprotected. Tell the
        # strategies (ERROR stop_failed) so they close it; protect_positions keeps trying too.
        eng = engine()
        eng.orders._error(
            "stop_failed",
            f"stop {request.algoClOrdId} rejected: {exc}",
            {"clOrdId": request.entryClOrdId, "algoClOrdId": request.algoClOrdId},
        )
        return {"status": "failed", "algoClOrdId": request.algoClOrdId, "detail": str(exc)}
    except OkxAuthError as exc:
        raise exc
    except OkxError as exc:
        raise _retry_after_error(self, exc) from exc


@app.task(bind=True, base=AthenaTask, name="athena.cancel_stop")
def cancel_stop(self: Task, instId: str, algoClOrdId: str) -> dict[str, Any]:
    try:
        return {"cancelled": stop_ops.cancel_stop(engine(), instId, algoClOrdId)}
    except OkxRejected as exc:
        return {"cancelled": [], "detail": str(exc)}
    except OkxError as exc:
        raise _retry_after_error(self, exc, first_s=0.5) from exc


@app.task(bind=True, base=AthenaTask, name="athena.cancel_order")
def cancel_order(self: Task, instId: str, clOrdId: str) -> dict[str, Any]:
    eng = engine()
    try:
        ack = eng.rest.cancel_order(instId, clOrdId=clOrdId)
        return {"clOrdId": clOrdId, "accepted": True, "ordId": getattr(ack, "ordId", None)}
    except OkxRejected as exc:
        # 51400: already filled/cancelled or unknown -> the exchange's word settles our record.
        found = eng.rest.get_order(instId, clOrdId=clOrdId)
        if found is not None:
            eng.orders.on_update(found)
        return {"clOrdId": clOrdId, "accepted": False, "detail": str(exc)}
    except OkxError as exc:
        raise _retry_after_error(self, exc) from exc


@app.task(bind=True, base=AthenaTask, name="athena.amend_order")
def amend_order(
    self: Task, instId: str, clOrdId: str, newSz: str | None = None, newPx: str | None = None
) -> dict[str, Any]:
    try:
        engine().rest.amend_order(
            instId,
            clOrdId=clOrdId,
            newSz=Decimal(newSz) if newSz else None,
            newPx=Decimal(newPx) if newPx else None,
        )
        return {"clOrdId": clOrdId, "accepted": True}
    except OkxRejected as exc:
        return {"clOrdId": clOrdId, "accepted": False, "detail": str(exc)}
    except OkxError as exc:
        raise _retry_after_error(self, exc) from exc


@app.task(bind=True, base=AthenaTask, name="athena.sync_positions")
def sync_positions(self: Task) -> dict[str, Any]:
    """The backoff and the breaker are kept in Redis (athena.ops.sync), so this run only decides
    whether to come back itself: when the next attempt is due before its message expires (beat sends
    it with expires = its interval, and a retry keeps that expiry). Otherwise beat's next run picks
    the job up where Redis says; this one ends quietly."""
    try:
        return sync_ops.sync_positions(engine()).to_dict()
    except RetryLater as exc:
        if _retry_fits(self, exc):
            raise self.retry(exc=exc, countdown=exc.countdown) from exc
        due_in = round(exc.countdown, 3)
        if isinstance(exc, BreakerOpen):
            log.warning("sync_positions paused: %s", exc)
            return {"paused": True, "reason": str(exc), "due_in_s": due_in}
        if isinstance(exc, sync_ops.SyncFailed):
            log.warning("%s; next attempt in %.3f s (beat's run)", exc, exc.countdown)
            return {"failed": True, "reason": str(exc), "due_in_s": due_in}
        return {"skipped": True, "reason": str(exc), "due_in_s": due_in}


RETRY_SLACK_S = 0.2  # a retry must land this much before its message expires (else it is revoked)


def _retry_fits(task: Task, exc: RetryLater) -> bool:
    """Whether `task` should retry itself after `exc`: only to land before its message expires. A
    message without an expiry (sent by hand) retries only its own failed attempt, within one beat
    interval; it does not wait out a pause or a backoff somebody else set."""
    if task.request.retries >= task.max_retries:
        return False
    expires = _expiry(task.request.expires)
    if expires is None:
        return (
            isinstance(exc, sync_ops.SyncFailed)
            and exc.countdown <= engine().settings.schedule.sync_positions
        )
    left = (expires - datetime.now(UTC)).total_seconds()
    return exc.countdown + RETRY_SLACK_S <= left


def _expiry(raw: Any) -> datetime | None:
    if not raw:
        return None
    at = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@app.task(bind=True, base=AthenaTask, name="athena.reconcile")
def reconcile(self: Task) -> dict[str, Any]:
    try:
        return reconcile_ops.reconcile(engine()).to_dict()
    except BreakerOpen as exc:
        return {"paused": True, "reason": str(exc)}


@app.task(bind=True, base=AthenaTask, name="athena.cancel_ghost_orders")
def cancel_ghost_orders(self: Task) -> dict[str, Any]:
    return reconcile_ops.cancel_ghost_orders(engine()).to_dict()


@app.task(bind=True, base=AthenaTask, name="athena.protect_positions")
def protect_positions(self: Task) -> dict[str, Any]:
    return stop_ops.protect_positions(engine()).to_dict()


@app.task(bind=True, base=AthenaTask, name="athena.flatten")
def flatten(self: Task, inst_id: str | None = None, reason: str = "manual flatten") -> dict[str, Any]:
    return flatten_ops.flatten(engine(), inst_id, reason).to_dict()


@app.task(bind=True, base=AthenaTask, name="athena.heartbeat", max_retries=0)
def heartbeat(self: Task) -> dict[str, Any]:
    return housekeeping.heartbeat(engine())


@app.task(bind=True, base=AthenaTask, name="athena.snapshot_equity")
def snapshot_equity(self: Task) -> dict[str, Any]:
    return housekeeping.snapshot_equity(engine())


@app.task(bind=True, base=AthenaTask, name="athena.check_drawdown")
def check_drawdown(self: Task) -> dict[str, Any]:
    return housekeeping.check_drawdown(engine())


@app.task(bind=True, base=AthenaTask, name="athena.prune_indexes")
def prune_indexes(self: Task) -> dict[str, int]:
    return housekeeping.prune_indexes(account())


@app.task(bind=True, base=AthenaTask, name="athena.book_funding", max_retries=0)
def book_funding(self: Task) -> dict[str, Any]:
    """OKX's funding bills since the last one booked, each once (by billId)."""
    return funding_ops.book_funding(engine()).to_dict()


@app.task(bind=True, base=AthenaTask, name="athena.watch_venue", max_retries=0)
def watch_venue(self: Task) -> dict[str, Any]:
    """OKX maintenance -> the maintenance hold; the whole pre-flight again while one refused."""
    eng = engine()
    return preflight_ops.watch_venue(eng, eng.rest)


@app.task(bind=True, base=AthenaTask, name="athena.daily_summary", max_retries=0)
def daily_summary(self: Task, day: str | None = None) -> dict[str, Any]:
    """The previous UTC day's PnL, fees, funding and fills as an alert (beat, once a day)."""
    return summary_ops.daily_summary(engine(), day)


@app.task(name="athena.halt")
def halt(reason: str = "manual halt", who: str = "operator", strategy: str | None = None) -> dict[str, Any]:
    """Set the halt (or the strategy's pause) and cancel the working entries it covers."""
    return halt_ops.halt(account(), engine, reason, who, strategy).to_dict()


@app.task(name="athena.resume")
def resume(who: str = "operator") -> dict[str, Any]:
    acct = account()
    resumed = acct.halt.resume(who=who)
    holds = {name: h.reason for name, h in acct.halt.holds().items()}  # conditions still present stay held
    return {"halted": bool(holds), "resumed": resumed, "holds": holds}
