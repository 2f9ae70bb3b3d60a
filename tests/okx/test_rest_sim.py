"""OkxRestGateway against the simulator over real HTTP: every endpoint and every error class."""

from __future__ import annotations

import itertools
import socket
import time
from decimal import Decimal

import pytest

from athena.config import Settings
from athena.domain import (
    AlgoOrder,
    AlgoState,
    OrderRequest,
    OrderState,
    OrdType,
    PosMode,
    PosSide,
    Side,
    TdMode,
)
from athena.okx.errors import OkxAmbiguous, OkxAuthError, OkxRateLimited, OkxRejected, OkxTransient
from athena.okx.rest import OkxRestGateway
from athena.okx.signing import Clock
from tests.okx.helpers import SIM_CREDS, Sim
from tests.waiting import wait_until

INST = "BTC-USDT-SWAP"
_ids = itertools.count(1)


def cid(prefix: str = "t") -> str:
    return f"{prefix}{int(time.time() * 1000) % 10**9}n{next(_ids)}"


def far_bid(rest: OkxRestGateway) -> Decimal:
    t = rest.ticker(INST)
    assert t.bidPx is not None
    return (t.bidPx * Decimal("0.8")).quantize(Decimal("0.1"))


def test_from_settings_public_and_clock(clean_sim: Sim) -> None:
    port = int(clean_sim.url.rsplit(":", 1)[1])
    settings = Settings.model_validate({"mode": "sim", "sim": {"port": port}, "okx": {"timeout_s": 2.0}})
    with OkxRestGateway(settings) as gw:
        assert gw.timeout[1] == 2.0 and "x-simulated-trading" not in gw.session.headers
        assert abs(gw.sync_clock()) < 1000 and gw.clock.synced
        assert abs(gw.server_time() - time.time() * 1000) < 2000
        insts = {i.instId: i for i in gw.instruments()}
        assert insts[INST].tickSz == Decimal("0.1") and insts[INST].lotSz == Decimal("0.01")
        assert [i.instId for i in gw.instruments(instId=INST)] == [INST]
        t = gw.ticker(INST)
        assert t.bidPx is not None and t.askPx is not None and t.bidPx < t.askPx
        b = gw.books(INST, sz=5)
        assert len(b.bids) == 5 and b.best_bid.px < b.best_ask.px
        assert "sim-secret-key" not in repr(gw)
    demo = Settings.model_validate(
        {
            "mode": "demo",
            "okx": {
                "api_key": "k1234",
                "secret_key": "s1234",
                "passphrase": "p1234",
                "rest_url": clean_sim.url,
            },
        }
    )
    with OkxRestGateway(demo) as gw:
        assert gw.session.headers["x-simulated-trading"] == "1"


def test_account_endpoints(rest: OkxRestGateway) -> None:
    bal = rest.balance()
    usdt = bal.get("USDT")
    assert usdt is not None and usdt.eq is not None and usdt.eq > 0
    cfg = rest.account_config()
    assert cfg.posMode is PosMode.NET and cfg.can_trade
    lev = rest.set_leverage(INST, 3, TdMode.CROSS)
    assert lev.lever == 3 and lev.mgnMode is TdMode.CROSS and lev.instId == INST
    assert rest.set_position_mode(PosMode.LONG_SHORT) is PosMode.LONG_SHORT
    assert rest.account_config().posMode is PosMode.LONG_SHORT
    assert rest.set_position_mode(PosMode.NET) is PosMode.NET
    assert isinstance(rest.positions(), list)


def test_order_lifecycle(rest: OkxRestGateway) -> None:
    px = far_bid(rest)
    req = OrderRequest(cid("life"), INST, Side.BUY, OrdType.LIMIT, Decimal("0.05"), px)
    ack = rest.place_order(req)
    assert (
        ack.state is OrderState.LIVE and ack.ordId and ack.clOrdId == req.clOrdId and ack.source == "rest_ack"
    )
    got = rest.get_order(INST, clOrdId=req.clOrdId)
    assert (
        got is not None
        and got.state is OrderState.LIVE
        and got.px == px
        and got.avgPx is None
        and got.ordId == ack.ordId
    )
    assert rest.get_order(INST, ordId=ack.ordId) == got
    assert req.clOrdId in [u.clOrdId for u in rest.orders_pending(INST)]
    amended = rest.amend_order(
        INST, clOrdId=req.clOrdId, newPx=px - Decimal(1), newSz=Decimal("0.04"), reqId="r1"
    )
    assert amended.clOrdId == req.clOrdId
    assert wait_until(
        lambda: (
            (o := rest.get_order(INST, clOrdId=req.clOrdId)) is not None
            and o.px == px - 1
            and o.sz == Decimal("0.04")
        ),
        30,
    )
    cancel = rest.cancel_order(INST, clOrdId=req.clOrdId)
    assert cancel.ordId == ack.ordId
    assert wait_until(lambda: rest.get_order(INST, clOrdId=req.clOrdId).state is OrderState.CANCELED, 30)  # type: ignore[union-attr]
    assert req.clOrdId not in [u.clOrdId for u in rest.orders_pending()]
    assert req.clOrdId in [u.clOrdId for u in rest.orders_history(INST)]
    assert rest.get_order(INST, clOrdId="neverplaced1") is None  # 51603 -> None
    with pytest.raises(OkxRejected) as info:  # cancelling a finished order: definite
        rest.cancel_order(INST, clOrdId=req.clOrdId)
    assert info.value.sCode == "51400" or info.value.code == "51400"


def test_fill_position_stop_and_close(rest: OkxRestGateway) -> None:
    req = OrderRequest(cid("mkt"), INST, Side.BUY, OrdType.MARKET, Decimal("0.1"))
    rest.place_order(req)
    assert wait_until(
        lambda: (o := rest.get_order(INST, clOrdId=req.clOrdId)) is not None and o.state is OrderState.FILLED,
        30,
    )
    filled = rest.get_order(INST, clOrdId=req.clOrdId)
    assert (
        filled is not None
        and filled.accFillSz == Decimal("0.1")
        and filled.avgPx is not None
        and filled.avgPx > 0
    )
    assert filled.fee is not None and filled.fee < 0
    fills = [f for f in rest.fills(INST) if f.clOrdId == req.clOrdId]
    assert fills and sum(f.fillSz for f in fills) == Decimal("0.1") and all(f.side is Side.BUY for f in fills)
    pos = [p for p in rest.positions(INST) if not p.is_flat]
    assert len(pos) == 1 and pos[0].pos == Decimal("0.1") and pos[0].avgPx is not None
    stop_px = (filled.avgPx * Decimal("0.9")).quantize(Decimal("0.1"))
    algo = rest.place_algo(AlgoOrder(cid("sl"), INST, Side.SELL, Decimal("0.1"), stop_px))
    assert algo.algoId and algo.state is AlgoState.LIVE
    pending = {a.algoClOrdId: a for a in rest.algos_pending(INST)}
    assert pending[algo.algoClOrdId].slTriggerPx == stop_px and pending[algo.algoClOrdId].sz == Decimal("0.1")
    acks = rest.cancel_algos(INST, algoIds=[algo.algoId])
    assert len(acks) == 1 and acks[0].ok and acks[0].algoId == algo.algoId
    assert algo.algoClOrdId not in {a.algoClOrdId for a in rest.algos_pending(INST)}
    close_id = cid("close")
    ack = rest.close_position(INST, TdMode.CROSS, PosSide.NET, clOrdId=close_id, autoCxl=True)
    assert ack.instId == INST
    assert wait_until(lambda: all(p.is_flat for p in rest.positions(INST)), 30)


def test_batch_with_a_rejected_item(rest: OkxRestGateway) -> None:
    px = far_bid(rest)
    a = OrderRequest(cid("ba"), INST, Side.BUY, OrdType.LIMIT, Decimal("0.01"), px)
    bad = OrderRequest(cid("bb"), INST, Side.BUY, OrdType.LIMIT, Decimal("0.015"), px)  # not a lotSz multiple
    out = rest.place_batch([a, bad])
    assert [u.clOrdId for u in out] == [a.clOrdId, bad.clOrdId]
    assert out[0].state is OrderState.LIVE and out[0].ordId
    assert out[1].state is OrderState.REJECTED and out[1].sCode == "51121"
    rest.cancel_order(INST, clOrdId=a.clOrdId)


def test_cancel_all_after(rest: OkxRestGateway) -> None:
    r = rest.cancel_all_after(10)
    assert r.triggerTime > 0 and abs(r.triggerTime - r.ts - 10) <= 1  # seconds
    waited = rest.limiter.waited_s
    assert rest.cancel_all_after(0).triggerTime == 0  # 1 request per second: the client's limiter waits
    assert rest.limiter.waited_s > waited
    with pytest.raises(ValueError):
        rest.cancel_all_after(5)


# -- error classes ------------------------------------------------------------------------------
def test_rejected_carries_codes_and_update(rest: OkxRestGateway, clean_sim: Sim) -> None:
    clean_sim.faults(reject_orders=1, reject_code="51008")
    req = OrderRequest(cid("rej"), INST, Side.BUY, OrdType.LIMIT, Decimal("0.01"), far_bid(rest))
    with pytest.raises(OkxRejected) as info:
        rest.place_order(req)
    e = info.value
    assert e.sCode == "51008" and e.clOrdId == req.clOrdId and e.sMsg
    assert e.update.state is OrderState.REJECTED and e.update.sCode == "51008"


def test_auth_error_has_no_secret(clean_sim: Sim) -> None:
    creds = ("sim-api-key", "wrong-secret-xyz", "sim-passphrase")
    with OkxRestGateway(base_url=clean_sim.url, credentials=creds) as gw, pytest.raises(OkxAuthError) as info:
        gw.balance()
    assert info.value.code == "50113" and info.value.http_status == 401
    assert "wrong-secret-xyz" not in str(info.value) and "sim-passphrase" not in str(info.value)


def test_drifting_local_clock_is_corrected(clean_sim: Sim) -> None:
    # the host clock is 2 minutes behind: signing with it would give 50102
    with OkxRestGateway(
        base_url=clean_sim.url, credentials=SIM_CREDS, clock=Clock(-120_000), auto_sync_clock=False
    ) as gw:
        assert gw.balance().totalEq is not None  # 50102 -> re-sync from /public/time -> retried once
        assert gw.stats["clock_resyncs"] == 1 and abs(gw.clock.offset_ms) < 1000
    with OkxRestGateway(base_url=clean_sim.url, credentials=SIM_CREDS, clock=Clock(-120_000)) as gw:
        gw.balance()  # synced before the first signed call
        assert gw.stats["clock_resyncs"] == 0 and gw.clock.synced


def test_rate_limit_backs_off_then_succeeds(rest: OkxRestGateway, clean_sim: Sim) -> None:
    clean_sim.faults(rest_rate_limit={"count": 2, "path": "/api/v5/account/balance"})
    t0 = time.monotonic()
    assert rest.balance().totalEq is not None
    elapsed = time.monotonic() - t0
    assert rest.stats["rate_limited"] == 2
    assert elapsed >= 0.1 + 0.2 - 0.02  # backoff 0.1 s then 0.2 s


def test_rate_limit_gives_up_with_retry_after(rest: OkxRestGateway, clean_sim: Sim) -> None:
    clean_sim.faults(rest_rate_limit={"count": 10, "path": "/api/v5/account/positions"})
    with pytest.raises(OkxRateLimited) as info:
        rest.positions()
    assert info.value.http_status == 429 and info.value.retry_after > 0
    assert rest.stats["rate_limited"] == rest.rate_limit_retries + 1


def test_transient_5xx_and_refused(rest: OkxRestGateway, clean_sim: Sim) -> None:
    clean_sim.faults(rest_5xx={"count": 1, "path": "/api/v5/account/config"})
    with pytest.raises(OkxTransient) as info:
        rest.account_config()
    assert info.value.http_status == 503 and info.value.code == "50001"
    assert rest.account_config().posMode  # next call fine
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with OkxRestGateway(
        base_url=f"http://127.0.0.1:{port}", credentials=SIM_CREDS, auto_sync_clock=False
    ) as gw:
        req = OrderRequest(cid("ref"), INST, Side.BUY, OrdType.MARKET, Decimal("0.01"))
        with pytest.raises(OkxTransient):  # refused before sending: not ambiguous
            gw.place_order(req)


def test_timeout_after_send_is_ambiguous_and_resolved_by_clordid(clean_sim: Sim) -> None:
    clean_sim.faults(rest_timeout={"count": 1, "path": "/api/v5/trade/order"}, rest_timeout_hold_s=2.0)
    # expTime later than the hold (an exchange that accepts a late request): the order may exist
    with OkxRestGateway(
        base_url=clean_sim.url, credentials=SIM_CREDS, timeout_s=0.4, exp_time_ms=10_000
    ) as gw:
        gw.sync_clock()
        req = OrderRequest(cid("amb"), INST, Side.BUY, OrdType.LIMIT, Decimal("0.02"), far_bid(gw))
        placed: list[bytes] = []  # bodies of POST /trade/order requests the sim received

        def record(path: str, raw: bytes, recv_ns: int) -> None:
            if path == "/api/v5/trade/order" and raw:
                placed.append(raw)

        clean_sim.server.on_request = record
        try:
            with pytest.raises(OkxAmbiguous) as info:  # no answer within the client's timeout
                gw.place_order(req)
            assert info.value.clOrdId == req.clOrdId
            # the order still happened on the exchange: found by clOrdId, never resent
            assert wait_until(lambda: gw.get_order(INST, clOrdId=req.clOrdId) is not None, 15, 0.1)
        finally:
            clean_sim.server.on_request = None
        assert len(placed) == 1 and req.clOrdId.encode() in placed[0]
        found = gw.get_order(INST, clOrdId=req.clOrdId)
        assert found is not None and found.state is OrderState.LIVE and found.sz == Decimal("0.02")
        gw.cancel_order(INST, clOrdId=req.clOrdId)


def test_get_timeout_is_transient_not_ambiguous(clean_sim: Sim) -> None:
    clean_sim.faults(rest_timeout={"count": 1, "path": "/api/v5/account/balance"}, rest_timeout_hold_s=5.0)
    with OkxRestGateway(base_url=clean_sim.url, credentials=SIM_CREDS, timeout_s=0.3) as gw:
        gw.sync_clock()
        with pytest.raises(OkxTransient):
            gw.balance()


def test_client_side_limiter_spaces_calls(clean_sim: Sim) -> None:
    from athena.okx.ratelimit import Limit, RateLimiter

    limiter = RateLimiter(max_wait_s=1.0, limits={"/market/ticker": Limit(2, 0.4)})
    with OkxRestGateway(base_url=clean_sim.url, credentials=SIM_CREDS, rate_limiter=limiter) as gw:
        t0 = time.monotonic()
        for _ in range(4):
            gw.ticker(INST)
        assert time.monotonic() - t0 >= 0.35  # 2 immediately, then one every 0.2 s
        assert limiter.waited_s > 0
