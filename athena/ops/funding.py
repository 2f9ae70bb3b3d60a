"""book_funding: OKX's funding fees (account bills of type 8) into realised PnL, capital and the journal,
each bill exactly once.

Beat runs it every schedule.book_funding seconds. It pages the account's bills of type 8 newest first
back to the last billId booked (a cursor in Redis) and books the new ones oldest first. Each bill is
booked by its billId: the capital ledger keeps a marker per billId (CapitalCommander.on_funding) and the
journal a unique row, so a run repeated, redelivered, run by two workers at once or after a lost cursor
books nothing twice.

The first run ever (no cursor) books the bills from `funding_since` on: the moment that first run
happened (kept in Redis), or the first fill Athena journaled if earlier. Funding the account paid before
Athena traded on it is not Athena's PnL. Delete both keys to book the last 7 days again (the markers
still keep each bill once).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from athena.okx.port import ExchangePort
from athena.okx.types import Bill
from athena.state.journal import FundingRecord

if TYPE_CHECKING:
    from athena.engine import Engine

log = logging.getLogger(__name__)

FUNDING_BILL = "8"
MAX_PAGES = 50  # 5,000 bills: a week of 8-hourly funding over hundreds of instruments


@dataclass
class FundingReport:
    seen: int = 0  # new bills read
    booked: list[dict[str, str]] = field(default_factory=list)
    already: int = 0  # read again, already booked (by an earlier or concurrent run)
    total: Decimal = Decimal(0)  # booked by this run

    def to_dict(self) -> dict[str, Any]:
        return {"seen": self.seen, "booked": self.booked, "already": self.already, "total": str(self.total)}


def _amount(b: Bill) -> Decimal | None:
    return b.pnl if b.pnl is not None else b.balChg  # OKX: "refer to pnl for the fee payment"


def new_funding_bills(rest: ExchangePort, after_id: int, since_ms: int) -> list[Bill]:
    """Funding bills newer than billId after_id (and not before since_ms), oldest first."""
    out: list[Bill] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = rest.bills(type=FUNDING_BILL, after=cursor, limit=100)
        done = len(page) < 100
        for b in page:
            if int(b.billId) <= after_id or b.ts < since_ms:
                done = True
                break
            out.append(b)
        if done or not page:
            break
        cursor = page[-1].billId
    out.sort(key=lambda b: int(b.billId))
    return out


def _since(engine: Engine) -> int:
    r, k = engine.redis, engine.keys
    raw = r.get(k.funding_since)
    if raw:
        return int(raw)
    first_fill = engine.journal.fills(limit=1)
    now = int(time.time() * 1000)
    since = min([now, *(f.ts for f in first_fill if f.ts)])
    r.set(k.funding_since, since, nx=True)
    return int(r.get(k.funding_since) or since)


def book_funding(engine: Engine) -> FundingReport:
    r, k = engine.redis, engine.keys
    raw = r.get(k.funding_cursor)
    after_id = int(raw) if raw else 0
    bills = new_funding_bills(engine.rest, after_id, _since(engine))
    report = FundingReport(seen=len(bills))
    for b in bills:
        amount = _amount(b)
        if amount is None:
            log.error("funding bill %s for %s carries no amount: not booked", b.billId, b.instId)
            continue
        res = engine.capital.on_funding(b.billId, b.instId, amount, b.ts)
        engine.journal.record_funding(
            FundingRecord(
                b.billId,
                b.instId,
                amount,
                b.ts,
                b.ccy or "USDT",
                b.subType,
                b.sz,
                b.px,
                res.shares or engine.capital.funding_shares(b.instId, amount),
            )
        )
        if res.applied:
            report.booked.append({"billId": b.billId, "instId": b.instId, "amount": str(amount)})
            report.total += amount
            log.info(
                "funding %s on %s booked (bill %s): %s",
                amount,
                b.instId,
                b.billId,
                {s: str(v) for s, v in res.shares.items()},
            )
        else:
            report.already += 1
        r.set(k.funding_cursor, b.billId)  # after booking: a crash before it re-reads this bill (no double)
    return report
