"""NautilusTrader's side of bench_vs_nautilus: a TradingNode (OKX adapter) trading the same quote rule as
Athena's bench/vs_nautilus_strategy.py against the simulator.

Run by bench/bench_vs_nautilus.py with `.venv-nautilus`'s interpreter (NautilusTrader needs Python >= 3.12):
`python nautilus_bench_node.py HTTP_URL WS_URL EVENTS_FILE STOP_FILE HI LO OWNER`. Credentials come
from OKX_API_KEY / OKX_API_SECRET / OKX_API_PASSPHRASE (never argv). The node writes `ready` once it has
the instrument and a quote, then trades until STOP_FILE exists.

The rule (ticks; see vs_nautilus_strategy.py): mid in (lo, hi) arms; armed and mid >= hi with
(mid - hi) % 2 == owner -> post-only buy one tick above the ask (OKX adapter: WS `op: order`; the exchange
cancels it, it would take); armed and mid <= lo with (lo - mid) % 2 == owner -> market order, buy then sell
alternately; on its fill a stop-market 2% away (the adapter's only route for conditional orders: REST
`order-algo`), then the previous stop is cancelled (Athena's OMS likewise keeps one live stop: it cancels
the stops of a flat position). Not reduce-only: Nautilus's risk engine denies a reduce-only order that would
not reduce, and every other fill flattens.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from decimal import Decimal
from typing import Any

from nautilus_trader.adapters.okx import (
    OKX,
    OKXDataClientConfig,
    OKXExecClientConfig,
    OKXLiveDataClientFactory,
    OKXLiveExecClientFactory,
)
from nautilus_trader.config import InstrumentProviderConfig, LoggingConfig, StrategyConfig, TradingNodeConfig
from nautilus_trader.core.nautilus_pyo3 import OKXContractType, OKXInstrumentType, OKXMarginMode
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide, TriggerType
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.trading.strategy import Strategy

BTC = InstrumentId.from_str("BTC-USDT-SWAP.OKX")


class QuoteTrigger(Strategy):
    def __init__(self, out: Any, hi: int, lo: int, owner: int) -> None:
        super().__init__(StrategyConfig(use_hyphens_in_client_order_ids=False))  # OKX clOrdIds: alphanumeric
        self.out, self.hi, self.lo, self.owner = out, hi, lo, owner
        self.last_stop: Any = None
        self.armed = False
        self.ready = False
        self.entries = 0
        self.market_ids: set[ClientOrderId] = set()
        self.qty = Decimal("0.02")

    def emit(self, kind: str, **kw: Any) -> None:
        self.out.write(json.dumps({"kind": kind, **kw}, default=str) + "\n")
        self.out.flush()

    def on_start(self) -> None:
        self.inst = self.cache.instrument(BTC)
        self.tick = self.inst.price_increment.as_decimal()
        self.subscribe_quote_ticks(BTC)

    def on_quote_tick(self, q: QuoteTick) -> None:
        bid, ask = q.bid_price.as_decimal(), q.ask_price.as_decimal()
        mid = int(((bid + ask) / 2 / self.tick).to_integral_value())
        if not self.ready:
            self.ready = True
            self.emit("ready", mid=mid)
        if self.lo < mid < self.hi:
            self.armed = True
            return
        if not self.armed:
            return
        self.armed = False
        try:
            if mid >= self.hi and (mid - self.hi) % 2 == self.owner:
                o = self.order_factory.limit(
                    BTC,
                    OrderSide.BUY,
                    self.inst.make_qty(self.qty),
                    self.inst.make_price(ask + self.tick),
                    post_only=True,
                )
                self.submit_order(o)
            elif mid <= self.lo and (self.lo - mid) % 2 == self.owner:
                side = OrderSide.BUY if self.entries % 2 == 0 else OrderSide.SELL
                self.entries += 1
                m = self.order_factory.market(BTC, side, self.inst.make_qty(self.qty))
                self.market_ids.add(m.client_order_id)
                self.submit_order(m)
        except Exception:
            self.emit("error", trace=traceback.format_exc())

    def on_order_filled(self, event: OrderFilled) -> None:
        if event.client_order_id not in self.market_ids:
            return
        self.market_ids.discard(event.client_order_id)
        try:
            px = event.last_px.as_decimal()
            buy = event.order_side == OrderSide.BUY
            trigger = (px * Decimal("0.98")) if buy else (px * Decimal("1.02"))
            stop = self.order_factory.stop_market(
                BTC,
                OrderSide.SELL if buy else OrderSide.BUY,
                self.inst.make_qty(self.qty),
                self.inst.make_price(trigger),
                trigger_type=TriggerType.LAST_PRICE,
            )
            self.submit_order(stop)
            if self.last_stop is not None and self.last_stop.is_open:
                self.cancel_order(self.last_stop)
            self.last_stop = stop
        except Exception:
            self.emit("error", trace=traceback.format_exc())

    def on_event(self, event: Any) -> None:
        name = type(event).__name__
        if name in ("OrderRejected", "OrderDenied"):
            self.emit("refused", type=name, reason=str(getattr(event, "reason", "")))


def main(http_url: str, ws_url: str, events_path: str, stop_file: str, hi: str, lo: str, owner: str) -> int:
    creds: dict[str, Any] = {
        "instrument_types": (OKXInstrumentType.SWAP,),
        "contract_types": (OKXContractType.LINEAR,),
        "base_url_http": http_url,
        "instrument_provider": InstrumentProviderConfig(load_all=True),
    }
    config = TradingNodeConfig(
        logging=LoggingConfig(log_level="ERROR"),
        data_clients={OKX: OKXDataClientConfig(base_url_ws=f"{ws_url}/ws/v5/public", **creds)},
        exec_clients={
            OKX: OKXExecClientConfig(
                base_url_ws=f"{ws_url}/ws/v5/private", margin_mode=OKXMarginMode.CROSS, **creds
            )
        },
        timeout_connection=30,
        timeout_reconciliation=10,
        timeout_portfolio=10,
        timeout_disconnection=5,
        timeout_post_stop=1,
    )
    node = TradingNode(config=config)
    with open(events_path, "w") as out:
        node.trader.add_strategy(QuoteTrigger(out, int(hi), int(lo), int(owner)))
        node.add_data_client_factory(OKX, OKXLiveDataClientFactory)
        node.add_exec_client_factory(OKX, OKXLiveExecClientFactory)
        node.build()
        loop = node.kernel.loop

        def watch() -> None:
            if os.path.exists(stop_file):
                node.stop()
            else:
                loop.call_later(0.5, watch)

        loop.call_later(0.5, watch)
        try:
            node.run()
        finally:
            node.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:8]))
