"""A NautilusTrader TradingNode (OKX adapter) trading a script against the simulator.

Run by tests/conformance/test_nautilus.py with the Python >= 3.12 interpreter of `.venv-nautilus`
(NautilusTrader does not run on the project's Python): `python nautilus_node.py HTTP_URL WS_URL EVENTS_FILE`.
The API key, secret and passphrase come from OKX_API_KEY / OKX_API_SECRET / OKX_API_PASSPHRASE (never argv).
Every Nautilus event the strategy sees goes to EVENTS_FILE as one JSON object per line; the test asserts them.

The script, one step after the other (each waits for Nautilus's own events of the previous one):
  post-only limit buy far below the market, amended (WS `amend-order`), cancelled (WS `cancel-order`);
  a post-only buy above the ask (OKX cancels it: it would take);
  two post-only buys cancelled together (WS `batch-cancel-orders`);
  a market buy the exchange refuses (the sim's reject_orders fault: per-item sCode 51008, code "1");
  market buy (WS `order`) -> position opened; a stop-market sell (REST `order-algo`, the adapter's only
  route for conditional orders; OKX confirms on the business `orders-algo` channel), cancelled;
  reduce-only market sell -> position closed.
"""

from __future__ import annotations

import json
import sys
import traceback
import urllib.request
from decimal import Decimal
from typing import Any

from nautilus_trader.adapters.okx import (
    OKX,
    OKX_VENUE,
    OKXDataClientConfig,
    OKXExecClientConfig,
    OKXLiveDataClientFactory,
    OKXLiveExecClientFactory,
)
from nautilus_trader.config import InstrumentProviderConfig, LoggingConfig, StrategyConfig, TradingNodeConfig
from nautilus_trader.core.nautilus_pyo3 import OKXContractType, OKXInstrumentType, OKXMarginMode
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import OrderBookDeltas, QuoteTick, TradeTick
from nautilus_trader.model.enums import (
    BookType,
    OrderSide,
    TriggerType,
    aggressor_side_to_str,
    liquidity_side_to_str,
    order_side_to_str,
    position_side_to_str,
)
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.orders import Order
from nautilus_trader.trading.strategy import Strategy

BTC = InstrumentId.from_str("BTC-USDT-SWAP.OKX")
DEADLINE_S = 45.0  # the node stops by itself after this long, whatever happened
# Prices this many ticks (0.5 % for BTC) from the touch: the synthetic market (about 20 ticks a 100 ms step)
# cannot reach them while the script runs, so resting orders rest, the stop stays untriggered and the
# post-only buy above the ask would always take.
FAR = 5000
TERMINAL = {"OrderCanceled", "OrderRejected", "OrderFilled", "OrderDenied", "OrderExpired"}


class Script(Strategy):
    def __init__(self, out: Any, stop: Any, sim_url: str) -> None:
        # OKX clOrdIds are alphanumeric: Nautilus's default ids carry hyphens (OKX answers 51000 clOrdId)
        super().__init__(StrategyConfig(use_hyphens_in_client_order_ids=False))
        self.out, self.stop_node, self.sim_url = out, stop, sim_url
        self.labels: dict[ClientOrderId, str] = {}
        self.acted: set[str] = set()  # "<label>:<action>" done once (Nautilus may report an event twice)
        self.seen = {"quotes": 0, "trades": 0, "books": 0}
        self.batch: list[Order] = []
        self.started = False
        self.closed = False

    # -- output ----------------------------------------------------------------------------
    def emit(self, kind: str, **kw: Any) -> None:
        self.out.write(json.dumps({"kind": kind, **kw}, default=str) + "\n")
        self.out.flush()

    def once(self, key: str) -> bool:
        if key in self.acted:
            return False
        self.acted.add(key)
        return True

    @property
    def inst(self) -> Instrument:
        inst = self.cache.instrument(BTC)
        assert inst is not None
        return inst

    # -- market data -------------------------------------------------------------------------
    def on_start(self) -> None:
        i = self.inst
        self.emit(
            "instrument",
            id=str(i.id),
            count=len(self.cache.instruments(venue=OKX_VENUE)),
            price_increment=str(i.price_increment),
            size_increment=str(i.size_increment),
            multiplier=str(i.multiplier),
            maker_fee=str(i.maker_fee),
            taker_fee=str(i.taker_fee),
        )
        self.subscribe_order_book_deltas(BTC, BookType.L2_MBP)
        self.subscribe_quote_ticks(BTC)
        self.subscribe_trade_ticks(BTC)

    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        self.seen["books"] += 1
        if self.seen["books"] == 1:
            self.emit("book", deltas=len(deltas.deltas))

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.seen["trades"] += 1
        if self.seen["trades"] == 1:
            self.emit(
                "trade",
                price=str(tick.price),
                size=str(tick.size),
                aggressor=aggressor_side_to_str(tick.aggressor_side),
            )
        self.finish_when_done()

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.seen["quotes"] += 1
        if self.seen["quotes"] == 1:
            self.emit("quote", bid=str(tick.bid_price), ask=str(tick.ask_price))
        if not self.started and self.seen["books"]:
            self.started = True
            book = self.cache.order_book(BTC)
            self.emit(
                "book_top",
                bid=str(book.best_bid_price()),
                ask=str(book.best_ask_price()),
                levels=len(book.bids()) + len(book.asks()),
            )
            self.place_limit("rest", self.away(-FAR), post_only=True)

    # -- helpers -------------------------------------------------------------------------------
    def away(self, ticks: int) -> Any:
        """A price `ticks` ticks from the touch (below the bid if negative, above the ask if positive)."""
        q = self.cache.quote_tick(BTC)
        inc = self.inst.price_increment.as_decimal()
        base = q.bid_price.as_decimal() if ticks < 0 else q.ask_price.as_decimal()
        return self.inst.make_price(base + inc * ticks)

    def track(self, label: str, order: Order) -> Order:
        self.labels[order.client_order_id] = label
        extra = {"trigger_price": str(order.trigger_price)} if order.has_trigger_price else {}
        self.emit("placed", label=label, client_order_id=str(order.client_order_id), **extra)
        return order

    def place_limit(self, label: str, price: Any, post_only: bool) -> Order:
        o = self.order_factory.limit(
            BTC, OrderSide.BUY, self.inst.make_qty(Decimal("0.01")), price, post_only=post_only
        )
        self.submit_order(self.track(label, o))
        return o

    def market(self, label: str, side: OrderSide, reduce_only: bool = False) -> None:
        o = self.order_factory.market(BTC, side, self.inst.make_qty(Decimal("0.02")), reduce_only=reduce_only)
        self.submit_order(self.track(label, o))

    def sim_admin(self, path: str, body: dict[str, Any]) -> None:
        """The sim's admin API (loopback, unauthenticated): arm a fault for the next step."""
        req = urllib.request.Request(
            f"{self.sim_url}/sim/{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()

    # -- the script ------------------------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        name = type(event).__name__
        cid = getattr(event, "client_order_id", None)
        label = self.labels.get(cid, "") if cid is not None else ""
        rec: dict[str, Any] = {"type": name, "label": label}
        for f in (
            "venue_order_id",
            "reason",
            "due_post_only",
            "last_px",
            "last_qty",
            "price",
            "quantity",
            "trigger_price",
            "signed_qty",
            "realized_pnl",
        ):
            v = getattr(event, f, None)
            if v is not None:
                rec[f] = str(v)
        if getattr(event, "liquidity_side", None) is not None:
            rec["liquidity_side"] = liquidity_side_to_str(event.liquidity_side)
        if getattr(event, "side", None) is not None:
            rec["side"] = (position_side_to_str if name.startswith("Position") else order_side_to_str)(
                event.side
            )
        commission = getattr(event, "commission", None)
        if commission is not None:
            rec["commission"] = str(commission.as_decimal())
            rec["commission_ccy"] = str(commission.currency)
        self.emit("event", **rec)
        try:
            self.step(name, label, event)
        except Exception:
            self.emit("error", where=f"{name}/{label}", trace=traceback.format_exc())
            self.stop_node()

    def step(self, name: str, label: str, event: Any) -> None:
        order = self.cache.order(event.client_order_id) if hasattr(event, "client_order_id") else None
        if label == "rest" and name == "OrderAccepted" and self.once("rest:amend"):
            self.modify_order(order, price=self.away(-FAR - 10))
        elif label == "rest" and name == "OrderUpdated" and self.once("rest:cancel"):
            self.cancel_order(order)
        elif label == "rest" and name == "OrderCanceled" and self.once("rest:next"):
            self.place_limit("taker_post_only", self.away(FAR), post_only=True)
        elif label == "taker_post_only" and name in TERMINAL and self.once("tpo:next"):
            self.batch = [
                self.place_limit("batch_a", self.away(-FAR), True),
                self.place_limit("batch_b", self.away(-FAR - 1), True),
            ]
        elif label.startswith("batch_") and name == "OrderAccepted":
            self.once(label)
            if {"batch_a", "batch_b"} <= self.acted and self.once("batch:cancel"):
                self.cancel_orders(self.batch)
        elif label.startswith("batch_") and name == "OrderCanceled":
            self.once(f"{label}:canceled")
            if {"batch_a:canceled", "batch_b:canceled"} <= self.acted and self.once("batch:next"):
                self.sim_admin("faults", {"reject_orders": 1, "reject_code": "51008"})
                self.market("refused", OrderSide.BUY)
        elif label == "refused" and name in TERMINAL and self.once("refused:next"):
            self.market("open", OrderSide.BUY)
        elif name == "PositionOpened" and self.once("stop:place"):
            stop = self.order_factory.stop_market(
                BTC,
                OrderSide.SELL,
                self.inst.make_qty(Decimal("0.02")),
                self.away(-FAR),
                trigger_type=TriggerType.LAST_PRICE,
                reduce_only=True,
            )
            self.submit_order(self.track("stop", stop))
        elif label == "stop" and name == "OrderAccepted" and self.once("stop:cancel"):
            self.cancel_order(order)
        elif label == "stop" and name == "OrderCanceled" and self.once("stop:next"):
            self.market("close", OrderSide.SELL, reduce_only=True)
        elif name == "PositionClosed":
            self.closed = True
            self.finish_when_done()

    def finish_when_done(self) -> None:
        if self.closed and self.seen["trades"] and self.once("done"):
            self.emit("done", seen=self.seen)
            self.stop_node()

    def on_stop(self) -> None:
        self.emit("stopped")


def main(http_url: str, ws_url: str, events_path: str) -> int:
    creds: dict[str, Any] = {
        "instrument_types": (OKXInstrumentType.SWAP,),
        "contract_types": (OKXContractType.LINEAR,),
        "base_url_http": http_url,
        "instrument_provider": InstrumentProviderConfig(load_all=True),
    }
    config = TradingNodeConfig(
        logging=LoggingConfig(log_level="WARNING"),
        data_clients={OKX: OKXDataClientConfig(base_url_ws=f"{ws_url}/ws/v5/public", **creds)},
        exec_clients={
            OKX: OKXExecClientConfig(
                base_url_ws=f"{ws_url}/ws/v5/private", margin_mode=OKXMarginMode.CROSS, **creds
            )
        },
        timeout_connection=20,
        timeout_reconciliation=10,
        timeout_portfolio=10,
        timeout_disconnection=5,
        timeout_post_stop=1,
    )
    node = TradingNode(config=config)
    with open(events_path, "w") as out:
        node.trader.add_strategy(Script(out, node.stop, http_url))
        node.add_data_client_factory(OKX, OKXLiveDataClientFactory)
        node.add_exec_client_factory(OKX, OKXLiveExecClientFactory)
        node.build()
        node.kernel.loop.call_later(DEADLINE_S, node.stop)
        try:
            node.run()
        finally:
            node.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
