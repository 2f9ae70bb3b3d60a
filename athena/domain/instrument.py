"""Instrument metadata and contract math for OKX SWAP (linear, USDT-margined)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from athena.domain.money import D, ceil_to_step, floor_to_step, is_multiple, round_to_step, truncate_to_step


class InstrumentError(ValueError):
    """A price or size does not fit the instrument's tickSz/lotSz/minSz."""


@dataclass(frozen=True, slots=True)
class Instrument:
    instId: str
    ctVal: Decimal
    lotSz: Decimal
    tickSz: Decimal
    minSz: Decimal
    ctMult: Decimal = Decimal(1)
    ctValCcy: str = ""
    settleCcy: str = "USDT"
    ctType: str = "linear"
    maxLmtSz: Decimal = Decimal(100_000_000)
    maxMktSz: Decimal = Decimal(12_000)
    lever: Decimal = Decimal(100)  # maximum leverage the exchange allows
    state: str = "live"

    @classmethod
    def from_okx(cls, row: dict[str, object]) -> Instrument:
        """Build from a /public/instruments row (all numbers are strings)."""

        def num(key: str, default: str | None = None) -> Decimal:
            raw = row.get(key, default)
            if raw in (None, "") and default is not None:
                raw = default
            if raw in (None, ""):
                raise InstrumentError(f"instrument {row.get('instId')!r}: missing {key}")
            return D(raw)  # type: ignore[arg-type]

        return cls(
            instId=str(row["instId"]),
            ctVal=num("ctVal"),
            lotSz=num("lotSz"),
            tickSz=num("tickSz"),
            minSz=num("minSz"),
            ctMult=num("ctMult", "1"),
            ctValCcy=str(row.get("ctValCcy") or ""),
            settleCcy=str(row.get("settleCcy") or "USDT"),
            ctType=str(row.get("ctType") or "linear"),
            maxLmtSz=num("maxLmtSz", "100000000"),
            maxMktSz=num("maxMktSz", "12000"),
            lever=num("lever", "100"),
            state=str(row.get("state") or "live"),
        )

    # -- rounding ---------------------------------------------------------------------------
    def round_px(self, px: Decimal) -> Decimal:
        return round_to_step(px, self.tickSz)

    def px_down(self, px: Decimal) -> Decimal:
        return floor_to_step(px, self.tickSz)

    def px_up(self, px: Decimal) -> Decimal:
        return ceil_to_step(px, self.tickSz)

    def round_sz(self, sz: Decimal) -> Decimal:
        """Round a size down to lotSz (never more contracts than asked)."""
        return truncate_to_step(sz, self.lotSz)

    def check_px(self, px: Decimal) -> None:
        if px <= 0 or not is_multiple(px, self.tickSz):
            raise InstrumentError(
                f"{self.instId}: px {px} is not a positive multiple of tickSz {self.tickSz}"
            )

    def check_sz(self, sz: Decimal) -> None:
        if sz < self.minSz:
            raise InstrumentError(f"{self.instId}: sz {sz} is below minSz {self.minSz}")
        if not is_multiple(sz, self.lotSz):
            raise InstrumentError(f"{self.instId}: sz {sz} is not a multiple of lotSz {self.lotSz}")

    # -- contract math (linear) ---------------------------------------------------------------
    @property
    def coin_per_contract(self) -> Decimal:
        return self.ctVal * self.ctMult

    def contracts_to_coin(self, sz: Decimal) -> Decimal:
        return sz * self.coin_per_contract

    def coin_to_contracts(self, coin: Decimal) -> Decimal:
        """Coin quantity to contracts, rounded down to lotSz."""
        return self.round_sz(coin / self.coin_per_contract)

    def notional(self, sz: Decimal, px: Decimal) -> Decimal:
        """Quote-currency notional of sz contracts at px."""
        return sz * self.coin_per_contract * px

    def pnl(self, sz: Decimal, entry_px: Decimal, exit_px: Decimal, sign: int) -> Decimal:
        """PnL in settleCcy for sz contracts; sign +1 long, -1 short."""
        return (exit_px - entry_px) * sz * self.coin_per_contract * sign
