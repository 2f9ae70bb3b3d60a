"""The composition root (athena.wiring): what each role builds, and what it must not need.

No exchange runs here: OKX_REST_URL points at a port nobody listens on, so anything that would call
the exchange fails loudly instead of being silently served."""

from __future__ import annotations

import itertools
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from athena.bus import EventType
from athena.config import Settings, get_settings, load_settings, set_settings
from athena.domain import Fill, PosSide, Side
from athena.domain.codec import to_json
from athena.oms.sender import RecordingSender
from athena.sim.instruments import default_instruments
from athena.wiring import account, load_instruments, stream_engine, stream_strategies

BTC = "BTC-USDT-SWAP"
_accounts = itertools.count(1)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def settings(redis_url: str, tmp_path: Path) -> Settings:
    env = {
        "ATHENA_ENV": "test",
        "REDIS_URL": redis_url,
        "ATHENA_ACCOUNT": f"wiring{next(_accounts)}",
        "ATHENA_DB_URL": f"sqlite:///{tmp_path / 'journal.db'}",
        "OKX_REST_URL": f"http://127.0.0.1:{_closed_port()}",
        "ATHENA__okx__timeout_s": "1",
    }
    s = load_settings(env="test", environ=env, dotenv=False)
    return s.model_copy(update={"symbols": [BTC], "strategies": []})


def _cache_instruments(
    redis_client: Any, settings: Settings, rows: list[dict[str, Any]] | None = None
) -> None:
    rows = rows if rows is not None else [to_json(si.inst) for si in default_instruments()]
    redis_client.set(account(settings, redis=redis_client).keys.instruments, orjson.dumps(rows))


def test_inverse_swaps_are_refused_at_start(redis_client: Any, settings: Settings) -> None:
    settings = settings.model_copy(update={"symbols": ["BTC-USD-SWAP"]})
    row = {
        "instId": "BTC-USD-SWAP",
        "ctVal": "100",
        "ctValCcy": "USD",
        "lotSz": "1",
        "tickSz": "0.1",
        "minSz": "1",
        "settleCcy": "BTC",
        "ctType": "inverse",
        "instType": "SWAP",
        "state": "live",
    }
    _cache_instruments(redis_client, settings, [row])
    with pytest.raises(RuntimeError, match="inverse swaps are not supported"):
        load_instruments(account(settings, redis=redis_client))


def test_the_cli_status_needs_neither_the_exchange_nor_the_journal(
    redis_client: Any, settings: Settings
) -> None:
    """`athena status` reads the account's state in Redis: no instrument list (the cache is empty and
    the exchange unreachable here), no SQLite journal created."""
    from athena.process.status import collect_status

    out = collect_status(settings)
    assert out["account"] == settings.account and out["positions"] == [] and out["halted"] is False
    assert not Path(settings.db_url.removeprefix("sqlite:///")).exists()


@pytest.mark.usefixtures("celery_app")  # the app configured for the session first, as every task test has it
def test_the_halt_task_works_while_the_exchange_is_unreachable(redis_client: Any, settings: Settings) -> None:
    """halt/resume need only the account's state: no Engine (which loads instruments from the exchange
    when the cache is empty, as here)."""
    from workers import tasks

    previous = get_settings()
    set_settings(settings)
    tasks.reset_engine()
    try:
        assert tasks.halt.apply(kwargs={"reason": "drill", "who": "test"}).get(timeout=10)["halted"] is True
        assert account(settings, redis=redis_client).halt.is_halted()
        assert tasks.resume.apply(kwargs={"who": "test"}).get(timeout=10)["halted"] is False
        assert tasks._engine is None  # never built
    finally:
        tasks.reset_engine()
        set_settings(previous)  # a Celery worker started later claims its queues for the current settings


class FlatSender(RecordingSender):
    """A stream worker sender that cancels stops of a flat position: it must see the ledger already booked."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger_at_fill: list[Any] = []
        self.engine: Any = None

    def on_position(self, pos: Any) -> None:
        pass

    def on_fill(self, fill: Fill) -> None:
        self.ledger_at_fill.append(self.engine.positions.expected(fill.instId).sz)


def test_a_fill_reaches_capital_and_the_ledger_before_the_stream_workers_stop_cancel(
    redis_client: Any, settings: Settings
) -> None:
    _cache_instruments(redis_client, settings)
    sender = FlatSender()
    engine = stream_engine(account(settings), sender)
    sender.engine = engine
    try:
        stream_strategies(engine, clock=lambda: 0)  # type: ignore[arg-type]
        lot = engine.instruments[BTC].lotSz
        engine.bus.publish(
            EventType.ORDER_FILLED,
            Fill(
                "w1", BTC, Side.BUY, PosSide.NET, lot, Decimal(100_000), lot, tradeId="t1", strategy="s", ts=1
            ),
        )
        assert sender.ledger_at_fill == [lot]
    finally:
        engine.close()
