"""The quote rule both systems trade in bench_vs_nautilus, Athena's side (bench/nautilus_bench_node.py is
NautilusTrader's, written to do exactly the same).

Prices are in ticks of the instrument. The bench moves the sim's market with `/sim/price`:
- mid inside (lo, hi): arm;
- armed, mid >= hi: `k = mid - hi`; if k % 2 == owner (0 Athena, 1 Nautilus), a post-only buy one tick
  above the best ask (it would take, so the exchange cancels it at once: nothing piles up over the run;
  its arrival at the sim is the quote -> order figure);
- armed, mid <= lo: `k = lo - mid`; if k % 2 == owner, a market order (buy, then sell, alternately) with a
  stop-loss 2% away: the fill push -> stop figure (Athena's OMS places the stop the moment it fills).
The other system's rounds are the ones with the other parity: rounds interleave, one reaction at a time.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from athena.domain import Side, Tick
from athena.strategies import BaseStrategy, StrategyContext, StrategyParams


class QuoteTriggerParams(StrategyParams):
    hi: int = Field(gt=0)  # ticks
    lo: int = Field(gt=0)  # ticks
    owner: int = Field(0, ge=0, le=1)
    sz: Decimal = Field(Decimal("0.01"), gt=0)


class QuoteTrigger(BaseStrategy):
    Params = QuoteTriggerParams
    params: QuoteTriggerParams

    def __init__(
        self, name: str, instIds: list[str], params: dict[str, object] | None, ctx: StrategyContext
    ) -> None:
        super().__init__(name, instIds, params, ctx)
        self.armed = False
        self.entries = 0
        self.refused: list[str] = []

    def on_tick(self, tick: Tick) -> None:
        book = tick.book
        if book is None or book.best_bid is None or book.best_ask is None:
            return
        p, i = self.params, tick.instId
        tick_sz = self.ctx.instrument(i).tickSz
        mid = int(((book.best_bid.px + book.best_ask.px) / 2 / tick_sz).to_integral_value())
        if p.lo < mid < p.hi:
            self.armed = True
            return
        if not self.armed:
            return
        self.armed = False
        if mid >= p.hi and (mid - p.hi) % 2 == p.owner:
            px = (
                book.best_ask.px + tick_sz
            )  # cancelled unfilled, so its stop (risk wants one) is never placed
            intent = self.ctx.buy(
                i, p.sz, px, post_only=True, stop_loss_px=self.ctx.instrument(i).px_down(px * Decimal("0.98"))
            )
        elif mid <= p.lo and (p.lo - mid) % 2 == p.owner:
            side = Side.BUY if self.entries % 2 == 0 else Side.SELL
            self.entries += 1
            ref = mid * tick_sz
            inst = self.ctx.instrument(i)
            sl = (
                inst.px_down(ref * Decimal("0.98")) if side is Side.BUY else inst.px_up(ref * Decimal("1.02"))
            )
            intent = self.ctx.order(i, side, p.sz, None, stop_loss_px=sl)
        else:
            return
        if not intent.ok:
            self.refused.append(intent.reason)
