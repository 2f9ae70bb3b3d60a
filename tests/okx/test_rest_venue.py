"""OkxRestGateway's venue calls against the simulator: trade-fee, leverage-info, price-limit, system
status, bills, and the typed refusals of an order outside the band or in a spot-mode account."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D

import pytest

from athena.domain import OrderRequest, OrdType, Side, TdMode
from athena.okx import parse
from athena.okx.errors import OkxAccountModeUnsupported, OkxPriceOutOfBand, ParseError
from athena.okx.ratelimit import RateLimiter
from athena.okx.rest import OkxRestGateway
from athena.okx.types import PriceLimit
from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.okx.helpers import SIM_CREDS

INST = "BTC-USDT-SWAP"


@pytest.fixture()
def venue() -> Iterator[tuple[SimClient, OkxRestGateway]]:
    with (
        SimServer(tick_interval_ms=0, rate_limits=False) as srv,
        OkxRestGateway(
            base_url=srv.url, credentials=SIM_CREDS, timeout_s=3.0, rate_limiter=RateLimiter(enabled=False)
        ) as gw,
    ):  # the sim's limits are off too
        yield SimClient(srv.url), gw


def test_trade_fee_is_typed_with_the_usdt_rates(venue: tuple[SimClient, OkxRestGateway]) -> None:
    _, gw = venue
    fee = gw.trade_fee()
    assert (fee.instType, fee.level, fee.makerU, fee.takerU) == ("SWAP", "Lv1", D("-0.0002"), D("-0.0005"))
    assert fee.rates("USDT") == (D("-0.0002"), D("-0.0005"))


def test_leverage_info_reads_back(venue: tuple[SimClient, OkxRestGateway]) -> None:
    _, gw = venue
    gw.set_leverage(INST, 3, TdMode.CROSS)
    [info] = gw.leverage_info(INST, TdMode.CROSS)
    assert (info.instId, info.lever, info.mgnMode) == (INST, D(3), TdMode.CROSS)


def test_price_limit_disabled_then_enabled(venue: tuple[SimClient, OkxRestGateway]) -> None:
    sim, gw = venue
    off = gw.price_limit(INST)
    assert (off.enabled, off.buyLmt, off.sellLmt) == (False, None, None)
    assert off.allows(Side.BUY, D(10**9)) and off.clamp(D(5)) == D(5)
    sim.admin("price-limit", {"instId": INST, "buyLmt": "101000", "sellLmt": "99000"})
    band = gw.price_limit(INST)
    assert (band.enabled, band.buyLmt, band.sellLmt) == (True, D(101000), D(99000))
    assert not band.allows(Side.BUY, D("101000.1")) and band.allows(Side.SELL, D(99000))
    assert band.clamp(D(98000)) == D(99000) and band.clamp(D(120000)) == D(101000)


def test_price_limit_parse_refuses_an_inverted_band() -> None:
    with pytest.raises(ParseError):
        parse.price_limit({"instId": INST, "buyLmt": "1", "sellLmt": "2", "enabled": True})
    assert parse.price_limit({"instId": INST, "buyLmt": "2", "sellLmt": "1"}) == PriceLimit(
        INST, D(2), D(1), True
    )


def test_system_status_lists_the_maintenance(venue: tuple[SimClient, OkxRestGateway]) -> None:
    sim, gw = venue
    assert gw.system_status() == []
    sim.admin("system-status", {"begin_in_s": 1200, "duration_s": 600, "serviceType": "5"})
    [m] = gw.system_status()
    assert (m.state, m.serviceType, m.end is not None and m.end - m.begin) == ("scheduled", "5", 600_000)


def test_bills_of_funding_type(venue: tuple[SimClient, OkxRestGateway]) -> None:
    sim, gw = venue
    sim.post(
        "/api/v5/trade/order",
        {"instId": INST, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1"},
    )
    sim.admin("funding", {"rate": "0.0001", "settle": True})
    sim.admin("funding", {"settle": True})
    bills = gw.bills(type="8")
    assert [b.subType for b in bills] == ["173", "173"] and all(
        b.pnl is not None and b.pnl < 0 for b in bills
    )
    assert bills[0].billId != bills[1].billId and gw.bills(type="8", before=bills[0].billId) == []
    assert [b.billId for b in gw.bills(type="8", before=bills[1].billId)] == [bills[0].billId]


def test_an_order_outside_the_band_is_a_typed_refusal(venue: tuple[SimClient, OkxRestGateway]) -> None:
    sim, gw = venue
    sim.admin("price", {"instId": INST, "px": "100000"})
    sim.admin("price-limit", {"instId": INST, "buyLmt": "101000", "sellLmt": "99000"})
    req = OrderRequest(
        clOrdId="band1", instId=INST, side=Side.BUY, ordType=OrdType.LIMIT, sz=D("0.01"), px=D(102000)
    )
    with pytest.raises(OkxPriceOutOfBand) as info:
        gw.place_order(req)
    assert info.value.sCode == "51006"


def test_a_spot_mode_account_is_a_typed_refusal(venue: tuple[SimClient, OkxRestGateway]) -> None:
    sim, gw = venue
    sim.admin("account", {"acctLv": "1"})
    req = OrderRequest(clOrdId="spot1", instId=INST, side=Side.BUY, ordType=OrdType.MARKET, sz=D("0.01"))
    with pytest.raises(OkxAccountModeUnsupported):
        gw.place_order(req)
    cfg = gw.account_config()
    assert (cfg.acctLv, cfg.ip, cfg.can_withdraw) == ("1", "127.0.0.1", False)
