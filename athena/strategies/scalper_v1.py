"""ScalperV1: maker entries on order-book imbalance confirmed by short-horizon trade flow.

Signal: mean imbalance (bid volume - ask volume) / total over the top `levels` levels, averaged over
the last `imbalance_window` books, and taker flow (buy - sell) / volume over the last `flow_window`
trades; both kept in O(1) ring buffers. Entry: post_only at the touch, carrying stop_loss_px so the
OMS places the exchange stop on fill. Exits: take-profit (reduce-only limit or market), the exchange
stop, a time stop. Position comes only from OMS fills/positions, never from what was sent.

Fee gate: a take profit that does not cover the round trip's fees loses even when it is hit (in a demo
run, fees were 52 of 61 USDT lost), so no entry is sent unless tp distance / entry px > entry fee rate
(maker: the entry is post-only) + exit fee rate (maker for a limit TP, taker for a market TP) +
min_edge_bps, at the rates of ctx.fee_rates (the exchange's tier, else config fees.*).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Literal

from pydantic import Field

from athena.domain import BookTop, Fill, OrderState, Position, Side, Tick
from athena.domain.money import ZERO
from athena.strategies.base import BaseStrategy, OrderEvent, StrategyParams
from athena.strategies.clock import TtlLockLike
from athena.strategies.context import StrategyContext
from athena.strategies.rolling import RollingSum, TradeFlow

log = logging.getLogger(__name__)

BPS = Decimal(10_000)


class ScalperParams(StrategyParams):
    levels: int = Field(5, ge=1, le=25)  # book levels summed per side
    imbalance_window: int = Field(10, ge=1, le=100_000)  # books averaged
    imbalance_threshold: Decimal = Field(Decimal("0.3"), gt=0, lt=1)
    flow_window: int = Field(50, ge=1, le=100_000)  # trades
    flow_threshold: Decimal = Field(Decimal("0.2"), ge=0, le=1)
    min_trades: int = Field(5, ge=0, le=100_000)  # flow counts only after this many trades
    max_spread_ticks: int = Field(2, ge=1)
    take_profit_bps: Decimal = Field(
        Decimal(8), gt=0
    )  # 4 bps clears no fee: a maker round trip at the regular tier
    stop_loss_bps: Decimal = Field(Decimal(6), gt=0)
    tp_mode: Literal["limit", "market"] = "limit"
    time_stop_s: Decimal = Field(Decimal(60), gt=0)
    entry_timeout_s: Decimal = Field(Decimal(5), gt=0)
    cooldown_s: Decimal = Field(Decimal(10), gt=0)  # close-lock TTL and re-entry pause after a close
    refusal_backoff_s: Decimal = Field(
        Decimal(1), ge=0
    )  # no new try here after a refused/too small/paused entry
    max_tick_age_ms: int = Field(2_000, gt=0)
    max_contracts: Decimal | None = Field(None, gt=0)
    max_close_retries: int = Field(5, ge=1, le=100)
    allow_short: bool = True
    # The fee gate: an entry only when the take-profit distance exceeds the round trip's fees (maker
    # entry + the TP's exit: maker for tp_mode limit, taker for market) at the account's tier, plus
    # min_edge_bps. Entries it skips are counted in stats["fee_gate"].
    fee_gate: bool = True
    min_edge_bps: Decimal = Field(Decimal(0), ge=0)


def _ms(seconds: Decimal) -> int:
    return int(seconds * 1000)


class _Slot:
    """Everything ScalperV1 knows about one instrument."""

    __slots__ = (
        "avg_px",
        "book",
        "close_failures",
        "close_id",
        "close_lock",
        "close_token",
        "cooldown_until",
        "entry_cancel_sent",
        "entry_id",
        "entry_sent_ms",
        "flow",
        "imb",
        "instId",
        "oms_pos",
        "opened_ms",
        "pos",
        "realized",
        "stop_px",
        "tp_id",
        "tp_px",
        "unprotected",
    )

    def __init__(self, instId: str, p: ScalperParams, lock: TtlLockLike) -> None:
        self.instId = instId
        self.pos = ZERO  # signed contracts, from fills only
        self.oms_pos = ZERO  # the last position the OMS reported (exclusive instruments only)
        self.avg_px: Decimal | None = None
        self.opened_ms: int | None = None
        self.realized = ZERO  # price PnL in contracts*px units (fees excluded), for diagnostics
        self.entry_id: str | None = None
        self.entry_sent_ms = 0
        self.entry_cancel_sent = False
        self.stop_px: Decimal | None = None
        self.tp_px: Decimal | None = None
        self.tp_id: str | None = None
        self.close_id: str | None = None
        self.close_token: str | None = None
        self.close_lock = lock
        self.close_failures = 0
        self.cooldown_until = 0
        self.unprotected = False  # the exchange refused the stop: flatten, retrying every tick until flat
        self.imb = RollingSum(p.imbalance_window)
        self.flow = TradeFlow(p.flow_window)
        self.book: BookTop | None = None

    def flat_reset(self, now: int, cooldown_ms: int) -> None:
        self.pos = ZERO
        self.avg_px = self.opened_ms = self.stop_px = self.tp_px = None
        self.cooldown_until = now + cooldown_ms
        self.close_failures = 0
        self.unprotected = False


class ScalperV1(BaseStrategy):
    Params = ScalperParams
    params: ScalperParams

    def __init__(
        self, name: str, instIds: list[str], params: dict[str, object] | None, ctx: StrategyContext
    ) -> None:
        super().__init__(name, instIds, params, ctx)
        p = self.params
        self._timeout_ms = _ms(p.entry_timeout_s)
        self._time_stop_ms = _ms(p.time_stop_s)
        self._cooldown_ms = _ms(p.cooldown_s)
        self._backoff_ms = _ms(p.refusal_backoff_s)
        self.slots = {i: _Slot(i, p, ctx.lock(f"close:{i}", self._cooldown_ms)) for i in self.instIds}
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "ticks",
                "stale",
                "no_book",
                "one_sided",
                "crossed",
                "entries",
                "refused",
                "too_small",
                "entry_timeouts",
                "take_profits",
                "time_stops",
                "stop_flattens",
                "close_failures",
                "mismatches",
                "paused",
                "fee_gate",
            ),
            0,
        )

    # -- market data ---------------------------------------------------------------------------
    def on_tick(self, tick: Tick) -> None:
        slot = self.slots.get(tick.instId)
        if slot is None:
            return
        st = self.stats
        st["ticks"] += 1
        now = self.ctx.now_ms()
        book, trade = tick.book, tick.trade
        ts = book.ts if book is not None else (trade.ts if trade is not None else now)
        fresh = now - ts <= self.params.max_tick_age_ms
        usable: BookTop | None = None
        if not fresh:
            st["stale"] += 1
            slot.book = None  # never act on an old book
        else:
            if trade is not None:
                slot.flow.push(trade.sz, trade.side == "buy")
            if book is None:
                st["no_book"] += 1
            elif not book.bids or not book.asks:
                st["one_sided"] += 1
                slot.book = None
            elif book.is_crossed:
                st["crossed"] += 1
                slot.book = None
            else:
                usable = slot.book = book
                slot.imb.push(self._imbalance(book))
        self._housekeep(slot, now, usable)
        if usable is not None and self._valve_open(slot, now):
            self._maybe_enter(slot, usable)

    def _imbalance(self, book: BookTop) -> Decimal:
        n = self.params.levels
        bid = sum((lv.sz for lv in book.bids[:n]), ZERO)
        ask = sum((lv.sz for lv in book.asks[:n]), ZERO)
        total = bid + ask
        return (bid - ask) / total if total > 0 else ZERO

    # -- decisions -----------------------------------------------------------------------------
    def _housekeep(self, slot: _Slot, now: int, book: BookTop | None) -> None:
        if (
            slot.entry_id is not None
            and not slot.entry_cancel_sent
            and now - slot.entry_sent_ms >= self._timeout_ms
        ):
            slot.entry_cancel_sent = (
                True  # the rest of a partial fill is cancelled; the stop covers the fills
            )
            self.stats["entry_timeouts"] += 1
            if not self._cancel(slot, slot.entry_id):
                slot.entry_cancel_sent = False  # asked again on the next tick
        if slot.pos == 0 or slot.close_id is not None:
            return
        if slot.unprotected:
            self._close(slot, "stop_failed")  # retried until flat: a failed or refused close is not the end
        elif slot.opened_ms is None or now - slot.opened_ms >= self._time_stop_ms:
            self._close(slot, "time_stop")  # no known entry time counts as expired
        elif self.params.tp_mode == "market":
            if book is not None and slot.tp_px is not None and self._tp_reached(slot, book):
                self._close(slot, "take_profit")
        elif slot.tp_id is None and slot.entry_id is None and slot.tp_px is not None:
            self._place_tp(slot)

    @staticmethod
    def _tp_reached(slot: _Slot, book: BookTop) -> bool:
        assert slot.tp_px is not None
        if slot.pos > 0:
            return book.bids[0].px >= slot.tp_px
        return book.asks[0].px <= slot.tp_px

    def _valve_open(self, slot: _Slot, now: int) -> bool:
        """One-way valve: no new entry while a position or any order of ours exists here."""
        return not (
            slot.pos != 0
            or slot.oms_pos != 0
            or slot.entry_id
            or slot.close_id
            or slot.tp_id
            or now < slot.cooldown_until
        )

    def _maybe_enter(self, slot: _Slot, book: BookTop) -> None:
        p = self.params
        if not slot.imb.full or len(slot.flow) < p.min_trades:
            return
        imb = slot.imb.total / slot.imb.size
        flow = slot.flow.ratio
        if flow is None:
            if p.min_trades > 0:
                return
            flow = ZERO
        inst = self.ctx.instrument(slot.instId)
        bid, ask = book.bids[0].px, book.asks[0].px
        if ask - bid > inst.tickSz * p.max_spread_ticks:
            return
        if imb >= p.imbalance_threshold and flow >= p.flow_threshold:
            side, px = Side.BUY, bid
            stop = min(inst.px_down(px * (1 - p.stop_loss_bps / BPS)), px - inst.tickSz)
            tp = max(inst.px_up(px * (1 + p.take_profit_bps / BPS)), px + inst.tickSz)
        elif p.allow_short and imb <= -p.imbalance_threshold and flow <= -p.flow_threshold:
            side, px = Side.SELL, ask
            stop = max(inst.px_up(px * (1 + p.stop_loss_bps / BPS)), px + inst.tickSz)
            tp = min(inst.px_down(px * (1 - p.take_profit_bps / BPS)), px - inst.tickSz)
        else:
            return
        if stop <= 0 or tp <= 0:
            return
        if p.fee_gate and not self.clears_fees(slot.instId, px, tp):
            self.stats["fee_gate"] += 1
            self._back_off(slot)
            return
        if self.ctx.entries_paused():  # asked only when a signal qualifies: no I/O on ordinary ticks
            self.stats["paused"] += 1
            self._back_off(slot)
            return
        sz = self.ctx.size_for_risk(slot.instId, px, stop)
        cap = self.ctx.max_contracts(slot.instId, px)
        if cap is not None:
            sz = min(sz, cap)
        if p.max_contracts is not None:
            sz = min(sz, p.max_contracts)
        sz = inst.round_sz(sz) if sz > 0 else ZERO
        if sz < inst.minSz:
            self.stats["too_small"] += 1
            self._back_off(slot)
            return
        cid: str | None = None
        try:
            cid = self.ctx.next_cl_ord_id(slot.instId)
            slot.entry_id, slot.entry_sent_ms, slot.entry_cancel_sent = cid, self.ctx.now_ms(), False
            slot.stop_px, slot.tp_px = stop, tp
            slot.unprotected = False
            ok = self.ctx.order(
                slot.instId, side, sz, px, post_only=True, stop_loss_px=stop, take_profit_px=tp, clOrdId=cid
            ).ok
        except Exception:
            ok = self._raised(slot, "entry", cid)
        if ok:
            self.stats["entries"] += 1
        else:
            self.stats["refused"] += 1
            if slot.entry_id == cid:
                slot.entry_id = None
            if slot.pos == 0:
                slot.stop_px = slot.tp_px = None
            self._back_off(slot)

    def round_trip_fee(self, instId: str) -> Decimal | None:
        """Fee rate of one round trip as a fraction of notional: a maker entry plus the TP's exit."""
        rates = self.ctx.fee_rates(instId)
        if rates is None:
            return None
        return rates.maker + (rates.maker if self.params.tp_mode == "limit" else rates.taker)

    def clears_fees(self, instId: str, px: Decimal, tp: Decimal) -> bool:
        """The take profit at tp earns more than the round trip's fees (+ min_edge_bps) on an entry at px."""
        fee = self.round_trip_fee(instId)
        if fee is None:  # no rates known to this context (a bare test context): nothing to gate on
            return True
        return abs(tp - px) / px > fee + self.params.min_edge_bps / BPS

    def _raised(self, slot: _Slot, what: str, cid: str | None) -> bool:
        """A submit that raised (e.g. a Redis error inside it) is handled as a refusal: the caller
        clears the slot's pending id and releases its lock, or the instrument would never trade again.
        Returns False (not submitted), for the caller's refusal path."""
        log.warning(
            "%s: %s %s on %s raised; handled as refused",
            self.name,
            what,
            cid or "-",
            slot.instId,
            exc_info=True,
        )
        return False

    def _cancel(self, slot: _Slot, cid: str) -> bool:
        """Ask for a cancel; one that raised is logged and reported False (the caller may ask again)."""
        try:
            self.ctx.cancel(cid)
        except Exception:
            log.warning("%s: cancel %s on %s raised", self.name, cid, slot.instId, exc_info=True)
            return False
        return True

    def _back_off(self, slot: _Slot) -> None:
        """Risk said no (or the strategy is paused): asking again on every tick would only cost Redis
        round trips and clOrdIds. The valve stays shut for refusal_backoff_s."""
        slot.cooldown_until = max(slot.cooldown_until, self.ctx.now_ms() + self._backoff_ms)

    def _place_tp(self, slot: _Slot) -> None:
        assert slot.tp_px is not None
        side = Side.SELL if slot.pos > 0 else Side.BUY
        cid: str | None = None
        try:
            cid = self.ctx.next_cl_ord_id(slot.instId)
            slot.tp_id = cid
            ok = self.ctx.close(slot.instId, side, abs(slot.pos), slot.tp_px, clOrdId=cid).ok
        except Exception:
            ok = self._raised(slot, "take-profit", cid)
        if not ok and slot.tp_id == cid:
            slot.tp_id = None
            slot.tp_px = None  # do not retry every tick; the time stop and the exchange stop remain

    def _close(self, slot: _Slot, reason: str) -> None:
        """Market reduce-only close under a TTL lock (no duplicate closes; the lock is the cooldown)."""
        if slot.close_id is not None or slot.pos == 0:
            return
        if slot.close_failures >= self.params.max_close_retries:
            return  # reported once already; the exchange stop and protect_positions still guard it
        token = slot.close_lock.acquire()
        if token is None:
            return
        key = {"time_stop": "time_stops", "take_profit": "take_profits", "stop_failed": "stop_flattens"}.get(
            reason
        )
        if key:
            self.stats[key] += 1
        slot.close_token = token
        if slot.tp_id is not None:
            self._cancel(slot, slot.tp_id)  # a cancel that fails must not hold the close back
        if slot.entry_id is not None and not slot.entry_cancel_sent:
            slot.entry_cancel_sent = self._cancel(slot, slot.entry_id)
        if (
            slot.pos == 0
        ):  # a fill those cancels produced flattened it: nothing to close (the lock is the cooldown)
            slot.close_token = None
            return
        cid: str | None = None
        try:
            cid = self.ctx.next_cl_ord_id(slot.instId)
            slot.close_id = cid
            side = Side.SELL if slot.pos > 0 else Side.BUY
            intent = self.ctx.close(slot.instId, side, abs(slot.pos), clOrdId=cid)
        except Exception as exc:
            self._raised(slot, "close", cid)
            if slot.close_token == token:  # not settled meanwhile by an event this call produced
                self._close_failed(slot, f"{type(exc).__name__}: {exc}")
            return
        if not intent.ok and slot.close_id == cid:
            self._close_failed(slot, intent.reason)

    def _close_failed(self, slot: _Slot, reason: str) -> None:
        token, slot.close_id, slot.close_token = slot.close_token, None, None
        if token is not None:
            try:
                slot.close_lock.release(token)  # at once: a failed close must not block the next
            except Exception:  # Redis down: the lock's TTL frees it instead
                log.warning(
                    "%s: close lock on %s not released (it expires)", self.name, slot.instId, exc_info=True
                )
        slot.close_failures += 1
        self.stats["close_failures"] += 1
        if slot.close_failures >= self.params.max_close_retries:
            self.ctx.error(
                "close keeps failing", instId=slot.instId, reason=reason, attempts=slot.close_failures
            )

    # -- OMS events ----------------------------------------------------------------------------
    def on_order(self, event: OrderEvent) -> None:
        slot = self.slots.get(event.instId)
        if slot is None or not event.state.is_terminal:
            return
        cid = event.clOrdId
        if cid == slot.entry_id:
            slot.entry_id = None
            if slot.pos == 0 and not event.accFillSz:
                slot.stop_px = slot.tp_px = None
                slot.unprotected = False  # nothing filled: nothing to protect
        elif cid == slot.tp_id:
            slot.tp_id = None
            if event.state is OrderState.FILLED:
                self.stats["take_profits"] += 1
        elif cid == slot.close_id:
            if event.state is OrderState.FILLED:
                slot.close_id = slot.close_token = None  # the lock stays until its TTL: the cooldown
            elif slot.pos != 0:
                self._close_failed(slot, event.reason or str(event.state))
            else:
                slot.close_id = slot.close_token = None

    def on_fill(self, fill: Fill) -> None:
        slot = self.slots.get(fill.instId)
        if slot is None or fill.fillSz <= 0:
            return
        signed = fill.signed_sz
        pos = slot.pos
        if pos == 0 or (pos > 0) == (signed > 0):
            if fill.reduceOnly:
                self.ctx.error(
                    "reduce-only fill on a flat position", instId=fill.instId, clOrdId=fill.clOrdId
                )
                return
            size = abs(pos) + fill.fillSz
            prev = slot.avg_px if slot.avg_px is not None else fill.fillPx
            slot.avg_px = (prev * abs(pos) + fill.fillPx * fill.fillSz) / size
            slot.pos = pos + signed
            if slot.opened_ms is None:
                slot.opened_ms = self.ctx.now_ms()
            if slot.unprotected:  # the stop was refused before this fill reached us: flatten now
                self._close(slot, "stop_failed")
            return
        closed = min(abs(signed), abs(pos))
        if slot.avg_px is not None:
            slot.realized += (fill.fillPx - slot.avg_px) * closed * (1 if pos > 0 else -1)
        if abs(signed) > abs(pos):  # a close never flips us: report, keep flat
            self.ctx.error("fill larger than the position", instId=fill.instId, clOrdId=fill.clOrdId)
        slot.pos = pos + signed if abs(signed) <= abs(pos) else ZERO
        if slot.pos == 0:
            if fill.clOrdId == slot.tp_id:
                slot.tp_id = None  # the TP itself flattened us: nothing to cancel
            self._on_flat(slot)
        elif slot.tp_id is not None and fill.clOrdId != slot.tp_id and slot.close_id is None:
            # reduced by something else (a partial stop): the resting TP is now larger than the position;
            # cancel it, the next tick places one sized to what is left
            self._cancel(slot, slot.tp_id)

    def _on_flat(self, slot: _Slot) -> None:
        slot.flat_reset(self.ctx.now_ms(), self._cooldown_ms)
        if slot.tp_id is not None:
            self._cancel(slot, slot.tp_id)  # flat by stop or close: the TP is a ghost
        if slot.close_id is not None:
            slot.close_id = slot.close_token = None

    def on_position(self, position: Position) -> None:
        slot = self.slots.get(position.instId)
        if slot is None or position.instId not in self.ctx.exclusive:
            return
        seen = slot.oms_pos = position.signed
        if seen == slot.pos:
            return
        self.stats["mismatches"] += 1
        self.ctx.error(
            "position mismatch", instId=position.instId, strategy_pos=str(slot.pos), oms_pos=str(seen)
        )
        if slot.entry_id is None and slot.close_id is None:  # nothing in flight: the exchange wins
            if seen == 0:
                self._on_flat(slot)
            else:
                slot.pos, slot.avg_px = seen, position.avgPx
                slot.opened_ms = None  # unknown age: the time stop closes it

    def on_stop_failed(self, instId: str, reason: str) -> None:
        """No exchange-side stop: flatten at once (reduce-only market). If the entry's fill has not
        reached us yet, the flag makes that fill close at once; paused or halted, this still goes."""
        slot = self.slots.get(instId)
        if slot is None or (slot.pos == 0 and slot.entry_id is None):
            return
        slot.unprotected = True
        self.ctx.error("stop failed, flattening", instId=instId, reason=reason)
        if slot.pos != 0:
            self._close(slot, "stop_failed")
