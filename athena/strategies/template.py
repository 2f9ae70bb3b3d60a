"""`athena new-strategy NAME [--dir DIR] [--force]`: a strategy file and its test, from a template.

Writes DIR/<name>.py (the strategy: a Params model and the hooks) and DIR/test_<name>.py (its unit test
on athena.testing.harness.StrategyHarness, no Redis needed). DIR defaults to strategies_dir of the
configuration, else ./strategies. The class is found by name from config once DIR is strategies_dir,
or anywhere by its import path (`<name>:<Class>` with DIR on the path). docs/strategies.md goes on.
"""

from __future__ import annotations

import argparse
import keyword
import os
import re
import sys
from pathlib import Path

STRATEGY = '''"""{cls}: buys after `ups` rising trade prints in a row, with an exchange stop and a take
profit.

Written from Athena's template (`athena new-strategy`); make it yours. The guide: docs/strategies.md.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from athena.domain import Fill, OrderState, Side, Tick
from athena.strategies import BaseStrategy, OrderEvent, StrategyContext, StrategyParams

BPS = Decimal(10_000)


class {cls}Params(StrategyParams):
    """Every parameter, typed and bounded: config's `params` is checked against this model at start."""

    ups: int = Field(3, ge=1)  # rising trade prints in a row before a buy
    stop_loss_bps: Decimal = Field(Decimal(20), gt=0)  # the exchange stop, below the entry
    take_profit_bps: Decimal = Field(Decimal(30), gt=0)  # a reduce-only limit sell, above the entry
    max_contracts: Decimal = Field(Decimal(1), gt=0)


class {cls}(BaseStrategy):
    Params = {cls}Params
    params: {cls}Params

    def __init__(
        self, name: str, instIds: list[str], params: dict[str, object] | None, ctx: StrategyContext
    ) -> None:
        super().__init__(name, instIds, params, ctx)
        self.last_px: dict[str, Decimal] = {{}}
        self.rising: dict[str, int] = {{}}
        self.pending: dict[str, str] = {{}}  # instId -> clOrdId of the order we wait for
        self.stats = {{"entries": 0, "refused": 0, "take_profits": 0}}

    def on_tick(self, tick: Tick) -> None:
        trade = tick.trade
        if trade is None:  # a book-only tick: this strategy reads trades
            return
        i = trade.instId
        prev = self.last_px.get(i)
        self.last_px[i] = trade.px
        self.rising[i] = self.rising.get(i, 0) + 1 if prev is not None and trade.px > prev else 0
        if self.rising[i] < self.params.ups or i in self.pending or self.ctx.position(i):
            return
        self._enter(i, trade.px)

    def _enter(self, instId: str, px: Decimal) -> None:
        inst = self.ctx.instrument(instId)
        entry = inst.px_down(px)
        stop = inst.px_down(entry * (1 - self.params.stop_loss_bps / BPS))
        sz = min(self.ctx.size_for_risk(instId, entry, stop), self.params.max_contracts)
        cap = self.ctx.max_contracts(instId, entry)
        sz = inst.round_sz(min(sz, cap) if cap is not None else sz)
        if sz < inst.minSz:
            return
        intent = self.ctx.buy(instId, sz, entry, stop_loss_px=stop)  # the OMS places the stop on the fill
        if intent.ok:
            self.pending[instId] = intent.clOrdId
            self.stats["entries"] += 1
        else:
            self.stats["refused"] += 1
        self.rising[instId] = 0

    def on_fill(self, fill: Fill) -> None:
        i = fill.instId
        if fill.reduceOnly:  # our take profit, or the exchange stop, closed some of it
            if not self.ctx.position(i):  # flat: free the instrument, cancel a take profit left working
                tp = self.pending.pop(i, None)
                if fill.clOrdId == tp:
                    self.stats["take_profits"] += 1
                elif tp is not None:
                    self.ctx.cancel(tp)
            return
        tp_px = self.ctx.instrument(i).px_up(fill.fillPx * (1 + self.params.take_profit_bps / BPS))
        intent = self.ctx.close(i, Side.SELL, fill.fillSz, tp_px)  # reduce-only limit
        if intent.ok:
            self.pending[i] = intent.clOrdId

    def on_order(self, event: OrderEvent) -> None:
        # an entry that ends unfilled (cancelled, rejected) frees the instrument
        ended = event.state in (OrderState.CANCELED, OrderState.REJECTED)
        if ended and not event.accFillSz and self.pending.get(event.instId) == event.clOrdId:
            self.pending.pop(event.instId, None)
'''

TEST = '''"""Unit tests of {cls}, on the StrategyHarness: no Redis, no exchange (docs/strategies.md)."""

from __future__ import annotations

from decimal import Decimal

from athena.domain import OrdType, Side
from athena.testing.harness import StrategyHarness
from {module} import {cls}


def test_buys_after_rising_prints_then_takes_profit() -> None:
    h = StrategyHarness({cls}, {{"ups": 3}})
    for px in ("100000.0", "100000.1", "100000.2", "100000.3"):
        h.trade(px)
    assert len(h.orders) == 1
    entry = h.orders[0]
    assert entry.side is Side.BUY and entry.ordType is OrdType.LIMIT
    assert entry.stop_loss_px is not None and entry.stop_loss_px < entry.px
    h.fill(entry.clOrdId)
    assert h.position() == entry.sz
    tp = h.orders[-1]
    assert tp.reduceOnly and tp.side is Side.SELL and tp.px > entry.px
    h.fill(tp.clOrdId)
    assert h.position() == 0 and h.strategy.stats["take_profits"] == 1


def test_no_buy_on_a_flat_or_falling_tape() -> None:
    h = StrategyHarness({cls}, {{"ups": 2}})
    for px in ("100000.3", "100000.3", "100000.2", "100000.1"):
        h.trade(px)
    assert h.orders == []


def test_a_refused_entry_is_counted_and_the_next_signal_tries_again() -> None:
    h = StrategyHarness({cls}, {{"ups": 1}})
    h.refuse_next("max_orders_per_minute")
    h.trade("100000.0")
    h.trade("100000.1")
    assert h.orders == [] and h.strategy.stats["refused"] == 1
    h.trade("100000.2")
    assert len(h.orders) == 1 and h.orders[0].sz <= Decimal(1)
'''


def names(raw: str) -> tuple[str, str]:
    """NAME (UpTicks, up_ticks, up-ticks) -> (module, Class)."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])", raw) if w]
    if not words or not words[0][0].isalpha():
        raise ValueError(
            f"{raw!r} is not a strategy name: use letters and digits, starting with a letter (UpTicks)"
        )
    module = "_".join(w.lower() for w in words)
    cls = "".join(w[:1].upper() + w[1:] for w in words)
    if keyword.iskeyword(module) or not module.isidentifier() or not cls.isidentifier():
        raise ValueError(
            f"{raw!r} is not a strategy name: use letters and digits, starting with a letter (UpTicks)"
        )
    return module, cls


def render(raw: str) -> tuple[str, str, str, str]:
    """(module, Class, strategy source, test source) for NAME."""
    module, cls = names(raw)
    return module, cls, STRATEGY.format(cls=cls), TEST.format(cls=cls, module=module)


def _default_dir() -> Path:
    configured = os.environ.get("ATHENA_STRATEGIES_DIR", "")
    if not configured:
        try:
            from athena.config import load_settings

            configured = load_settings().strategies_dir
        except Exception:  # an invalid config must not stop writing a new file
            configured = ""
    return Path(configured or "strategies")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="athena new-strategy", description=__doc__.split("\n\n")[0])
    p.add_argument("name", help="the strategy's class name, e.g. UpTicks (up_ticks works too)")
    p.add_argument(
        "--dir", type=Path, help="where to write (default: strategies_dir of config, else ./strategies)"
    )
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    args = p.parse_args(argv)
    try:
        module, cls, src, test = render(args.name)
    except ValueError as exc:
        print(f"athena new-strategy: {exc}", file=sys.stderr)
        return 2
    folder = args.dir or _default_dir()
    files = {folder / f"{module}.py": src, folder / f"test_{module}.py": test}
    existing = [str(f) for f in files if f.exists()]
    if existing and not args.force:
        print(
            f"athena new-strategy: {', '.join(existing)} already exist(s); pick another name or pass "
            "--force.",
            file=sys.stderr,
        )
        return 2
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            path.write_text(text)
    except OSError as exc:
        print(f"athena new-strategy: cannot write to {folder} ({exc.strerror or exc}).", file=sys.stderr)
        return 1
    print(
        f"wrote {folder / (module + '.py')} (class {cls}) and {folder / ('test_' + module + '.py')}\n"
        f"  test it:      .venv/bin/pytest {folder / ('test_' + module + '.py')}\n"
        f"  backtest it:  .venv/bin/athena backtest --synthetic --strategies-dir {folder} --strategy {cls}\n"
        f'  trade it:     set "strategies_dir": "{folder}" and a strategy with "cls": "{cls}" in config '
        "(docs/strategies.md)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
