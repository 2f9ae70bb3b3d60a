"""Issue 9 item 4: reconcile and protect_positions with 100 instruments and 1,000 working orders.

The sim (own process) lists 100 instruments. Through the real placement path (athena.ops.placement
.place, in this process) we rest `--orders` post-only bids spread over every instrument and open a
small position on each instrument without a stop. Then, timed with the wall clock:
- reconcile(engine): pending orders (paged) vs Redis, algos, positions + ledger sync;
- protect_positions(engine) the first time: every position is unprotected -> places 100 stops;
- protect_positions(engine) again: every position covered -> places nothing (the steady state).
The client-side OKX rate limiter stays ON (it is part of what these jobs cost on the real exchange).

    .venv/bin/python -m bench.bench_reconcile [--instruments 100] [--orders 1000] [--quick]
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal
from typing import Any

from bench.common import Stack, loadavg, print_header, quiet_logs, synthetic_instruments, write_json


class NoSender:
    """reconcile must not need to send anything here (every order is acknowledged)."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"unexpected send: {name}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instruments", type=int, default=100)
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    quiet_logs()
    h = print_header("reconcile (reconcile + protect_positions at scale)")
    n_inst, n_orders = (5, 20) if args.quick else (args.instruments, args.orders)

    from athena.config import StrategySettings
    from athena.domain import OrderRequest, OrdType, Side
    from athena.ops import placement
    from athena.ops.reconcile import reconcile
    from athena.ops.stops import protect_positions
    from athena.wiring import account, orders_engine

    insts = {si.instId: si.inst for si in synthetic_instruments(n_inst)}
    with Stack(n_instruments=n_inst, sim_process=True) as stack:
        stack.step(2)
        ids = list(insts)
        # the strategy the orders are booked to; nothing runs it here (no stream worker)
        strat = StrategySettings(name="bench", instIds=ids, allocation=Decimal(1))
        settings = stack.settings(strategies=[strat], total_capital=Decimal(10**9))
        engine = orders_engine(account(settings), NoSender())
        state = stack.admin("state")["markets"]

        def place(req: OrderRequest, px: Decimal) -> None:
            # the pass a strategy's decision records (its margin reserved), so the orders are placed
            # as decided ones, unchecked: the positions here must be unprotected
            engine.capital.reserve("bench", req.clOrdId, insts[req.instId].notional(req.sz, px), req.sz)
            placement.place(engine, req)

        t0 = time.perf_counter()
        for i in range(n_orders):
            inst_id = ids[i % len(ids)]
            inst = insts[inst_id]
            px = inst.px_down(Decimal(state[inst_id]["bid"]) * Decimal("0.9"))
            place(
                OrderRequest(
                    f"rc{i}", inst_id, Side.BUY, OrdType.POST_ONLY, inst.lotSz, px, strategy="bench"
                ),
                px,
            )
        for j, inst_id in enumerate(ids):  # one small long per instrument, no stop
            place(
                OrderRequest(
                    f"rcpos{j}",
                    inst_id,
                    Side.BUY,
                    OrdType.MARKET,
                    insts[inst_id].lotSz,
                    None,
                    strategy="bench",
                ),
                Decimal(state[inst_id]["ask"]),
            )
        setup_s = time.perf_counter() - t0
        print(
            f"setup: {n_orders} resting orders + {len(ids)} positions placed in {setup_s:.1f} s", flush=True
        )

        figures: dict[str, Any] = {}
        for name, fn in (
            ("reconcile", lambda: reconcile(engine).to_dict()),
            ("protect_positions_first", lambda: protect_positions(engine).to_dict()),
            ("protect_positions_steady", lambda: protect_positions(engine).to_dict()),
            ("reconcile_again", lambda: reconcile(engine).to_dict()),
        ):
            load = loadavg()
            t = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t
            summary = {
                k: (len(v) if isinstance(v, list) else v)
                for k, v in out.items()
                if k
                in (
                    "orders_checked",
                    "orders_settled",
                    "external_orders",
                    "unconfirmed",
                    "stops_live",
                    "checked",
                    "placed",
                    "failed",
                    "ok",
                )
            }
            figures[name] = {"seconds": round(dt, 3), "loadavg": load, "result": summary}
            print(f"{name:<26} {dt:8.3f} s   (load {load[0]})   {summary}", flush=True)
        engine.close()
    write_json(
        "reconcile",
        {
            "header": h,
            "instruments": n_inst,
            "working_orders": n_orders,
            "setup_s": round(setup_s, 1),
            **figures,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
