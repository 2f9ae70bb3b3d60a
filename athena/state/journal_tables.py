"""The journal's SQLModel tables. Money columns are TEXT holding Decimal strings, never REAL."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"

    clOrdId: str = Field(primary_key=True)
    instId: str = Field(index=True)
    side: str
    ordType: str
    sz: str
    px: str | None = None
    tdMode: str
    posSide: str
    reduceOnly: bool = False
    strategy: str = Field(default="", index=True)
    stop_loss_px: str | None = None
    take_profit_px: str | None = None
    tag: str = ""
    state: str
    rank: int = 0
    ordId: str | None = Field(default=None, index=True)
    accFillSz: str = "0"
    avgPx: str | None = None
    fee: str = "0"
    reason: str = ""
    cTime: int = 0
    uTime: int = 0
    updated_ms: int = 0


class FillRow(SQLModel, table=True):
    __tablename__ = "fills"

    id: int | None = Field(default=None, primary_key=True)
    fill_key: str = Field(unique=True)  # f"{clOrdId}:{accFillSz}": one row per fill, whoever reports it
    clOrdId: str = Field(index=True)
    instId: str = Field(index=True)
    side: str
    posSide: str
    fillSz: str
    fillPx: str
    accFillSz: str
    fee: str = "0"
    tradeId: str = ""
    ordId: str | None = None
    strategy: str = Field(default="", index=True)
    reduceOnly: bool = False
    execType: str = ""
    ts: int = Field(default=0, index=True)


class PositionSnapshotRow(SQLModel, table=True):
    __tablename__ = "position_snapshots"

    id: int | None = Field(default=None, primary_key=True)
    ts: int = Field(index=True)  # when recorded, ms
    instId: str = Field(index=True)
    posSide: str
    pos: str
    avgPx: str | None = None
    mgnMode: str
    markPx: str | None = None
    upl: str | None = None
    realizedPnl: str | None = None
    lever: str | None = None
    liqPx: str | None = None
    uTime: int = 0


class EquitySnapshotRow(SQLModel, table=True):
    __tablename__ = "equity_snapshots"

    id: int | None = Field(default=None, primary_key=True)
    ts: int = Field(index=True)
    equity: str
    available: str | None = None
    upl: str | None = None
    realized: str | None = None
    drawdown: str | None = None
    data: str = "{}"  # JSON, Decimals as strings


class FundingRow(SQLModel, table=True):
    __tablename__ = "funding"

    id: int | None = Field(default=None, primary_key=True)
    billId: str = Field(unique=True)  # OKX's bill id: one row per funding charge, whoever books it
    instId: str = Field(index=True)
    amount: str  # negative = paid
    ccy: str = "USDT"
    subType: str = ""  # 173 expense, 174 income
    sz: str | None = None  # contracts held
    px: str | None = None  # mark price charged at
    shares: str = "{}"  # JSON: strategy -> its part
    ts: int = Field(default=0, index=True)


class EventRow(SQLModel, table=True):
    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    ts: int = Field(index=True)
    kind: str = Field(index=True)
    message: str
    data: str = "{}"  # JSON, Decimals as strings


TABLES = [OrderRow, FillRow, PositionSnapshotRow, EquitySnapshotRow, EventRow, FundingRow]
