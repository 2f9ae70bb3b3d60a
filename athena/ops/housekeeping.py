"""heartbeat (OKX's cancel-all-after dead-man's switch), snapshot_equity, check_drawdown, prune_indexes."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import orjson

from athena.engine import Account, Engine
from athena.risk.drawdown import check_drawdown as risk_check_drawdown


def heartbeat(engine: Engine) -> dict[str, Any]:
    """Re-arm cancel-all-after: if Athena dies, OKX cancels every working order after timeOut s.
    Exchange-side stops are algo orders and survive it, so open positions stay protected."""
    timeout = engine.settings.schedule.dead_man_timeout
    ack = engine.rest.cancel_all_after(timeout)
    out = {"timeOut": timeout, "triggerTime": ack.triggerTime, "ts": ack.ts, "at_ms": int(time.time() * 1000)}
    engine.redis.set(engine.keys.heartbeat, orjson.dumps(out), ex=timeout * 2)
    return out


def snapshot_equity(engine: Engine) -> dict[str, Any]:
    marks = engine.mark_map()
    snap = engine.capital.snapshot(marks)
    bal = engine.rest.balance()
    data = {
        "exchange_totalEq": str(getattr(bal, "totalEq", "")),
        "missing_marks": list(snap.missing_marks),
        "funding": str(snap.funding),
    }
    engine.journal.record_equity(
        snap.equity, upl=snap.unrealised, realized=snap.realised, drawdown=snap.drawdown, data=data
    )
    return {
        "equity": str(snap.equity),
        "realised": str(snap.realised),
        "unrealised": str(snap.unrealised),
        "fees": str(snap.fees),
        "hwm": str(snap.hwm),
        "drawdown": str(snap.drawdown),
        **data,
    }


def check_drawdown(engine: Engine) -> dict[str, Any]:
    rep = risk_check_drawdown(engine.capital, engine.risk_config, engine.halt, engine.mark_map())
    return {k: v if isinstance(v, bool) or v is None else str(v) for k, v in asdict(rep).items()}


def prune_indexes(acct: Account) -> dict[str, int]:
    """The ordId and algoId index entries of orders and stops Redis no longer holds, dropped."""
    return {"orders": acct.store.prune_index(), "stops": acct.algos.prune_index()}
