"""NautilusTrader's OKX adapter (Rust core, pinned in tests/conformance/nautilus_venv.sh) trading the
simulator.

A TradingNode with OKX data and execution clients pointed at the sim runs tests/conformance/nautilus_node.py
in `.venv-nautilus` (Python >= 3.12; `make test` makes it, and this test makes it when it is missing). The
script writes Nautilus's own events as JSON lines; this side asserts them and checks them against the sim's
records over REST.

What NautilusTrader 1.231 does on the wire, read from its frames to the sim:
- orders, amends, cancels and batch cancels go over the private WebSocket (`op` order / amend-order /
  cancel-order / batch-cancel-orders, with `instIdCode`); conditional (stop) orders go over REST
  `order-algo` (ordType trigger) and are confirmed on the business `orders-algo` channel;
- its WS `order` op does not carry `reduceOnly`, even for a reduce-only order (the REST `order-algo`
  call does): at the exchange its reduce-only market sell is a plain sell (checked below);
- it reports OrderAccepted twice for a WS order, once from the op reply and once from the `live` push.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from athena.sim.client import SimClient
from athena.sim.server import SimServer
from tests.sim.helpers import BTC, KEY, PASS, SECRET

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-nautilus"
NODE_SCRIPT = Path(__file__).with_name("nautilus_node.py")
VENV_SCRIPT = Path(__file__).with_name("nautilus_venv.sh")


@pytest.fixture(scope="module")
def nautilus_python() -> Path:
    """The venv's interpreter, made by the same script `make test` runs if it is not there yet."""
    python = VENV / "bin" / "python"
    made = subprocess.run(
        ["bash", str(VENV_SCRIPT), str(VENV)], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    if made.returncode != 0:
        pytest.fail(f"making {VENV.name} failed:\n{made.stderr[-3000:]}")
    if not python.exists():
        msg = (
            f"NAUTILUS CONFORMANCE NOT RUN: no Python >= 3.12 could be found or installed "
            f"(pyenv, PATH, uv), so NautilusTrader cannot run here. {made.stderr.strip()}"
        )
        print(msg, file=sys.stderr)
        pytest.skip(msg)
    return python


@pytest.fixture()
def moving_sim() -> Iterator[tuple[SimServer, list[str]]]:
    """A sim whose synthetic market steps every 100 ms (quotes, books and trades flow),
    recording REST paths."""
    srv = SimServer(tick_interval_ms=100)
    paths: list[str] = []
    srv.on_request = lambda path, raw, recv_ns: paths.append(path)
    srv.start()
    yield srv, paths
    srv.stop()


def _run_node(python: Path, sim: SimServer, tmp_path: Path) -> tuple[list[dict[str, Any]], str]:
    events_file = tmp_path / "events.jsonl"
    env = {**os.environ, "OKX_API_KEY": KEY, "OKX_API_SECRET": SECRET, "OKX_API_PASSPHRASE": PASS}
    ws_base = sim.ws_url("public").removesuffix("/ws/v5/public")
    done = subprocess.run(
        [str(python), str(NODE_SCRIPT), sim.url, ws_base, str(events_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-5000:]
    lines = events_file.read_text().splitlines() if events_file.exists() else []
    return [json.loads(line) for line in lines], log


def _of(events: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("kind") == "event" and e["label"] == label]


def _types(events: list[dict[str, Any]], label: str) -> list[str]:
    return [e["type"] for e in _of(events, label)]


def _one(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [e for e in events if e["kind"] == kind]
    assert len(found) == 1, (kind, found)
    return found[0]


def _in_order(types: list[str], *wanted: str) -> bool:
    """The wanted event types occur in this order (other events may come between)."""
    it = iter(types)
    return all(any(t == w for t in it) for w in wanted)


def test_trading_node_round_trip(
    nautilus_python: Path, moving_sim: tuple[SimServer, list[str]], tmp_path: Path
) -> None:
    sim, rest_paths = moving_sim
    events, log = _run_node(nautilus_python, sim, tmp_path)
    errors = [e for e in events if e["kind"] == "error"]
    assert not errors and any(e["kind"] == "done" for e in events), (errors, log[-5000:])
    # The adapter logs every OKX WS error (60018 wrong channel before the sim served instruments and
    # algo-advance) and every failed request; none may remain.
    assert "OKXWebSocketError" not in log and "[ERROR]" not in log, log[-5000:]
    refusals = [
        e
        for e in events
        if e.get("type") in ("OrderRejected", "OrderDenied", "OrderModifyRejected", "OrderCancelRejected")
    ]
    assert [(e["type"], e["label"]) for e in refusals] == [("OrderRejected", "refused")], refusals

    # instruments loaded over REST, fees from GET /account/trade-fee (OKX's negative = paid, Nautilus's
    # positive)
    inst = _one(events, "instrument")
    assert (inst["id"], inst["count"]) == ("BTC-USDT-SWAP.OKX", 5)
    assert (inst["price_increment"], inst["size_increment"], inst["multiplier"]) == ("0.1", "0.01", "0.01")
    assert (inst["maker_fee"], inst["taker_fee"]) == ("0.0002", "0.0005")
    assert "/api/v5/account/trade-fee" in rest_paths
    subscribed = sim.call(lambda: dict(sim.hub.subscribed))
    for ch in (
        "instruments",
        "books",
        "bbo-tbt",
        "trades",
        "orders",
        "account",
        "orders-algo",
        "algo-advance",
    ):
        assert subscribed.get(ch), (ch, subscribed)

    # market data: books (deltas into Nautilus's own book), quotes (bbo-tbt), trades
    assert _one(events, "book")["deltas"] > 0
    top = _one(events, "book_top")
    assert Decimal(top["bid"]) < Decimal(top["ask"]) and top["levels"] > 2
    quote = _one(events, "quote")
    assert Decimal(quote["bid"]) < Decimal(quote["ask"])
    trade = _one(events, "trade")
    assert Decimal(trade["price"]) > 0 and trade["aggressor"] in ("BUYER", "SELLER")

    admin = SimClient(sim.url)
    cl = {e["label"]: e["client_order_id"] for e in events if e["kind"] == "placed"}

    def order(label: str) -> dict[str, Any]:
        got = admin.get(f"/api/v5/trade/order?instId={BTC}&clOrdId={cl[label]}")
        assert got["code"] == "0", got
        return got["data"][0]  # type: ignore[no-any-return]

    # post-only limit: placed, amended, cancelled, all over the private WebSocket
    rest = _types(events, "rest")
    assert _in_order(
        rest,
        "OrderSubmitted",
        "OrderAccepted",
        "OrderPendingUpdate",
        "OrderUpdated",
        "OrderPendingCancel",
        "OrderCanceled",
    ), rest
    new_px = next(e["price"] for e in _of(events, "rest") if e["type"] == "OrderUpdated")
    o = order("rest")
    assert (o["ordType"], o["state"], o["cancelSource"]) == ("post_only", "canceled", "1")
    assert Decimal(o["px"]) == Decimal(new_px)  # the sim's text may drop a trailing ".0": compare values

    # a post-only order that would take: OKX accepts, then cancels it (cancelSource 31)
    assert _in_order(_types(events, "taker_post_only"), "OrderAccepted", "OrderCanceled")
    assert (order("taker_post_only")["state"], order("taker_post_only")["cancelSource"]) == ("canceled", "31")

    # two orders cancelled in one batch-cancel-orders op
    for label in ("batch_a", "batch_b"):
        assert _in_order(_types(events, label), "OrderAccepted", "OrderPendingCancel", "OrderCanceled")
        assert order(label)["state"] == "canceled"

    # an order the exchange refuses: the WS op reply's per-item sCode / sMsg become Nautilus's OrderRejected
    assert _types(events, "refused")[-1] == "OrderRejected" and "OrderAccepted" not in _types(
        events, "refused"
    )
    assert "Insufficient USDT margin" in refusals[0]["reason"], refusals[0]
    assert (
        admin.get(f"/api/v5/trade/order?instId={BTC}&clOrdId={cl['refused']}")["code"] == "51603"
    )  # no order

    # market buy: taker fill with a fee, position opened
    fill = next(e for e in _of(events, "open") if e["type"] == "OrderFilled")
    assert (fill["last_qty"], fill["liquidity_side"], fill["commission_ccy"]) == ("0.02", "TAKER", "USDT")
    o = order("open")
    assert Decimal(fill["commission"]) == -Decimal(o["fee"]) > 0  # OKX's fee, sign flipped
    assert Decimal(fill["last_px"]) == Decimal(o["avgPx"])
    opened = next(e for e in events if e.get("type") == "PositionOpened")
    assert (opened["side"], opened["quantity"]) == ("LONG", "0.02")

    # the stop: REST order-algo, confirmed on the business orders-algo channel, then cancelled
    assert _in_order(
        _types(events, "stop"), "OrderSubmitted", "OrderAccepted", "OrderPendingCancel", "OrderCanceled"
    )
    algo = admin.get(f"/api/v5/trade/order-algo?algoClOrdId={cl['stop']}")["data"][0]
    assert (algo["ordType"], algo["state"], algo["side"], algo["reduceOnly"]) == (
        "trigger",
        "canceled",
        "sell",
        "true",
    )
    stop_px = next(e["trigger_price"] for e in events if e["kind"] == "placed" and e["label"] == "stop")
    assert Decimal(algo["triggerPx"]) == Decimal(stop_px) and algo["ordPx"] == "-1"

    # reduce-only market sell: position closed, flat at the exchange too
    fill = next(e for e in _of(events, "close") if e["type"] == "OrderFilled")
    o = order("close")
    assert Decimal(fill["commission"]) == -Decimal(o["fee"]) > 0 and o["state"] == "filled"
    assert o["reduceOnly"] == "false"  # Nautilus 1.231's WS order op leaves reduceOnly out (module docstring)
    closed = next(e for e in events if e.get("type") == "PositionClosed")
    assert closed["side"] == "FLAT" and Decimal(closed["realized_pnl"].split()[0]) != 0
    positions = admin.get(f"/api/v5/account/positions?instId={BTC}")["data"]
    assert all(Decimal(p["pos"]) == 0 for p in positions)
