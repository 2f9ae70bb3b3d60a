"""ScalperV1 driven through every entry/exit path and edge case, on the real stack.

Real parts: OrderManager/OrderStore (Lua) over the session's private Redis, PreTradeCheck,
CapitalCommander, PositionManager, the runner and StrategyContext. The exchange side is scripted
by hand: RecordingSender keeps what the OMS sent, and the tests feed back the exchange's answers
as OrderUpdates through OrderManager.on_update, exactly as the gateways do.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from athena.bus import EventType
from athena.config import RiskProfileSettings, RiskSettings, StrategySettings
from athena.domain import BookTop, Level, OrderState, OrdType, Position, PosSide, Side, Tick, Trade
from athena.oms.sender import RecordingSender
from athena.oms.stops import stop_id_for
from athena.sim.instruments import default_instruments
from athena.strategies.base import StrategyParamError
from athena.strategies.clock import SimClock
from athena.strategies.scalper_v1 import ScalperV1

BTC = "BTC-USDT-SWAP"
T0 = 1_700_000_000_000
PARAMS: dict[str, Any] = {
    "levels": 5,
    "imbalance_window": 3,
    "imbalance_threshold": "0.3",
    "flow_window": 5,
    "flow_threshold": "0.2",
    "min_trades": 2,
    "max_spread_ticks": 2,
    "take_profit_bps": "10",
    "stop_loss_bps": "15",
    "time_stop_s": "30",
    "entry_timeout_s": "5",
    "cooldown_s": "10",
    "max_contracts": "1",
    "max_tick_age_ms": 2000,
}
D = Decimal


class Harness:
    def __init__(
        self,
        redis: Any,
        params: dict[str, Any] | None = None,
        name: str = "scalp",
        risk: RiskSettings | None = None,
    ) -> None:
        from athena.backtest.stack import build_stack, make_settings

        self.sender = RecordingSender()
        self.clock = SimClock(T0)
        insts = {si.instId: si.inst for si in default_instruments()}
        strat = StrategySettings(
            name=name,
            cls="ScalperV1",
            instIds=[BTC],
            allocation=D("0.4"),
            params={**PARAMS, **(params or {})},
            risk=RiskProfileSettings(leverage=D(3), max_order_notional=D(5000), max_position=D(50)),
        )
        self.stack = build_stack(
            redis, make_settings([strat], risk=risk), insts, self.sender, self.clock, env="t"
        )
        self.s: ScalperV1 = self.stack.strategy(name)  # type: ignore[assignment]
        self.om = self.stack.orders
        self.seq = 0
        self.stack.marks.set(BTC, D("100000"), T0)

    # -- market -------------------------------------------------------------------------------
    def book(
        self,
        bid: str = "100000.0",
        ask: str = "100000.1",
        bid_sz: str = "10",
        ask_sz: str = "2",
        ts: int | None = None,
        bids: tuple[Level, ...] | None = None,
        asks: tuple[Level, ...] | None = None,
        trade: Trade | None = None,
    ) -> None:
        b, a = D(bid), D(ask)
        tick = D("0.1")
        if bids is None:
            bids = tuple(Level(b - tick * i, D(bid_sz)) for i in range(5))
        if asks is None:
            asks = tuple(Level(a + tick * i, D(ask_sz)) for i in range(5))
        book = BookTop(BTC, bids, asks, self.clock.now_ms() if ts is None else ts)
        self.stack.bus.publish(EventType.TICK, Tick(BTC, book=book, trade=trade))

    def trade(self, side: str = "buy", sz: str = "1", px: str = "100000.1") -> None:
        self.seq += 1
        t = Trade(BTC, str(self.seq), D(px), D(sz), side, self.clock.now_ms())
        self.stack.bus.publish(EventType.TICK, Tick(BTC, trade=t))

    def warm_long(self) -> None:
        self.trade("buy")
        self.trade("buy")
        for _ in range(3):
            self.book()

    def warm_short(self) -> None:
        self.trade("sell", px="100000.0")
        self.trade("sell", px="100000.0")
        for _ in range(3):
            self.book(bid_sz="2", ask_sz="10")

    def advance(self, ms: int) -> None:
        self.clock.advance(ms)

    # -- exchange answers ---------------------------------------------------------------------
    def ack(self, cid: str) -> None:
        from athena.domain import OrderUpdate

        self.om.on_update(OrderUpdate(cid, BTC, OrderState.LIVE, ordId="o" + cid, source="ws"))

    def fill(
        self, cid: str, acc: str, px: str, state: OrderState = OrderState.FILLED, fee: str = "-0.02"
    ) -> None:
        from athena.domain import OrderUpdate

        order = self.om.get(cid)
        assert order is not None
        prev = order.accFillSz
        self.om.on_update(
            OrderUpdate(
                cid,
                BTC,
                state,
                ordId="o" + cid,
                accFillSz=D(acc),
                avgPx=D(px),
                fillSz=D(acc) - prev,
                fillPx=D(px),
                fillFee=D(fee),
                tradeId=f"t{cid}{acc}",
                execType="M",
                uTime=self.clock.now_ms(),
                source="ws",
            )
        )

    def end(self, cid: str, state: OrderState, msg: str = "") -> None:
        from athena.domain import OrderUpdate

        order = self.om.get(cid)
        assert order is not None
        self.om.on_update(
            OrderUpdate(
                cid,
                BTC,
                state,
                ordId="o" + cid,
                accFillSz=order.accFillSz,
                sMsg=msg or None,
                uTime=self.clock.now_ms(),
                source="ws",
            )
        )

    @property
    def sent(self) -> list[Any]:
        return self.sender.orders

    def slot(self) -> Any:
        return self.s.slots[BTC]


@pytest.fixture()
def h(redis_client: Any) -> Harness:
    return Harness(redis_client)


def open_long(h: Harness) -> str:
    h.warm_long()
    cid = h.sent[-1].clOrdId
    h.ack(cid)
    h.fill(cid, "1", "100000.0")
    return cid


# -- entries ------------------------------------------------------------------------------------
def test_long_entry_is_post_only_at_the_bid_with_stop_and_risk_sized(h: Harness) -> None:
    h.warm_long()
    assert len(h.sent) == 1
    req = h.sent[0]
    assert (req.side, req.ordType, req.px, req.sz) == (Side.BUY, OrdType.POST_ONLY, D("100000.0"), D("1"))
    assert req.stop_loss_px == D("99850.0") and req.take_profit_px == D("100100.0")
    assert not req.reduceOnly and req.strategy == "scalp"
    assert req.clOrdId == h.om.new_cl_ord_id("scalp", 1, BTC)  # deterministic per intent
    assert h.slot().pos == 0  # sent is not held: no phantom position


def test_short_entry_is_post_only_at_the_ask(h: Harness) -> None:
    h.warm_short()
    req = h.sent[0]
    assert (req.side, req.px, req.stop_loss_px, req.take_profit_px) == (
        Side.SELL,
        D("100000.1"),
        D("100150.2"),
        D("99900.0"),
    )


def test_size_follows_the_one_percent_rule_capped_by_the_risk_profile(redis_client: Any) -> None:
    h = Harness(redis_client, {"max_contracts": None})
    # equity 4000 (0.4 of 10000), 1% = 40 USDT; stop 150 away, 0.01 BTC per contract -> 26.66 contracts
    assert h.s.ctx.size_for_risk(BTC, D("100000.0"), D("99850.0")) == D("26.66")
    # ... but max_order_notional 5000 allows 5 contracts at 100000: the order is sized to pass the check
    assert h.s.ctx.max_contracts(BTC, D("100000.0")) == D("5")
    h.warm_long()
    assert h.s.stats["refused"] == 0 and h.sent[0].sz == D("5")


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"ask": "100000.4"}, "spread 4 ticks > 2"),
        ({"bid_sz": "5", "ask_sz": "5"}, "no imbalance"),
    ],
)
def test_no_entry_when_the_signal_does_not_qualify(h: Harness, kw: dict[str, str], why: str) -> None:
    h.trade("buy")
    h.trade("buy")
    for _ in range(4):
        h.book(**kw)
    assert not h.sent, why


def test_no_entry_when_flow_disagrees_or_too_few_trades(h: Harness) -> None:
    for _ in range(3):
        h.book()
    assert not h.sent  # 0 trades < min_trades
    h.trade("sell")
    h.trade("sell")
    h.book()
    assert not h.sent  # book says up, flow says down


def test_valve_one_entry_at_a_time_and_none_while_in_position(h: Harness) -> None:
    h.warm_long()
    for _ in range(5):
        h.book()
    assert len(h.sent) == 1  # entry working
    cid = h.sent[0].clOrdId
    h.ack(cid)
    h.fill(cid, "1", "100000.0")
    for _ in range(5):
        h.book()
    entries = [r for r in h.sent if not r.reduceOnly]
    assert len(entries) == 1 and h.slot().pos == D("1")


# -- entry timeout and partial fills ------------------------------------------------------------
def test_unfilled_entry_is_cancelled_after_timeout_then_a_new_entry_may_follow(h: Harness) -> None:
    h.warm_long()
    cid = h.sent[0].clOrdId
    h.ack(cid)
    h.advance(4_999)
    h.book()
    assert not h.sender.cancels
    h.advance(1)
    h.book()
    h.book()
    assert h.sender.cancels == [(BTC, cid)]  # once
    h.end(cid, OrderState.CANCELED)
    assert h.slot().entry_id is None
    h.book()
    assert len(h.sent) == 2 and h.sent[1].clOrdId != cid


def test_partial_fill_stop_covers_filled_size_rest_cancelled_then_tp_for_the_fills(h: Harness) -> None:
    h.warm_long()
    req = h.sent[0]
    cid = req.clOrdId
    h.ack(cid)
    h.fill(cid, "0.4", "100000.0", OrderState.PARTIALLY_FILLED)
    assert h.slot().pos == D("0.4")
    stop = h.sender.latest_stop(stop_id_for(cid))
    assert stop is not None and stop.sz == D("0.4") and stop.slTriggerPx == D("99850.0")
    h.advance(5_000)
    h.book()
    assert h.sender.cancels == [(BTC, cid)]
    h.end(cid, OrderState.CANCELED)
    h.book()
    tp = h.sent[-1]
    assert tp.reduceOnly and tp.ordType is OrdType.LIMIT and tp.side is Side.SELL
    assert (tp.px, tp.sz) == (D("100100.0"), D("0.4"))


# -- exits -------------------------------------------------------------------------------------
def test_take_profit_limit_then_flat_then_cooldown(h: Harness) -> None:
    cid = open_long(h)
    assert h.sender.latest_stop(stop_id_for(cid)).sz == D("1")  # type: ignore[union-attr]
    h.book()
    tp = h.sent[-1]
    assert tp.reduceOnly and (tp.px, tp.sz, tp.side) == (D("100100.0"), D("1"), Side.SELL)
    h.ack(tp.clOrdId)
    h.fill(tp.clOrdId, "1", "100100.0")
    assert h.slot().pos == 0 and h.s.stats["take_profits"] == 1
    assert h.slot().realized == D("100.0")
    n = len(h.sent)
    h.advance(9_000)
    h.warm_long()
    assert len(h.sent) == n  # cooldown
    h.advance(1_000)
    h.book()
    assert len(h.sent) == n + 1 and not h.sent[-1].reduceOnly


def test_take_profit_market_mode(redis_client: Any) -> None:
    h = Harness(redis_client, {"tp_mode": "market"})
    open_long(h)
    h.book()
    assert len(h.sent) == 1  # TP not reached, no limit order in market mode
    h.book(bid="100100.0", ask="100100.1")
    close = h.sent[-1]
    assert close.reduceOnly and close.ordType is OrdType.MARKET and close.px is None and close.sz == D("1")
    assert h.s.stats["take_profits"] == 1


def test_time_stop_cancels_tp_and_closes_at_market_once(h: Harness) -> None:
    open_long(h)
    h.book()
    tp = h.sent[-1]
    h.ack(tp.clOrdId)
    h.advance(30_000)
    h.book()
    h.book()
    close = h.sent[-1]
    assert close.ordType is OrdType.MARKET and close.reduceOnly and close.sz == D("1")
    assert (BTC, tp.clOrdId) in h.sender.cancels
    assert len([r for r in h.sent if r.ordType is OrdType.MARKET]) == 1  # the lock: no duplicate close
    h.end(tp.clOrdId, OrderState.CANCELED)
    h.ack(close.clOrdId)
    h.fill(close.clOrdId, "1", "99990.0", fee="-0.05")
    assert h.slot().pos == 0 and h.s.stats["time_stops"] == 1


def test_close_rejected_releases_the_lock_at_once_and_retries(h: Harness) -> None:
    open_long(h)
    h.advance(30_000)
    h.book()
    first = h.sent[-1]
    assert first.ordType is OrdType.MARKET
    h.end(first.clOrdId, OrderState.REJECTED, "51008 insufficient")
    assert h.slot().close_id is None
    h.book()  # well within the 10 s lock TTL: retried anyway because the failure released it
    second = h.sent[-1]
    assert second.ordType is OrdType.MARKET and second.clOrdId != first.clOrdId
    assert h.s.stats["close_failures"] == 1


def test_close_failing_repeatedly_is_reported_and_bounded(h: Harness) -> None:
    open_long(h)
    h.advance(30_000)
    for _ in range(8):
        h.book()
        last = h.sent[-1]
        if last.ordType is OrdType.MARKET and h.slot().close_id == last.clOrdId:
            h.end(last.clOrdId, OrderState.REJECTED, "nope")
    closes = [r for r in h.sent if r.ordType is OrdType.MARKET]
    assert len(closes) == 5  # max_close_retries
    assert any(e.get("message") == "close keeps failing" for e in h.stack.errors)


def test_close_lock_expires_after_its_ttl(h: Harness) -> None:
    lock = h.s.ctx.lock("x", 10_000)
    token = lock.acquire()
    assert token and lock.acquire() is None
    h.advance(10_000)
    assert lock.acquire() is not None  # nobody released it: it expired
    assert lock.release(token) is False  # the old holder cannot release the new one's lock


def test_stop_rejected_flattens_the_position(h: Harness) -> None:
    cid = open_long(h)
    h.stack.bus.publish(
        EventType.ERROR, {"kind": "stop_failed", "clOrdId": cid, "message": "51000 bad slTriggerPx"}
    )
    close = h.sent[-1]
    assert (
        close.ordType is OrdType.MARKET
        and close.reduceOnly
        and close.side is Side.SELL
        and close.sz == D("1")
    )
    assert h.s.stats["stop_flattens"] == 1


def test_stop_fill_flattens_the_strategy_via_oms_events(h: Harness) -> None:
    from athena.domain import OrderUpdate

    cid = open_long(h)
    sl = stop_id_for(cid)
    # the exchange's stop triggered: its order reaches the OMS under the stop's id
    h.om.on_update(
        OrderUpdate(
            sl,
            BTC,
            OrderState.FILLED,
            ordId="osl",
            accFillSz=D(1),
            avgPx=D("99850.0"),
            fillSz=D(1),
            fillPx=D("99850.0"),
            side=Side.SELL,
            sz=D(1),
            reduceOnly=True,
            ordType=OrdType.MARKET,
            source="ws",
        )
    )
    assert h.slot().pos == 0 and h.slot().realized == D("-150.0")


# -- market data edge cases ------------------------------------------------------------------------
def test_stale_one_sided_crossed_and_bookless_ticks_never_enter(h: Harness) -> None:
    h.trade("buy")
    h.trade("buy")
    for _ in range(3):
        h.book(ts=T0 - 5_000)  # stale
    assert h.s.stats["stale"] == 3 and not h.sent
    for _ in range(3):
        h.book(asks=())
    assert h.s.stats["one_sided"] == 3 and not h.sent
    for _ in range(3):
        h.book(bid="100000.2", ask="100000.1")
    assert h.s.stats["crossed"] == 3 and not h.sent
    h.trade("buy")
    assert h.s.stats["no_book"] == 3 and not h.sent
    for _ in range(3):
        h.book()
    assert len(h.sent) == 1  # the same strategy does enter once data is good


def test_time_stop_with_unknown_entry_time_closes_without_crashing(h: Harness) -> None:
    # the PositionManager reports a position this strategy never saw fill (exclusive instrument)
    h.stack.bus.publish(EventType.POSITION_UPDATE, Position(BTC, PosSide.NET, D("2"), D("100000")))
    assert h.slot().pos == D("2") and h.slot().opened_ms is None
    assert any(e.get("message") == "position mismatch" for e in h.stack.errors)
    h.book()
    close = h.sent[-1]
    assert close.ordType is OrdType.MARKET and close.reduceOnly and close.sz == D("2")


def test_refused_entry_clears_the_valve_and_backs_off_for_refusal_backoff_s(h: Harness) -> None:
    h.stack.halt.halt("test", "pytest")
    h.warm_long()
    assert not h.sent and h.s.stats["refused"] == 1 and h.slot().entry_id is None
    h.book()
    h.book()
    assert h.s.stats["refused"] == 1  # not asked again on every tick (no Redis round trips, no clOrdIds)
    h.stack.halt.resume("pytest")
    h.advance(999)
    h.book()
    assert not h.sent
    h.advance(1)  # refusal_backoff_s default 1
    h.book()
    assert len(h.sent) == 1


def test_refusal_backoff_from_config(redis_client: Any) -> None:
    h = Harness(redis_client, {"refusal_backoff_s": "0"})
    h.stack.halt.halt("test", "pytest")
    h.warm_long()
    h.book()
    assert h.s.stats["refused"] == 2  # no backoff: every qualifying tick asks
    h.stack.halt.resume("pytest")
    h.book()
    assert len(h.sent) == 1


def test_entry_is_capped_by_the_profiles_max_position_and_free_allocation(redis_client: Any) -> None:
    h = Harness(redis_client, {"max_contracts": None, "stop_loss_bps": "1"})
    ctx = h.s.ctx
    # 1% of 4000 over a 10 px stop = 400 contracts; max_order_notional 5000 -> 5; max_position 50
    assert ctx.size_for_risk(BTC, D("100000.0"), D("99990.0")) == D("400")
    assert ctx.max_contracts(BTC, D("100000.0")) == D("5")
    assert ctx.max_contracts(BTC, D("1000.0")) == D("50")  # at a low px the position limit binds
    # free allocation: reserve most of it elsewhere; leverage 3 x what is left bounds the entry
    h.stack.capital.reserve("scalp", "other1", D("3900"), D(1))
    assert ctx.max_contracts(BTC, D("100000.0")) == D("0.3")  # 3 x 100 free = 300 USDT = 0.3 contracts
    h.warm_long()
    assert h.sent[0].sz == D("0.3") and h.s.stats["refused"] == 0


def test_post_only_rejected_by_exchange_leaves_no_position(h: Harness) -> None:
    h.warm_long()
    cid = h.sent[0].clOrdId
    h.end(cid, OrderState.REJECTED, "51026 post only would take")
    assert h.slot().entry_id is None and h.slot().pos == 0
    h.book()
    assert len(h.sent) == 2


# -- params --------------------------------------------------------------------------------------
def test_unknown_or_wrong_param_names_strategy_and_key(redis_client: Any) -> None:
    # Settings refuse them before any strategy is built (athena.strategies.loader.validate) ...
    with pytest.raises(
        ValueError, match=r"params\.imbalance_treshold: strategy 'scalp' \(ScalperV1\) has no parameter"
    ):
        Harness(redis_client, {"imbalance_treshold": "0.3"})
    with pytest.raises(
        ValueError, match=r"params\.levels: strategy 'scalp' \(ScalperV1\): Input should be a valid integer"
    ):
        Harness(redis_client, {"levels": "many"})
    # ... and the constructor checks the same model
    with pytest.raises(StrategyParamError, match=r"'scalp'.*params\.imbalance_treshold: unknown param"):
        ScalperV1("scalp", ["BTC-USDT-SWAP"], {"imbalance_treshold": "0.3"}, ctx=None)  # type: ignore[arg-type]


# -- thresholds come from config (boundaries: >= threshold enters, just short of it does not) ------------
@pytest.mark.parametrize(
    ("bid_sz", "ask_sz", "enters"),
    [
        ("13", "7", True),
        ("13", "7.05", False),
    ],  # imbalance (65-35)/100 = 0.3 exactly; (65-35.25)/100.25 < 0.3
)
def test_imbalance_threshold_boundary(h: Harness, bid_sz: str, ask_sz: str, enters: bool) -> None:
    h.trade("buy")
    h.trade("buy")
    for _ in range(3):
        h.book(bid_sz=bid_sz, ask_sz=ask_sz)
    assert bool(h.sent) is enters


@pytest.mark.parametrize(("ask", "enters"), [("100000.2", True), ("100000.3", False)])  # 2 ticks ok, 3 not
def test_spread_threshold_boundary(h: Harness, ask: str, enters: bool) -> None:
    h.trade("buy")
    h.trade("buy")
    for _ in range(3):
        h.book(ask=ask)
    assert bool(h.sent) is enters


@pytest.mark.parametrize(("buy", "sell", "enters"), [("0.6", "0.4", True), ("0.59", "0.41", False)])
def test_flow_threshold_boundary(h: Harness, buy: str, sell: str, enters: bool) -> None:
    h.trade("buy", buy)  # flow (buy - sell) / volume: 0.2 exactly vs 0.18
    h.trade("sell", sell)
    for _ in range(3):
        h.book()
    assert bool(h.sent) is enters


def test_levels_param_decides_which_depth_counts(redis_client: Any) -> None:
    tick = D("0.1")
    # top level balanced, deeper bid levels heavy: 5 levels say buy, 1 level says nothing
    bids = tuple(Level(D("100000.0") - tick * i, D("5") if i == 0 else D("20")) for i in range(5))
    asks = tuple(Level(D("100000.1") + tick * i, D("5")) for i in range(5))
    for levels, enters in ((5, True), (1, False)):
        redis_client.flushdb()
        h = Harness(redis_client, {"levels": levels})
        h.trade("buy")
        h.trade("buy")
        for _ in range(3):
            h.book(bids=bids, asks=asks)
        assert bool(h.sent) is enters, levels


def test_thresholds_from_config_change_tp_stop_timeout_time_stop_and_cooldown(redis_client: Any) -> None:
    h = Harness(
        redis_client,
        {
            "take_profit_bps": "20",
            "stop_loss_bps": "5",
            "entry_timeout_s": "2",
            "time_stop_s": "7",
            "cooldown_s": "3",
            "imbalance_threshold": "0.7",
        },
    )
    h.warm_long()
    assert not h.sent  # imbalance 0.667 < 0.7
    h.book(bid_sz="20", ask_sz="2")
    h.book(bid_sz="20", ask_sz="2")
    h.book(bid_sz="20", ask_sz="2")  # window of 3 now all (100-10)/110 = 0.82
    req = h.sent[0]
    assert (req.take_profit_px, req.stop_loss_px) == (D("100200.0"), D("99950.0"))
    h.ack(req.clOrdId)
    h.advance(2_000)
    h.book()
    assert h.sender.cancels == [(BTC, req.clOrdId)]  # entry_timeout_s 2
    h.fill(req.clOrdId, "1", "100000.0")  # filled while the cancel was on its way: a position anyway
    h.book()
    tp = h.sent[-1]
    assert tp.reduceOnly and tp.px == D("100200.0")
    h.ack(tp.clOrdId)
    h.advance(6_999)
    h.book()
    assert h.sent[-1] is tp
    h.advance(1)
    h.book()  # time_stop_s 7
    close = h.sent[-1]
    assert close.ordType is OrdType.MARKET and close.reduceOnly
    h.ack(close.clOrdId)
    h.fill(close.clOrdId, "1", "100000.0")
    h.end(tp.clOrdId, OrderState.CANCELED)
    n = len(h.sent)
    h.advance(2_999)
    h.warm_long()
    assert len(h.sent) == n  # cooldown_s 3
    h.advance(1)
    h.book(bid_sz="20", ask_sz="2")
    h.book(bid_sz="20", ask_sz="2")
    h.book(bid_sz="20", ask_sz="2")
    assert len(h.sent) == n + 1 and not h.sent[-1].reduceOnly


def test_risk_per_trade_from_config_sizes_the_entry(redis_client: Any) -> None:
    h = Harness(redis_client, {"max_contracts": None}, risk=RiskSettings(risk_per_trade=D("0.005")))
    # equity 4000 x 0.5% = 20 USDT over a 150 px stop at 0.01 BTC/contract -> 13.33 contracts
    assert h.s.ctx.size_for_risk(BTC, D("100000.0"), D("99850.0")) == D("13.33")


# -- one-way valve: no entry while any order of ours is working here ------------------------------------
def test_valve_stays_shut_while_the_take_profit_or_close_is_working(h: Harness) -> None:
    cid = open_long(h)
    h.book()
    tp = h.sent[-1]
    assert tp.reduceOnly
    h.ack(tp.clOrdId)
    h.fill(tp.clOrdId, "1", "100100.0")  # flat by the TP
    h.advance(10_000)
    h.warm_long()
    entries = [r for r in h.sent if not r.reduceOnly]
    assert len(entries) == 2 and entries[0].clOrdId == cid


# -- stop rejected: flatten at once, reduce-only, whatever else is going on ------------------------------
def test_stop_rejected_on_a_partial_fill_cancels_the_rest_and_closes_the_filled_part(h: Harness) -> None:
    h.warm_long()
    cid = h.sent[0].clOrdId
    h.ack(cid)
    h.fill(cid, "0.4", "100000.0", OrderState.PARTIALLY_FILLED)
    h.stack.bus.publish(
        EventType.ERROR, {"kind": "stop_failed", "clOrdId": cid, "message": "51277 trigger crossed"}
    )
    close = h.sent[-1]
    assert (
        close.reduceOnly
        and close.ordType is OrdType.MARKET
        and close.sz == D("0.4")
        and close.side is Side.SELL
    )
    assert (BTC, cid) in h.sender.cancels  # the rest of the entry must not add to an unprotected position
    assert any(e.get("message") == "stop failed, flattening" for e in h.stack.errors)


def test_stop_rejected_before_the_fill_reached_us_closes_when_it_does(h: Harness) -> None:
    h.warm_long()
    cid = h.sent[0].clOrdId
    h.ack(cid)
    h.stack.bus.publish(EventType.ERROR, {"kind": "stop_failed", "clOrdId": cid, "message": "rejected"})
    assert len(h.sent) == 1  # nothing held yet: nothing to close
    h.fill(cid, "1", "100000.0")
    close = h.sent[-1]
    assert close.reduceOnly and close.ordType is OrdType.MARKET and close.sz == D("1")


def test_stop_rejected_flatten_is_retried_every_tick_until_flat(h: Harness) -> None:
    cid = open_long(h)
    h.stack.bus.publish(EventType.ERROR, {"kind": "stop_failed", "clOrdId": cid, "message": "rejected"})
    first = h.sent[-1]
    h.end(first.clOrdId, OrderState.REJECTED, "50001 service busy")
    h.book()  # no time stop due, no TP: retried only because the position is unprotected
    second = h.sent[-1]
    assert second.ordType is OrdType.MARKET and second.reduceOnly and second.clOrdId != first.clOrdId
    assert not [r for r in h.sent if r.reduceOnly and r.ordType is OrdType.LIMIT]  # no TP for it
    h.ack(second.clOrdId)
    h.fill(second.clOrdId, "1", "99990.0")
    assert h.slot().pos == 0 and not h.slot().unprotected


def test_stop_rejected_for_an_entry_that_never_filled_leaves_no_trace(h: Harness) -> None:
    h.warm_long()
    cid = h.sent[0].clOrdId
    h.stack.bus.publish(EventType.ERROR, {"kind": "stop_failed", "clOrdId": cid, "message": "rejected"})
    h.end(cid, OrderState.CANCELED)
    assert not h.slot().unprotected
    h.book()
    nxt = h.sent[-1]
    assert nxt.clOrdId != cid and not nxt.reduceOnly
    h.ack(nxt.clOrdId)
    h.fill(nxt.clOrdId, "1", "100000.0")
    assert h.sent[-1] is nxt  # a new, protected position is not flattened


# -- close lock: TTL = cooldown_s, held after a close, released at once on failure -----------------------
def test_close_lock_is_held_for_its_ttl_after_a_close_and_released_at_once_on_failure(h: Harness) -> None:
    key = f"scalp:close:{BTC}"
    open_long(h)
    h.advance(30_000)
    h.book()
    close = h.sent[-1]
    assert h.stack.locks.held(key)
    h.end(close.clOrdId, OrderState.CANCELED, "canceled by the exchange")
    assert not h.stack.locks.held(key)  # a failure frees it at once
    h.book()
    close = h.sent[-1]
    h.ack(close.clOrdId)
    h.fill(close.clOrdId, "1", "99990.0")
    assert h.stack.locks.held(key)  # after a close, the lock is the cooldown ...
    h.advance(9_999)
    assert h.stack.locks.held(key)
    h.advance(1)
    assert not h.stack.locks.held(key)  # ... and it expires by itself: never dead-locked


def test_a_close_waits_while_someone_else_holds_the_close_lock(redis_client: Any) -> None:
    """E.g. the process before a restart took it: no duplicate close until its TTL has passed."""
    h = Harness(redis_client, {"time_stop_s": "1"})
    other = h.stack.locks.lock(f"scalp:close:{BTC}", 10_000)
    assert other.acquire() is not None  # held until T0 + 10 s
    open_long(h)
    h.advance(1_000)
    h.book()  # the time stop is due but the lock is taken
    assert len(h.sent) == 1
    h.advance(8_999)
    h.book()
    assert len(h.sent) == 1
    h.advance(1)
    h.book()
    close = h.sent[-1]
    assert close.reduceOnly and close.ordType is OrdType.MARKET and h.s.stats["time_stops"] == 1


# -- pause (per strategy) and halt (global): no new entries, exits still managed -----------------------
def test_paused_strategy_opens_nothing_but_still_manages_its_position(h: Harness) -> None:
    cid = open_long(h)
    assert h.stack.pause.pause("scalp", "test", "pytest") is True
    assert h.stack.pause.pause("scalp", "again") is False  # first reason kept
    assert h.stack.pause.paused()["scalp"]["reason"] == "test"
    h.book()
    tp = h.sent[-1]
    assert tp.reduceOnly and tp.ordType is OrdType.LIMIT  # the TP still goes
    h.ack(tp.clOrdId)
    h.advance(30_000)
    h.book()
    close = h.sent[-1]
    assert close.reduceOnly and close.ordType is OrdType.MARKET  # so does the time stop
    h.end(tp.clOrdId, OrderState.CANCELED)
    h.ack(close.clOrdId)
    h.fill(close.clOrdId, "1", "100000.0")
    assert h.slot().pos == 0
    n = len(h.sent)
    h.advance(10_000)
    h.warm_long()
    h.warm_long()
    assert len(h.sent) == n and h.s.stats["paused"] >= 1  # no entry while paused
    assert [r.clOrdId for r in h.sent if not r.reduceOnly] == [cid]
    h.stack.pause.resume("scalp")
    h.advance(1_000)  # the paused check backs off like a refusal
    h.book()
    assert len(h.sent) == n + 1 and not h.sent[-1].reduceOnly


def test_pause_is_enforced_by_the_context_for_any_strategy(h: Harness) -> None:
    h.stack.pause.pause("scalp")
    intent = h.s.ctx.buy(BTC, D(1), D("100000.0"), post_only=True)
    assert not intent.ok and intent.reason == "paused" and not h.sent
    out = h.s.ctx.close(BTC, Side.SELL, D(1))  # reduce-only still goes (risk checked with bypass)
    assert out.ok and h.sent[-1].reduceOnly
    h.stack.pause.pause("other")
    assert h.stack.pause.resume("other") is True and h.stack.pause.resume("other") is False


def test_pause_of_one_strategy_does_not_pause_another(redis_client: Any) -> None:
    h = Harness(redis_client)
    h.stack.pause.pause("someone")
    h.warm_long()
    assert len(h.sent) == 1


def test_halted_strategy_still_takes_profit_time_stops_and_flattens(h: Harness) -> None:
    cid = open_long(h)
    h.stack.halt.halt("drawdown", "pytest")
    h.book()
    tp = h.sent[-1]
    assert tp.reduceOnly and tp.ordType is OrdType.LIMIT
    h.ack(tp.clOrdId)
    h.stack.bus.publish(EventType.ERROR, {"kind": "stop_failed", "clOrdId": cid, "message": "rejected"})
    close = h.sent[-1]
    assert close.reduceOnly and close.ordType is OrdType.MARKET and close.sz == D(1)
    assert (BTC, tp.clOrdId) in h.sender.cancels


# -- positions come from OMS events; the PositionManager's view is checked against them -----------------
def test_mismatch_while_an_order_is_in_flight_is_reported_but_not_adopted(h: Harness) -> None:
    h.warm_long()
    h.stack.bus.publish(EventType.POSITION_UPDATE, Position(BTC, PosSide.NET, D("1"), D("100000")))
    assert any(e.get("message") == "position mismatch" for e in h.stack.errors)
    assert h.slot().pos == 0  # the entry's own fill will tell
    h.book()
    assert len(h.sent) == 1  # and the valve stays shut: the OMS sees a position here


def test_oms_says_flat_while_the_strategy_thinks_long_then_flat_wins(h: Harness) -> None:
    open_long(h)
    h.book()
    tp = h.sent[-1]
    h.ack(tp.clOrdId)
    h.stack.bus.publish(EventType.POSITION_UPDATE, Position(BTC, PosSide.NET, D("0"), None))
    assert h.slot().pos == 0 and h.s.stats["mismatches"] == 1
    assert (BTC, tp.clOrdId) in h.sender.cancels  # its TP is now a ghost
    errs = [e for e in h.stack.errors if e.get("message") == "position mismatch"]
    assert errs and errs[0]["strategy_pos"] == "1" and errs[0]["oms_pos"] == "0"


def test_agreeing_position_is_no_error(h: Harness) -> None:
    open_long(h)
    h.stack.bus.publish(EventType.POSITION_UPDATE, Position(BTC, PosSide.NET, D("1"), D("100000.0")))
    assert h.s.stats["mismatches"] == 0 and not h.stack.errors


def test_a_partial_stop_fill_resizes_the_resting_take_profit(h: Harness) -> None:
    from athena.domain import OrderUpdate

    cid = open_long(h)
    h.book()
    tp = h.sent[-1]
    h.ack(tp.clOrdId)
    sl = stop_id_for(cid)
    h.om.on_update(
        OrderUpdate(
            sl,
            BTC,
            OrderState.PARTIALLY_FILLED,
            ordId="osl",
            accFillSz=D("0.4"),
            avgPx=D("99850.0"),
            fillSz=D("0.4"),
            fillPx=D("99850.0"),
            side=Side.SELL,
            sz=D(1),
            reduceOnly=True,
            ordType=OrdType.MARKET,
            source="ws",
        )
    )
    assert h.slot().pos == D("0.6")
    assert (BTC, tp.clOrdId) in h.sender.cancels  # a TP for 1 would over-close a position of 0.6
    h.end(tp.clOrdId, OrderState.CANCELED)
    h.book()
    new_tp = h.sent[-1]
    assert new_tp.reduceOnly and new_tp.ordType is OrdType.LIMIT and new_tp.sz == D("0.6")


# -- a submit that raises (a Redis error inside it) is a refusal: nothing stays wedged -----------------
def fail_submits(h: Harness, monkeypatch: pytest.MonkeyPatch, n: int) -> list[str]:
    """The OMS's submit raises redis.ConnectionError on its next n calls, as a Redis outage makes it."""
    import redis

    calls: list[str] = []
    real = h.om.submit

    def submit(req: Any) -> Any:
        calls.append(req.clOrdId)
        if len(calls) <= n:
            raise redis.ConnectionError("Connection reset by peer")
        return real(req)

    monkeypatch.setattr(h.om, "submit", submit)
    return calls


def raised_logs(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [
        r
        for r in caplog.records
        if r.name == "athena.strategies.scalper_v1"
        and r.exc_info
        and type(r.exc_info[1]).__name__ == "ConnectionError"
    ]


def test_a_close_that_raises_frees_the_slot_and_its_lock_and_is_retried(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="athena.strategies.scalper_v1")
    key = f"scalp:close:{BTC}"
    open_long(h)
    calls = fail_submits(h, monkeypatch, 2)
    h.advance(30_000)
    h.book()  # the time stop's close raises
    assert len(calls) == 1 and h.slot().close_id is None and h.slot().close_token is None
    assert not h.stack.locks.held(key)  # released at once, as a refused close's lock is
    assert h.s.stats["close_failures"] == 1 and len(raised_logs(caplog)) == 1
    h.book()  # retried on the next tick, raises again
    assert len(calls) == 2 and h.s.stats["close_failures"] == 2 and not h.stack.locks.held(key)
    h.book()  # Redis is back: the close goes
    close = h.sent[-1]
    assert len(calls) == 3 and close.reduceOnly and close.ordType is OrdType.MARKET and close.sz == D("1")
    assert h.slot().close_id == close.clOrdId and h.stack.locks.held(key)
    h.ack(close.clOrdId)
    h.fill(close.clOrdId, "1", "99990.0")
    assert h.slot().pos == 0
    h.advance(10_000)  # cooldown_s
    h.warm_long()
    entry = h.sent[-1]
    assert not entry.reduceOnly and h.slot().entry_id == entry.clOrdId  # entries resume


def test_a_close_that_keeps_raising_counts_toward_max_close_retries(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="athena.strategies.scalper_v1")
    open_long(h)
    calls = fail_submits(h, monkeypatch, 100)
    h.advance(30_000)
    for _ in range(8):
        h.book()
    assert len(calls) == 5 and h.s.stats["close_failures"] == 5  # max_close_retries, then no more tries
    assert any(e.get("message") == "close keeps failing" for e in h.stack.errors)
    assert len(raised_logs(caplog)) == 5


def test_an_entry_that_raises_frees_the_slot_and_entries_resume(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="athena.strategies.scalper_v1")
    calls = fail_submits(h, monkeypatch, 1)
    h.warm_long()  # the entry raises
    slot = h.slot()
    assert len(calls) == 1 and not h.sent and slot.entry_id is None and slot.stop_px is None
    assert h.s.stats["refused"] == 1 and len(raised_logs(caplog)) == 1
    h.advance(1_000)  # refusal_backoff_s
    h.book()
    assert len(calls) == 2 and len(h.sent) == 1 and slot.entry_id == h.sent[0].clOrdId


def test_a_take_profit_that_raises_does_not_shut_the_valve(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="athena.strategies.scalper_v1")
    open_long(h)
    calls = fail_submits(h, monkeypatch, 1)
    h.book()  # the take-profit raises
    assert len(calls) == 1 and h.slot().tp_id is None and len(raised_logs(caplog)) == 1
    h.advance(30_000)
    h.book()  # the time stop closes it
    close = h.sent[-1]
    assert close.reduceOnly and close.ordType is OrdType.MARKET
    h.ack(close.clOrdId)
    h.fill(close.clOrdId, "1", "99990.0")
    h.advance(10_000)
    h.warm_long()
    assert not h.sent[-1].reduceOnly and h.slot().entry_id == h.sent[-1].clOrdId


def test_a_cancel_that_raises_is_asked_again_and_never_holds_a_close_back(
    h: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    caplog.set_level("WARNING", logger="athena.strategies.scalper_v1")
    real, failing = h.om.cancel, [2]

    def cancel(cid: str) -> Any:
        if failing[0] > 0:
            failing[0] -= 1
            raise redis.ConnectionError("Connection reset by peer")
        return real(cid)

    monkeypatch.setattr(h.om, "cancel", cancel)
    h.warm_long()
    entry = h.sent[-1]
    h.advance(5_000)  # entry_timeout_s
    h.book()  # its cancel raises ...
    assert not h.sender.cancels and not h.slot().entry_cancel_sent
    h.book()  # ... and is asked again on the next tick, raising again
    h.book()
    assert h.sender.cancels == [(BTC, entry.clOrdId)] and len(raised_logs(caplog)) == 2
    h.end(entry.clOrdId, OrderState.CANCELED)
    cid = open_long(h)
    h.book()
    tp = h.sent[-1]
    h.ack(tp.clOrdId)
    failing[0] = 1
    h.advance(30_000)
    h.book()  # the time stop: the TP's cancel raises, the close still goes
    close = h.sent[-1]
    assert cid != close.clOrdId and close.reduceOnly and close.ordType is OrdType.MARKET
    assert h.slot().close_id == close.clOrdId


# -- the fee gate: no entry whose take profit does not pay the round trip's fees ------------------------
def _store_tier(h: Harness, maker: str, taker: str) -> None:
    """What the pre-flight stores from GET /account/trade-fee (OKX's sign: negative = paid)."""
    import orjson

    from athena.okx.types import TradeFee

    tier = TradeFee("SWAP", "Lv1", D(maker), D(taker), makerU=D(maker), takerU=D(taker))
    h.stack.redis.set(h.stack.keys.trade_fee, orjson.dumps(tier, default=str))


@pytest.mark.parametrize(
    ("params", "tier", "enters"),
    [
        # config's fees (0.02% maker): 4 bps TP == maker in + maker out: nothing left, no entry
        ({"take_profit_bps": "4"}, None, False),
        ({"take_profit_bps": "4.1"}, None, True),
        # the exchange's tier wins over config: a maker rebate makes a 4 bps TP worth taking
        ({"take_profit_bps": "4"}, ("0.0001", "-0.0005"), True),
        # a market TP pays the taker rate on the way out: 2 + 5 bps > 6 bps
        ({"take_profit_bps": "6", "tp_mode": "market"}, ("-0.0002", "-0.0005"), False),
        ({"take_profit_bps": "8", "tp_mode": "market"}, ("-0.0002", "-0.0005"), True),
        # min_edge_bps on top of the fees; fee_gate off lets anything through
        ({"take_profit_bps": "6", "min_edge_bps": "2"}, None, False),
        ({"take_profit_bps": "2", "fee_gate": False}, None, True),
    ],
)
def test_fee_gate_skips_entries_whose_take_profit_does_not_cover_the_round_trip(
    redis_client: Any, params: dict[str, Any], tier: tuple[str, str] | None, enters: bool
) -> None:
    h = Harness(redis_client, params)
    if tier is not None:
        _store_tier(h, *tier)
    h.warm_long()
    assert (len(h.sent) == 1) is enters, h.s.stats
    assert h.s.stats["fee_gate"] == (0 if enters else 1)  # counted once: the valve backs off after a skip
    if not enters:
        h.book()
        assert h.s.stats["fee_gate"] == 1 and not h.sent
