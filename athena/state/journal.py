"""Journal: the durable record (SQLite through SQLModel) of orders, fills, positions, equity, events.

SQLite runs in WAL mode with a busy_timeout (set on every connection), so the workers and the CLI
can write to one file at the same time. Money is stored as TEXT Decimal strings and read back exact.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Float, cast, event
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel, col, create_engine, select

from athena.domain.codec import CodecError, to_json
from athena.domain.enums import OrderState, PosSide, Side, TdMode
from athena.domain.money import ZERO, D
from athena.domain.orders import Fill, Order, Position
from athena.state.journal_tables import (
    TABLES,
    EquitySnapshotRow,
    EventRow,
    FillRow,
    FundingRow,
    OrderRow,
    PositionSnapshotRow,
)
from athena.state.records import order_from_hash, order_to_hash


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _opt_D(raw: str | None) -> Decimal | None:
    return None if raw is None else D(raw)


def _dump(data: dict[str, Any] | None) -> str:
    """Diagnostic data as JSON. Decimals and domain objects as codec.to_json writes them; unlike the
    codec, a float (a latency, a ratio) is accepted here: losing a journal record over it is worse."""
    return orjson.dumps(
        data or {}, default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
    ).decode()


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    try:
        return to_json(obj)
    except CodecError:
        return repr(obj)


@dataclass(frozen=True, slots=True)
class JournalEvent:
    ts: int
    kind: str
    message: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EquitySnapshot:
    ts: int
    equity: Decimal
    available: Decimal | None
    upl: Decimal | None
    realized: Decimal | None
    drawdown: Decimal | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FundingRecord:
    billId: str
    instId: str
    amount: Decimal  # negative = paid
    ts: int
    ccy: str = "USDT"
    subType: str = ""
    sz: Decimal | None = None
    px: Decimal | None = None
    shares: dict[str, Decimal] | None = None  # strategy -> its part


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    ts: int
    position: Position


def _set_wal(cur: sqlite3.Cursor, busy_timeout_ms: int) -> None:
    """Switch a file database to WAL. The switch takes an exclusive lock and SQLite answers "database
    is locked" at once, without its busy handler, while another process holds the file (workers and beat
    opening a new journal together): retried within the busy timeout like any other lock wait."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _sqlite_engine(db_url: str, busy_timeout_ms: int) -> Engine:
    url = make_url(db_url)
    if not url.drivername.startswith("sqlite"):
        raise ValueError(f"journal supports sqlite URLs only, got {url.drivername!r}")
    memory = url.database in (None, "", ":memory:")
    if not memory:
        Path(str(url.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        db_url, connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if not memory:
            _set_wal(cur, busy_timeout_ms)
            cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        cur.close()

    return engine


_ORDER_COLUMNS = (
    "instId",
    "side",
    "ordType",
    "sz",
    "px",
    "tdMode",
    "posSide",
    "reduceOnly",
    "strategy",
    "stop_loss_px",
    "take_profit_px",
    "tag",
    "state",
    "rank",
    "ordId",
    "accFillSz",
    "avgPx",
    "fee",
    "reason",
    "cTime",
    "uTime",
    "updated_ms",
)


def _upsert_order_stmt() -> Any:
    table = OrderRow.__table__  # type: ignore[attr-defined]
    stmt = insert(table)
    ex = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["clOrdId"],
        set_={k: getattr(ex, k) for k in _ORDER_COLUMNS},
        # TEXT decimals compared as numbers only (exact to 15 digits); no arithmetic here
        where=(ex.rank >= table.c.rank) & (cast(ex.accFillSz, Float) >= cast(table.c.accFillSz, Float)),
    )


class Journal:
    def __init__(self, db_url: str, busy_timeout_ms: int = 10_000) -> None:
        self.engine = _sqlite_engine(db_url, busy_timeout_ms)
        self._create_schema()
        # Built once and executed with parameters: a statement built per call with .values(...) is
        # compiled again on every write, several times the SQLite work, and the dispatcher writes here.
        self._upsert_order = _upsert_order_stmt()
        self._insert_fill = insert(FillRow.__table__).on_conflict_do_nothing(index_elements=["fill_key"])  # type: ignore[attr-defined]
        self._insert_funding = insert(FundingRow.__table__).on_conflict_do_nothing(index_elements=["billId"])  # type: ignore[attr-defined]

    def _create_schema(self) -> None:
        # Several processes open the journal at once: the schema check and the CREATEs run under
        # SQLite's write lock (BEGIN IMMEDIATE waits out busy_timeout), so no process sees a table
        # missing that another is creating.
        tables = [t.__table__ for t in TABLES]  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            SQLModel.metadata.create_all(conn, tables=tables)
            conn.commit()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session
            session.commit()

    def journal_mode(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())

    # -- orders -----------------------------------------------------------------------------
    def upsert_order(self, order: Order) -> None:
        """Insert or update by clOrdId. Never moves an order backwards: a row is replaced only by a
        snapshot whose rank and accFillSz are not lower (a late writer with an old snapshot loses)."""
        h = order_to_hash(order)
        values: dict[str, Any] = {
            "clOrdId": order.clOrdId,
            "instId": order.instId,
            "side": h["side"],
            "ordType": h["ordType"],
            "sz": h["sz"],
            "px": h["px"] or None,
            "tdMode": h["tdMode"],
            "posSide": h["posSide"],
            "reduceOnly": order.req.reduceOnly,
            "strategy": order.req.strategy,
            "stop_loss_px": h["stop_loss_px"] or None,
            "take_profit_px": h["take_profit_px"] or None,
            "tag": order.req.tag,
            "state": str(order.state),
            "rank": order.state.rank,
            "ordId": order.ordId,
            "accFillSz": str(order.accFillSz),
            "avgPx": _opt(order.avgPx),
            "fee": str(order.fee),
            "reason": order.reason,
            "cTime": order.cTime,
            "uTime": order.uTime,
            "updated_ms": now_ms(),
        }
        with self.engine.begin() as conn:  # one prepared statement, compiled once (see _upsert_order_stmt)
            conn.execute(self._upsert_order, values)

    def order(self, clOrdId: str) -> Order | None:
        with Session(self.engine) as session:
            row = session.get(OrderRow, clOrdId)
            return _order(row) if row else None

    def orders(
        self,
        instId: str | None = None,
        state: OrderState | None = None,
        strategy: str | None = None,
        limit: int | None = None,
    ) -> list[Order]:
        q = select(OrderRow)
        if instId is not None:
            q = q.where(OrderRow.instId == instId)
        if state is not None:
            q = q.where(OrderRow.state == str(state))
        if strategy is not None:
            q = q.where(OrderRow.strategy == strategy)
        q = q.order_by(col(OrderRow.cTime), col(OrderRow.clOrdId)).limit(limit)
        with Session(self.engine) as session:
            return [_order(r) for r in session.exec(q).all()]

    # -- fills ------------------------------------------------------------------------------
    def record_fill(self, fill: Fill) -> bool:
        """Record one fill; False (no error) when its fill_key is already there."""
        values = {
            "fill_key": fill.fill_key,
            "clOrdId": fill.clOrdId,
            "instId": fill.instId,
            "side": str(fill.side),
            "posSide": str(fill.posSide),
            "fillSz": str(fill.fillSz),
            "fillPx": str(fill.fillPx),
            "accFillSz": str(fill.accFillSz),
            "fee": str(fill.fee),
            "tradeId": fill.tradeId,
            "ordId": fill.ordId,
            "strategy": fill.strategy,
            "reduceOnly": fill.reduceOnly,
            "execType": fill.execType,
            "ts": fill.ts,
        }
        with self.engine.begin() as conn:
            return bool(conn.execute(self._insert_fill, values).rowcount == 1)

    def fills(
        self,
        clOrdId: str | None = None,
        instId: str | None = None,
        strategy: str | None = None,
        since_ts: int | None = None,
        limit: int | None = None,
    ) -> list[Fill]:
        q = select(FillRow)
        if clOrdId is not None:
            q = q.where(FillRow.clOrdId == clOrdId)
        if instId is not None:
            q = q.where(FillRow.instId == instId)
        if strategy is not None:
            q = q.where(FillRow.strategy == strategy)
        if since_ts is not None:
            q = q.where(FillRow.ts >= since_ts)
        q = q.order_by(col(FillRow.id)).limit(limit)
        with Session(self.engine) as session:
            return [_fill(r) for r in session.exec(q).all()]

    def recent_fills(self, limit: int) -> list[Fill]:
        """The `limit` newest fills, newest first (the dashboard's list)."""
        q = select(FillRow).order_by(col(FillRow.id).desc()).limit(limit)
        with Session(self.engine) as session:
            return [_fill(r) for r in session.exec(q).all()]

    # -- funding ----------------------------------------------------------------------------
    def record_funding(self, rec: FundingRecord) -> bool:
        """Record one funding charge; False (no error) when its billId is already there."""
        values = {
            "billId": rec.billId,
            "instId": rec.instId,
            "amount": str(rec.amount),
            "ccy": rec.ccy,
            "subType": rec.subType,
            "sz": _opt(rec.sz),
            "px": _opt(rec.px),
            "ts": rec.ts,
            "shares": _dump({k: str(v) for k, v in (rec.shares or {}).items()}),
        }
        with self.engine.begin() as conn:
            return bool(conn.execute(self._insert_funding, values).rowcount == 1)

    def funding(self, instId: str | None = None, since_ts: int | None = None) -> list[FundingRecord]:
        q = select(FundingRow)
        if instId is not None:
            q = q.where(FundingRow.instId == instId)
        if since_ts is not None:
            q = q.where(FundingRow.ts >= since_ts)
        q = q.order_by(col(FundingRow.ts), col(FundingRow.id))
        with Session(self.engine) as session:
            return [
                FundingRecord(
                    r.billId,
                    r.instId,
                    D(r.amount),
                    r.ts,
                    r.ccy,
                    r.subType,
                    _opt_D(r.sz),
                    _opt_D(r.px),
                    {k: D(v) for k, v in orjson.loads(r.shares).items()},
                )
                for r in session.exec(q).all()
            ]

    # -- snapshots and events ---------------------------------------------------------------
    def record_position(self, pos: Position, ts: int | None = None) -> None:
        row = PositionSnapshotRow(
            ts=ts if ts is not None else now_ms(),
            instId=pos.instId,
            posSide=str(pos.posSide),
            pos=str(pos.pos),
            avgPx=_opt(pos.avgPx),
            mgnMode=str(pos.mgnMode),
            markPx=_opt(pos.markPx),
            upl=_opt(pos.upl),
            realizedPnl=_opt(pos.realizedPnl),
            lever=_opt(pos.lever),
            liqPx=_opt(pos.liqPx),
            uTime=pos.uTime,
        )
        with self._session() as session:
            session.add(row)

    def positions(
        self, instId: str | None = None, since_ts: int | None = None, limit: int | None = None
    ) -> list[PositionSnapshot]:
        q = select(PositionSnapshotRow)
        if instId is not None:
            q = q.where(PositionSnapshotRow.instId == instId)
        if since_ts is not None:
            q = q.where(PositionSnapshotRow.ts >= since_ts)
        q = q.order_by(col(PositionSnapshotRow.id)).limit(limit)
        with Session(self.engine) as session:
            return [_position(r) for r in session.exec(q).all()]

    def record_equity(
        self,
        equity: Decimal,
        *,
        available: Decimal | None = None,
        upl: Decimal | None = None,
        realized: Decimal | None = None,
        drawdown: Decimal | None = None,
        data: dict[str, Any] | None = None,
        ts: int | None = None,
    ) -> None:
        row = EquitySnapshotRow(
            ts=ts if ts is not None else now_ms(),
            equity=str(D(equity)),
            available=_opt(available),
            upl=_opt(upl),
            realized=_opt(realized),
            drawdown=_opt(drawdown),
            data=_dump(data),
        )
        with self._session() as session:
            session.add(row)

    def equity(self, since_ts: int | None = None, limit: int | None = None) -> list[EquitySnapshot]:
        q = select(EquitySnapshotRow)
        if since_ts is not None:
            q = q.where(EquitySnapshotRow.ts >= since_ts)
        q = q.order_by(col(EquitySnapshotRow.id)).limit(limit)
        with Session(self.engine) as session:
            return [
                EquitySnapshot(
                    r.ts,
                    D(r.equity),
                    _opt_D(r.available),
                    _opt_D(r.upl),
                    _opt_D(r.realized),
                    _opt_D(r.drawdown),
                    orjson.loads(r.data),
                )
                for r in session.exec(q).all()
            ]

    def record_event(
        self, kind: str, message: str, data: dict[str, Any] | None = None, ts: int | None = None
    ) -> None:
        row = EventRow(ts=ts if ts is not None else now_ms(), kind=kind, message=message, data=_dump(data))
        with self._session() as session:
            session.add(row)

    def events(
        self, kind: str | None = None, since_ts: int | None = None, limit: int | None = None
    ) -> list[JournalEvent]:
        q = select(EventRow)
        if kind is not None:
            q = q.where(EventRow.kind == kind)
        if since_ts is not None:
            q = q.where(EventRow.ts >= since_ts)
        q = q.order_by(col(EventRow.id)).limit(limit)
        with Session(self.engine) as session:
            return [
                JournalEvent(r.ts, r.kind, r.message, orjson.loads(r.data)) for r in session.exec(q).all()
            ]


def _order(r: OrderRow) -> Order:
    h = {k: ("" if v is None else v) for k, v in r.model_dump().items()}
    h["reduceOnly"] = "1" if r.reduceOnly else "0"
    h["cTime"], h["uTime"] = str(r.cTime), str(r.uTime)
    return order_from_hash(h)


def _fill(r: FillRow) -> Fill:
    return Fill(
        clOrdId=r.clOrdId,
        instId=r.instId,
        side=Side(r.side),
        posSide=PosSide(r.posSide),
        fillSz=D(r.fillSz),
        fillPx=D(r.fillPx),
        accFillSz=D(r.accFillSz),
        fee=D(r.fee) if r.fee else ZERO,
        tradeId=r.tradeId,
        ordId=r.ordId,
        strategy=r.strategy,
        reduceOnly=r.reduceOnly,
        execType=r.execType,
        ts=r.ts,
    )


def _position(r: PositionSnapshotRow) -> PositionSnapshot:
    return PositionSnapshot(
        r.ts,
        Position(
            instId=r.instId,
            posSide=PosSide(r.posSide),
            pos=D(r.pos),
            avgPx=_opt_D(r.avgPx),
            mgnMode=TdMode(r.mgnMode),
            markPx=_opt_D(r.markPx),
            upl=_opt_D(r.upl),
            realizedPnl=_opt_D(r.realizedPnl),
            lever=_opt_D(r.lever),
            liqPx=_opt_D(r.liqPx),
            uTime=r.uTime,
        ),
    )


__all__: Sequence[str] = ["EquitySnapshot", "FundingRecord", "Journal", "JournalEvent", "PositionSnapshot"]
