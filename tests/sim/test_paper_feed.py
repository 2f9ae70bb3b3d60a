"""The paper venue over real sockets: one SimServer plays OKX's public feed (the upstream), another is
the paper venue fed by it (athena.sim.upstream). Its instruments, books, drops and gaps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from athena.sim.client import SimClient
from athena.sim.config import SimConfig
from athena.sim.server import SimServer
from tests.waiting import wait_for

BTC = "BTC-USDT-SWAP"


@pytest.fixture()
def upstream() -> Iterator[SimServer]:
    srv = SimServer(SimConfig(seed=11, tick_interval_ms=0)).start()
    # a spec the sim's own table does not have: the venue must list the upstream's row
    SimClient(srv.url).admin("instrument", {"instId": BTC, "tickSz": "0.5"})
    yield srv
    srv.stop()


@pytest.fixture()
def venue(upstream: SimServer) -> Iterator[SimServer]:
    srv = SimServer(
        SimConfig(
            upstream_rest_url=upstream.url,
            upstream_ws_url=upstream.ws_url("public"),
            inst_ids=[BTC],
            tick_interval_ms=0,
            idle_timeout_s=60,
        )
    ).start()
    yield srv
    srv.stop()


def _state(srv: SimServer) -> dict[str, Any]:
    return SimClient(srv.url).admin("state")  # type: ignore[no-any-return]


def _mirrors(upstream: SimServer, venue: SimServer) -> bool:
    """The venue shows the upstream's current book (and it is fresh)."""
    up, pv = _state(upstream)["markets"][BTC], _state(venue)
    m = pv["markets"][BTC]
    return not pv["paper"]["stale"] and (m["bid"], m["ask"]) == (up["bid"], up["ask"]) and m["bid"] != ""


def _step(upstream: SimServer, n: int = 1) -> None:
    SimClient(upstream.url).admin("step", {"n": n})


def test_instruments_and_books_come_from_the_upstream(upstream: SimServer, venue: SimServer) -> None:
    rows = SimClient(venue.url).get("/api/v5/public/instruments?instType=SWAP", signed=False)["data"]
    assert [(r["instId"], r["tickSz"]) for r in rows] == [(BTC, "0.5")]
    for _ in range(3):
        _step(upstream)
        wait_for(lambda: _mirrors(upstream, venue), 10, "the venue's book = the upstream's")
    # the venue's own synthetic market is off and cannot be driven
    # funding: the upstream's funding-rate push (its seed's rate), not the venue's own
    want = upstream.call(upstream.exchange.funding_json, BTC)["fundingRate"]

    def relayed() -> dict[str, Any] | None:  # the venue's own answer has no formulaType
        row: dict[str, Any] = SimClient(venue.url).get(
            f"/api/v5/public/funding-rate?instId={BTC}", signed=False
        )["data"][0]
        return row if row.get("formulaType") else None

    got = wait_for(relayed, 10, "the upstream's funding rate")
    assert got["fundingRate"] == want and want != "0.0001"
    for path, body in (("step", {"n": 1}), ("price", {"instId": BTC, "px": "1"})):
        with pytest.raises(RuntimeError, match="comes from its upstream"):
            SimClient(venue.url).admin(path, body)


def test_a_dropped_upstream_stales_the_book_nothing_fills_and_it_is_rebuilt(
    upstream: SimServer, venue: SimServer
) -> None:
    wait_for(lambda: _mirrors(upstream, venue), 10, "first book")
    ask = _state(upstream)["markets"][BTC]["ask"]
    SimClient(upstream.url).admin(
        "faults", {"stall_all": True, "stall_s": 30}
    )  # no reconnect succeeds for now
    SimClient(upstream.url).admin("ws/drop", {})
    wait_for(lambda: _state(venue)["paper"]["stale"] == [BTC], 10, "stale after the drop")
    m = _state(venue)["markets"][BTC]
    assert (m["bid"], m["ask"]) == ("", "")
    # a buy that crossed the last book rests: the venue does not fill on a stale book
    item = venue.call(
        venue.exchange.place_order,
        {"instId": BTC, "tdMode": "cross", "side": "buy", "ordType": "limit", "px": ask, "sz": "1"},
    )
    assert item["sCode"] == "0"
    assert venue.exchange.orders[item["ordId"]].state == "live"
    SimClient(upstream.url).admin("faults/clear", {})
    SimClient(upstream.url).admin("ws/drop", {})  # the stalled connection too
    view = wait_for(
        lambda: _mirrors(upstream, venue) and _state(venue)["paper"]["upstream"], 15, "resubscribed"
    )
    assert view["connects"] >= 2
    _step(upstream, 2)
    wait_for(lambda: _mirrors(upstream, venue), 10, "updates after the rebuild")


def test_a_books_seq_gap_resubscribes_and_rebuilds(upstream: SimServer, venue: SimServer) -> None:
    wait_for(lambda: _mirrors(upstream, venue), 10, "first book")
    SimClient(upstream.url).admin("faults", {"books_gap": 1})
    _step(upstream, 1)
    _step(upstream, 1)  # its prevSeqId does not chain: a gap
    resyncs = wait_for(lambda: _state(venue)["paper"]["upstream"]["resyncs"][BTC], 10, "a resync")
    assert resyncs == 1
    assert _state(venue)["paper"]["upstream"]["connects"] == 1  # the book alone was renewed
    _step(upstream, 1)
    wait_for(lambda: _mirrors(upstream, venue), 10, "the rebuilt book")


def test_athena_sim_says_in_one_sentence_when_the_upstream_cannot_list_the_instruments(
    upstream: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from athena.sim.cli import main
    from athena.testing.redis_server import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    assert (
        main(["--port", "0", "--upstream-rest", dead, "--upstream-ws", "ws://127.0.0.1:1/ws/v5/public"]) == 2
    )
    out = capsys.readouterr().out
    assert f"cannot read instruments from the upstream {dead}" in out and "Traceback" not in out
    assert (
        main(
            [
                "--port",
                "0",
                "--upstream-rest",
                upstream.url,
                "--upstream-ws",
                upstream.ws_url("public"),
                "--inst-ids",
                "NOPE-USDT-SWAP",
            ]
        )
        == 2
    )
    assert "lists no SWAP NOPE-USDT-SWAP; check the symbols" in capsys.readouterr().out
    assert main(["--port", "0", "--upstream-ws", upstream.ws_url("public"), "--upstream-rest", ""]) == 2
    assert "--upstream-ws needs --upstream-rest" in capsys.readouterr().out
