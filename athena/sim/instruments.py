"""The simulator's instrument table: OKX /public/instruments SWAP rows plus sim-only parameters."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from athena.domain.instrument import Instrument


@dataclass(frozen=True, slots=True)
class SimInstrument:
    """An instrument as the sim trades it: the OKX row, the domain Instrument and market parameters."""

    inst: Instrument
    row: dict[str, Any]
    start_px: Decimal  # initial mid
    mmr_rate: Decimal  # maintenance margin rate of notional
    vol_ticks: int  # std-dev of the mid's step in ticks
    depth_sz: Decimal  # typical contracts per level

    @property
    def instId(self) -> str:
        return self.inst.instId


def _row(
    inst_id: str, ct_val: str, lot: str, tick: str, code: int, max_mkt: str, lever: str
) -> dict[str, Any]:
    base, quote, _ = inst_id.split("-")
    fam = f"{base}-{quote}"
    return {
        "alias": "",
        "auctionEndTime": "",
        "baseCcy": "",
        "category": "1",
        "contTdSwTime": "",
        "ctMult": "1",
        "ctType": "linear",
        "ctVal": ct_val,
        "ctValCcy": base,
        "expTime": "",
        "futureSettlement": False,
        "groupId": "1",
        "instFamily": fam,
        "instId": inst_id,
        "instIdCode": code,
        "instType": "SWAP",
        "lever": lever,
        "listTime": "1611916800000",
        "lotSz": lot,
        "maxIcebergSz": "100000000",
        "maxLmtAmt": "20000000",
        "maxLmtSz": "100000000",
        "maxMktAmt": "",
        "maxMktSz": max_mkt,
        "maxStopSz": max_mkt,
        "maxTriggerSz": "100000000",
        "maxTwapSz": "100000000",
        "minSz": lot,
        "openType": "",
        "optType": "",
        "posLmtAmt": "",
        "posLmtPct": "",
        "preMktSwTime": "",
        "quoteCcy": "",
        "ruleType": "normal",
        "settleCcy": quote,
        "state": "live",
        "stk": "",
        "tickSz": tick,
        "tradeQuoteCcyList": [],
        "uly": fam,
        "upcChg": [],
        "instCategory": "1",
    }


# instId, ctVal, lotSz, tickSz, instIdCode, maxMktSz, lever, start px, mmr, vol ticks, depth
_TABLE: list[tuple[str, str, str, str, int, str, str, str, str, int, str]] = [
    ("BTC-USDT-SWAP", "0.01", "0.01", "0.1", 10459, "12000", "100", "100000.0", "0.004", 20, "50"),
    ("ETH-USDT-SWAP", "0.1", "0.01", "0.01", 10461, "20000", "100", "3500.00", "0.005", 20, "200"),
    ("SOL-USDT-SWAP", "1", "0.01", "0.01", 10465, "25000", "50", "180.00", "0.01", 5, "300"),
    ("DOGE-USDT-SWAP", "1000", "0.01", "0.00001", 10466, "30000", "75", "0.25000", "0.01", 5, "500"),
    ("XRP-USDT-SWAP", "100", "0.01", "0.0001", 10467, "30000", "75", "2.5000", "0.01", 5, "500"),
]


def default_instruments() -> list[SimInstrument]:
    out = []
    for inst_id, ct, lot, tick, code, mkt, lev, px, mmr, vol, depth in _TABLE:
        row = _row(inst_id, ct, lot, tick, code, mkt, lev)
        out.append(
            SimInstrument(Instrument.from_okx(row), row, Decimal(px), Decimal(mmr), vol, Decimal(depth))
        )
    return out
