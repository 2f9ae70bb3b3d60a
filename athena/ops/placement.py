"""place_order: exactly one exchange order per clOrdId, whatever Celery redelivers or retries.

1. Single writer per account: a Redis lease with a fencing token (two workers never place at once).
2. The order is in Redis before anything is sent (the stream worker created it; a manual request
   is created here). Already acknowledged or final -> nothing to do.
3. A previous attempt (a `placing` marker exists: retry, redelivery, a worker killed mid-request)
   -> query the exchange by clOrdId first; send again, with the SAME clOrdId, only if it is unknown.
4. The REST outcome is applied through OrderManager (monotonic Lua): LIVE ack, definite rejection,
   or AMBIGUOUS (timeout after sending) followed by queries by clOrdId.

An entry is sent only with a pre-trade pass: the capital reservation its decision made (read with the
lease), or, for one sent by hand, the check run here (athena.ops.entry_gate).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

from athena.domain import Order, OrderRequest, OrderState, OrderUpdate
from athena.engine import Engine
from athena.observe.metrics import observe_order_ack
from athena.okx.errors import OkxAmbiguous, OkxDuplicateClOrdId, OkxRateLimited, OkxRejected, OkxTransient
from athena.ops.entry_gate import refuse_unchecked
from athena.ops.errors import RetryLater
from athena.ops.price_band import place_in_band
from athena.state.locks import Lease
from athena.state.placing import PlaceStart, begin_placement, placing_marker
from athena.state.retention import ORDER_RETENTION_S

log = logging.getLogger(__name__)

# The lease outlives one REST call (two timeouts + margin) and is renewed before each call, so a
# worker killed while holding it blocks placement for seconds, not for a fixed long TTL.
LEASE_MIN_TTL_MS = 5_000
AMBIGUOUS_QUERIES = (0.2, 0.5, 1.0)  # seconds between queries by clOrdId after a timeout
AMBIGUOUS_RETRY_S = 0.5
# Another worker holds the lease for one REST call (about a millisecond): wait for it here rather
# than through a Celery retry, whose countdown and redelivery cost 50+ ms of order latency.
LEASE_WAIT_S = 0.25
LEASE_POLL_S = 0.0005


@dataclass(frozen=True, slots=True)
class PlaceOutcome:
    status: str  # acked | rejected | already | found | ambiguous
    clOrdId: str
    state: str
    ordId: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, str | None]:
        return {
            "status": self.status,
            "clOrdId": self.clOrdId,
            "state": self.state,
            "ordId": self.ordId,
            "detail": self.detail,
        }


def owner_id() -> str:
    """The lease owner: a worker thread, not a process (the threads pool runs several placements
    in one process, and the lease re-grants itself to its owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def lease_ttl_ms(engine: Engine) -> int:
    return max(LEASE_MIN_TTL_MS, int((2 * engine.settings.okx.timeout_s + 2) * 1000))


def placement_lease(engine: Engine) -> Lease:
    return Lease(engine.redis, engine.keys, "placement", lease_ttl_ms(engine))


def _outcome(status: str, order: Order, detail: str = "") -> PlaceOutcome:
    return PlaceOutcome(status, order.clOrdId, str(order.state), order.ordId, detail)


def place(engine: Engine, req: OrderRequest) -> PlaceOutcome:
    lease = placement_lease(engine)
    owner = owner_id()
    start = _begin(engine, lease, owner, req)
    deadline = time.monotonic() + LEASE_WAIT_S
    while start.token is None:
        if time.monotonic() >= deadline:
            # A slow placement, or the lease of a worker that died holding it (kill -9): come back
            # when it expires rather than burning the task's retries meanwhile.
            ttl_s = max(int(engine.redis.pttl(lease.key)), 50) / 1000
            raise RetryLater(
                "placement lease held by another worker", countdown=min(ttl_s, lease.ttl_ms / 1000)
            )
        time.sleep(LEASE_POLL_S)
        start = _begin(engine, lease, owner, req)
    token = start.token
    assert token is not None
    try:
        return _place(engine, req, lease, token, start)
    finally:
        lease.release(token)


def _begin(engine: Engine, lease: Lease, owner: str, req: OrderRequest) -> PlaceStart:
    return begin_placement(
        engine.redis,
        engine.keys,
        owner,
        req.clOrdId,
        lease.ttl_ms,
        _now_ms(),
        ORDER_RETENTION_S,
        strategy=req.strategy,
    )


def _place(engine: Engine, req: OrderRequest, lease: Lease, token: int, start: PlaceStart) -> PlaceOutcome:
    """start: the lease is held (token) and the record, marker, halt switch, pause and reservation were read
    with it."""
    store, orders = engine.store, engine.orders
    marker = placing_marker(engine.keys, req.clOrdId)
    first_attempt, halted, by_hand = start.first_attempt, start.halted, start.state is None
    paused = start.paused
    if start.state is None:  # not submitted through the stream worker (a manual request): record it
        store.create(Order(req=req, state=OrderState.CREATED, cTime=_now_ms(), uTime=_now_ms()))
        log.info("place %s: recorded here (not submitted through the stream worker)", req.clOrdId)
        first_attempt = bool(engine.redis.set(marker, str(_now_ms()), nx=True, ex=ORDER_RETENTION_S))
    elif OrderState(start.state).rank >= OrderState.LIVE.rank:
        order = store.get(req.clOrdId)
        assert order is not None
        return _outcome("already", order)

    if not first_attempt:
        found = engine.rest.get_order(req.instId, clOrdId=req.clOrdId)
        if found is not None:
            t = orders.on_update(found)
            log.info("place %s: found on the exchange (%s), not sent again", req.clOrdId, t.state)
            return _outcome("found", t.order)
        engine.redis.set(marker, str(_now_ms()), ex=ORDER_RETENTION_S)
        log.warning(
            "place %s: earlier attempt left no order on the exchange; sending again (same clOrdId)",
            req.clOrdId,
        )
        halted = engine.halt.is_halted()  # read again: the query took a while
        paused = bool(req.strategy) and bool(engine.redis.hexists(engine.keys.strategy_pause, req.strategy))
        if not lease.renew(token):  # fencing: we lost the lease while querying
            raise RetryLater("placement lease lost", countdown=0.05)

    if not req.reduceOnly and (halted or paused):
        # The last gate before the exchange: an entry queued before a halt/flatten (or its strategy's
        # pause) must not open a position after it. Only reduce-only orders pass.
        code, what = ("halted", "trading halted") if halted else ("paused", f"strategy {req.strategy} paused")
        update = OrderUpdate(
            clOrdId=req.clOrdId,
            instId=req.instId,
            state=OrderState.REJECTED,
            sCode=code,
            sMsg=what,
            uTime=_now_ms(),
            source="local",
        )
        store.set_reason(req.clOrdId, f"{code}: {what} before the order was sent")
        t = orders.on_update(update)
        log.warning("place %s: refused, %s", req.clOrdId, what)
        return _outcome("rejected", t.order, code)

    # An entry its decision checked carries that pass (its capital reservation, read above with the
    # lease); one without (sent by hand) is checked here. A reduce-only close skips risk, logged.
    if req.reduceOnly:
        if by_hand:
            log.warning(
                "place %s: pre-trade BYPASS of a reduce-only %s %s %s sent by hand (strategy=%s)",
                req.clOrdId,
                req.side,
                req.sz,
                req.instId,
                req.strategy or "-",
            )
    elif not start.checked(req):
        refused = refuse_unchecked(engine, req)
        if refused is not None:
            return _outcome("rejected", refused[0], refused[1])

    try:
        ack = place_in_band(engine, req)  # a limit close outside the price band is moved, never refused
    except OkxRejected as exc:
        if isinstance(exc, OkxDuplicateClOrdId):  # an earlier attempt placed it: adopt it, never reject it
            found = engine.rest.get_order(req.instId, clOrdId=req.clOrdId)
            if found is not None:
                return _outcome("found", orders.on_update(found).order)
            orders.mark_ambiguous(req.clOrdId)
            raise RetryLater(
                f"{req.clOrdId}: clOrdId taken on the exchange, order not visible yet",
                countdown=AMBIGUOUS_RETRY_S,
            ) from exc
        update = exc.update or OrderUpdate(
            clOrdId=req.clOrdId,
            instId=req.instId,
            state=OrderState.REJECTED,
            sCode=exc.sCode or exc.code,
            sMsg=exc.sMsg or exc.msg,
            uTime=_now_ms(),
            source="rest_ack",
        )
        store.set_reason(req.clOrdId, f"{update.sCode}: {update.sMsg}")
        t = orders.on_update(update)
        log.warning("place %s rejected: %s", req.clOrdId, exc)
        return _outcome("rejected", t.order, str(exc))
    except OkxAmbiguous as exc:
        orders.mark_ambiguous(req.clOrdId)
        log.warning("place %s: outcome unknown (%s); querying by clOrdId", req.clOrdId, exc)
        for pause in AMBIGUOUS_QUERIES:
            time.sleep(pause)
            lease.renew(token)
            try:
                found = engine.rest.get_order(req.instId, clOrdId=req.clOrdId)
            except (OkxTransient, OkxAmbiguous, OkxRateLimited):
                continue
            if found is not None:
                return _outcome("found", orders.on_update(found).order)
        # With expTime (deadline = the read timeout) the request can no longer start executing once
        # the call timed out, and the queries above gave a started one 1.7 s to show up: not found
        # now is final, so the retry may resend soon. Without expTime, wait out the full window.
        countdown = AMBIGUOUS_RETRY_S if engine.rest.exp_time_ms > 0 else orders.ambiguity_window_s
        raise RetryLater(f"{req.clOrdId} ambiguous: not visible yet", countdown=countdown) from exc
    except OkxRateLimited as exc:
        raise RetryLater(str(exc), countdown=max(exc.retry_after, 0.2)) from exc
    except OkxTransient as exc:
        raise RetryLater(str(exc), countdown=1.0) from exc
    # The order is placed: the next placement may go while the ack is applied (monotonic Lua,
    # journal), which needs no lease. Releasing twice is harmless (compare-and-delete by token).
    acked_ms = _now_ms()
    lease.release(token)
    t = orders.on_update(ack)
    observe_order_ack(t.order.cTime, acked_ms)  # cTime: when the decision recorded the order
    return _outcome("acked", t.order)


def _now_ms() -> int:
    return int(time.time() * 1000)
