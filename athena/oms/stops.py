"""Exchange-side stop-loss policy (rule 3, docs/DESIGN_RULES.md): an entry's fills are always covered
by a stop.

- entry fills (also partially)          -> place, or amend up, the stop to cover accFillSz
- entry canceled/rejected with no fills -> cancel its stop (if one was ever requested)
- position flat                         -> its stops are ghosts (PositionManager.ghost_orders)

One stop per entry order; its algoClOrdId is derived from the entry's clOrdId, so a retried or
redelivered request always names the same stop.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from athena.domain import AlgoOrder, AlgoState, Order, OrderRequest, Position, PosSide, Side, TdMode, fmt
from athena.domain.money import ZERO
from athena.state.retention import FILL_RETENTION_S

STOP_PREFIX = "sl"
_MAX_ID = 32


def alnum(text: str) -> str:
    return "".join(c for c in text if c.isascii() and c.isalnum())


def inst_code(instId: str) -> str:
    """BTC-USDT-SWAP -> BTCUSDT: compact, letters/digits only."""
    return alnum("".join(p for p in instId.split("-") if p.upper() != "SWAP"))


def _fit(candidate: str, seed: str, prefix: str) -> str:
    if len(candidate) <= _MAX_ID:
        return candidate
    digest = hashlib.blake2b(seed.encode(), digest_size=16).hexdigest()
    return (prefix + "h" + digest)[:_MAX_ID]


def protective_stop_id(instId: str, posSide: PosSide, generation: int | str) -> str:
    """algoClOrdId of a stop placed for a position found unprotected (not tied to an entry).
    generation (e.g. the position's uTime) makes a redelivered protect task name the same stop."""
    return _fit(
        f"pp{inst_code(instId)}{str(posSide)[0]}{alnum(str(generation))}",
        f"{instId}|{posSide}|{generation}",
        "pp",
    )


def stop_id_for(entry_cl_ord_id: str) -> str:
    """Deterministic algoClOrdId of the stop protecting one entry order (letters/digits, <= 32)."""
    return _fit(STOP_PREFIX + entry_cl_ord_id, entry_cl_ord_id, STOP_PREFIX)


def is_entry(req: OrderRequest) -> bool:
    """Opens or adds to a position. Closing sides in long/short mode are implicitly reduce-only."""
    if req.reduceOnly:
        return False
    if req.posSide is PosSide.LONG:
        return req.side is Side.BUY
    if req.posSide is PosSide.SHORT:
        return req.side is Side.SELL
    return True


def needs_stop(req: OrderRequest) -> bool:
    return is_entry(req) and req.stop_loss_px is not None


@dataclass(frozen=True, slots=True)
class StopRequest:
    """A conditional stop (market execution) covering sz contracts of one entry's position."""

    algoClOrdId: str
    entryClOrdId: str
    instId: str
    side: Side  # opposite to the entry
    posSide: PosSide
    sz: Decimal
    slTriggerPx: Decimal
    tdMode: TdMode = TdMode.CROSS
    slTriggerPxType: str = "last"
    strategy: str = ""
    exact: bool = False  # True: amend to exactly sz, also down (a position shrank); else "at least sz"

    @classmethod
    def for_entry(cls, req: OrderRequest, sz: Decimal) -> StopRequest:
        if req.stop_loss_px is None:
            raise ValueError(f"{req.clOrdId}: entry has no stop_loss_px")
        return cls(
            algoClOrdId=stop_id_for(req.clOrdId),
            entryClOrdId=req.clOrdId,
            instId=req.instId,
            side=req.side.opposite,
            posSide=req.posSide,
            sz=sz,
            slTriggerPx=req.stop_loss_px,
            tdMode=req.tdMode,
            strategy=req.strategy,
        )

    @classmethod
    def for_position(
        cls, pos: Position, slTriggerPx: Decimal, generation: int | str, sz: Decimal | None = None
    ) -> StopRequest:
        """A stop covering an open position (default: all of it), for protect_positions."""
        if pos.is_flat:
            raise ValueError(f"{pos.instId}/{pos.posSide}: a flat position needs no stop")
        return cls(
            algoClOrdId=protective_stop_id(pos.instId, pos.posSide, generation),
            entryClOrdId="",
            instId=pos.instId,
            side=Side.SELL if pos.signed > ZERO else Side.BUY,
            posSide=pos.posSide,
            sz=abs(pos.pos) if sz is None else sz,
            slTriggerPx=slTriggerPx,
            tdMode=pos.mgnMode,
        )

    @classmethod
    def resize(cls, algo: AlgoOrder, sz: Decimal) -> StopRequest:
        """An exact resize of a recorded stop (shrinking it to what the position still holds)."""
        entry = algo.algoClOrdId[len(STOP_PREFIX) :] if algo.algoClOrdId.startswith(STOP_PREFIX) else ""
        return cls(
            algoClOrdId=algo.algoClOrdId,
            entryClOrdId=entry,
            instId=algo.instId,
            side=algo.side,
            posSide=algo.posSide,
            sz=sz,
            slTriggerPx=algo.slTriggerPx,
            tdMode=algo.tdMode,
            slTriggerPxType=algo.slTriggerPxType,
            exact=True,
        )

    @property
    def reduceOnly(self) -> bool:
        return True

    def to_algo(self, state: AlgoState = AlgoState.LIVE, uTime: int = 0) -> AlgoOrder:
        return AlgoOrder(
            algoClOrdId=self.algoClOrdId,
            instId=self.instId,
            side=self.side,
            sz=self.sz,
            slTriggerPx=self.slTriggerPx,
            state=state,
            posSide=self.posSide,
            tdMode=self.tdMode,
            slTriggerPxType=self.slTriggerPxType,
            reduceOnly=True,
            uTime=uTime,
        )

    def to_okx(self) -> dict[str, Any]:
        """The /trade/order-algo body: a one-way conditional SL executed at market."""
        body: dict[str, Any] = {
            "instId": self.instId,
            "tdMode": str(self.tdMode),
            "side": str(self.side),
            "ordType": "conditional",
            "sz": fmt(self.sz),
            "slTriggerPx": fmt(self.slTriggerPx),
            "slOrdPx": "-1",
            "slTriggerPxType": self.slTriggerPxType,
            "algoClOrdId": self.algoClOrdId,
        }
        if self.posSide is PosSide.NET:
            body["reduceOnly"] = True  # long/short closing sides are reduce-only by themselves
        else:
            body["posSide"] = str(self.posSide)
        return body


class StopAction(StrEnum):
    NONE = "none"
    PLACE = "place"
    AMEND = "amend"  # grow an existing stop to the new filled size
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class StopPlan:
    action: StopAction
    algoClOrdId: str
    instId: str
    stop: StopRequest | None = None  # set for PLACE and AMEND


def plan_stop(order: Order, current: AlgoOrder | None) -> StopPlan:
    """What to do about the stop of `order` given the stop we last recorded (None = never asked).

    A stop that already ended (triggered, canceled, failed) is never resurrected here: whether the
    position still needs protection is the exchange's word, checked by protect_positions.
    """
    req = order.req
    algo_id = stop_id_for(req.clOrdId)
    if not needs_stop(req):
        return StopPlan(StopAction.NONE, algo_id, req.instId)
    if order.accFillSz > ZERO:
        stop = StopRequest.for_entry(req, order.accFillSz)
        if current is None:
            return StopPlan(StopAction.PLACE, algo_id, req.instId, stop)
        if current.state.is_working and current.covers(order.accFillSz) < order.accFillSz:
            return StopPlan(StopAction.AMEND, algo_id, req.instId, stop)
        return StopPlan(StopAction.NONE, algo_id, req.instId)
    if order.state.is_terminal and current is not None and current.state.is_working:
        return StopPlan(StopAction.CANCEL, algo_id, req.instId)
    return StopPlan(StopAction.NONE, algo_id, req.instId)


def fit_stops(pos: Position, stops: list[AlgoOrder]) -> list[tuple[AlgoOrder, Decimal]]:
    """Stops of `pos` (closing side, same instId/posSide, working) that together exceed its size,
    with the size each must shrink to (ZERO = cancel). A net-mode reduce-only order larger than the
    position is rejected whole (OKX), so an oversized stop would not close anything when it fires.
    The oldest stops keep their size; the newest are trimmed first."""
    if pos.is_flat:
        return [
            (a, ZERO)
            for a in stops
            if a.state.is_working and a.instId == pos.instId and a.posSide is pos.posSide
        ]
    closing = Side.SELL if pos.signed > ZERO else Side.BUY
    mine = sorted(
        (
            a
            for a in stops
            if a.state.is_working
            and a.instId == pos.instId
            and a.posSide is pos.posSide
            and a.side is closing
        ),
        key=lambda a: (a.uTime, a.algoClOrdId),
    )
    room = abs(pos.pos)
    out: list[tuple[AlgoOrder, Decimal]] = []
    for a in mine:
        if a.sz is None:  # closes the whole position, whatever its size when it fires: never oversized
            continue
        keep = min(a.sz, room)
        room -= keep
        if keep < a.sz:
            out.append((a, keep))
    return out


# -- who a stop belongs to ----------------------------------------------------------------------
# A triggered stop creates an order whose clOrdId is empty and whose algoClOrdId names the stop.
# The owner record lets that order (and its fill) be booked to the strategy and entry it protects.


def record_stop_owner(redis: Any, keys: Any, algoClOrdId: str, strategy: str, entryClOrdId: str) -> None:
    pipe = redis.pipeline(transaction=False)
    queue_stop_owner(pipe, keys, algoClOrdId, strategy, entryClOrdId)
    pipe.execute()


def queue_stop_owner(pipe: Any, keys: Any, algoClOrdId: str, strategy: str, entryClOrdId: str) -> None:
    """record_stop_owner's writes, queued on a pipeline (sent with the caller's other commands)."""
    key = keys.stop_owner(algoClOrdId)
    pipe.hset(key, mapping={"strategy": strategy, "entry": entryClOrdId})
    pipe.expire(key, FILL_RETENTION_S)


def stop_owner(redis: Any, keys: Any, algoClOrdId: str) -> tuple[str, str] | None:
    """(strategy, entryClOrdId) of a stop Athena placed, None if unknown."""
    raw = redis.hgetall(keys.stop_owner(algoClOrdId))
    if not raw:
        return None
    h = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }
    return h.get("strategy", ""), h.get("entry", "")
