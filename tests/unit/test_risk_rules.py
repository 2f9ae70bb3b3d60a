"""Pure parts of the risk layer: settings -> RiskConfig/RiskProfile, size_for_risk, stable codes."""

from __future__ import annotations

from decimal import Decimal as D

from athena.config import RiskProfileSettings, RiskSettings, Settings, StrategySettings
from athena.domain import Instrument
from athena.risk import Reason, RiskConfig, RiskProfile, profiles_from, size_for_risk

BTC = Instrument("BTC-USDT-SWAP", ctVal=D("0.01"), lotSz=D("0.01"), tickSz=D("0.1"), minSz=D("0.01"))
LOT1 = Instrument("X-USDT-SWAP", ctVal=D("0.01"), lotSz=D(1), tickSz=D("0.1"), minSz=D(1))


def test_risk_config_from_settings() -> None:
    cfg = RiskConfig.from_settings(RiskSettings())
    assert cfg == RiskConfig(D("0.01"), D(3), D("0.10"), D("0.03"), D(3))
    assert all(isinstance(v, D) for v in (cfg.risk_per_trade, cfg.max_leverage, cfg.max_total_exposure))


def test_profiles_from_settings_only_enabled_and_capped() -> None:
    risk = RiskProfileSettings(
        leverage=D(2), max_order_notional=D(700), max_orders_per_minute=4, max_position=D(9)
    )
    s = Settings(
        strategies=[
            StrategySettings(name="a", instIds=["BTC-USDT-SWAP"], allocation=D("0.5"), risk=risk),
            StrategySettings(name="b", instIds=["BTC-USDT-SWAP"], allocation=D("0.5"), enabled=False),
        ]
    )
    profiles = profiles_from(s)
    assert list(profiles) == ["a"]
    p = profiles["a"]
    assert p == RiskProfile("a", D(2), "exchange_conditional", D(700), 4, D(9))
    assert p.leverage_cap(D(3)) == D(2) and p.leverage_cap(D("1.5")) == D("1.5")


def test_size_for_risk_one_percent() -> None:
    # 1% of 10000 = 100 USDT; 1000 USDT per BTC to the stop; 0.01 BTC per contract -> 10 contracts
    assert size_for_risk(D(10000), D(50000), D(49000), BTC, D("0.01")) == D(10)
    # short: stop above
    assert size_for_risk(D(10000), D(49000), D(50000), BTC, D("0.01")) == D(10)


def test_size_for_risk_rounds_down_to_lot_and_respects_budget() -> None:
    sz = size_for_risk(D(10000), D(50000), D(49300), BTC, D("0.01"))  # 14.2857.. -> 14.28
    assert sz == D("14.28")
    assert abs(D(50000) - D(49300)) * sz * BTC.coin_per_contract <= D(100)
    assert size_for_risk(D(10000), D(50000), D(49300), LOT1, D("0.01")) == D(14)


def test_size_for_risk_zero_cases() -> None:
    assert size_for_risk(D(10), D(50000), D(40000), LOT1, D("0.01")) == 0  # 0.001 < minSz
    assert size_for_risk(D(10000), D(50000), D(50000), BTC, D("0.01")) == 0  # no distance
    assert size_for_risk(D(0), D(50000), D(49000), BTC, D("0.01")) == 0
    assert size_for_risk(D(-5), D(50000), D(49000), BTC, D("0.01")) == 0


def test_reason_codes_are_stable_strings() -> None:
    assert Reason.NO_MARK == "no_mark"
    assert Reason.BYPASS_NOT_REDUCE_ONLY == "bypass_not_reduce_only"
    assert len({r.value for r in Reason}) == len(Reason)


def test_size_for_risk_at_the_minimum_size_and_below_it() -> None:
    """Killed mutants: `>=` -> `>` against minSz, the minSz check dropped, a size under 1 contract refused,
    and a small account (equity 1 USDT) refused as if it had none."""
    min1 = Instrument("Y-USDT-SWAP", ctVal=D("0.01"), lotSz=D("0.01"), tickSz=D("0.1"), minSz=D(1))
    assert size_for_risk(D(1), D(100), D(99), min1, D("0.01")) == D(1)  # exactly minSz: allowed
    assert size_for_risk(D("0.99"), D(100), D(99), min1, D("0.01")) == 0  # 0.99 < minSz
    assert size_for_risk(D(50), D(50000), D(49000), BTC, D("0.01")) == D("0.05")  # under one contract
    assert size_for_risk(D(1), D(100), D(99), BTC, D("0.05")) == D(5)  # 1 USDT of equity is equity
