"""The web dashboard in a real headless browser (Debian's chromium, tests/browser.py) against a real
stack: the simulator, the stream and orders workers, and `athena dashboard` as a child process.

It logs in, loads with no console error, shows a position opened in the sim with its exchange stop,
its Halt button halts (the switch in Redis, then the page says so), a strategy pauses and resumes
from its row, and Flatten, once confirmed, closes the position on the exchange. Requests without a
session, without the session's CSRF token, from another origin or another host name change nothing. It takes a
screenshot (docs/img/dashboard.png for the README with ATHENA_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from athena.domain import OrderRequest, OrdType, Side
from athena.domain.codec import to_json
from athena.process.launch import Stack, StackConfig
from athena.risk.halt import HaltSwitch
from athena.state.keys import Keys
from athena.strategies.pause import StrategyPause
from tests.browser import browser_page
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
# README's screenshot is rewritten only when asked (ATHENA_UPDATE_SCREENSHOTS=1), so `make test` leaves the
# checkout clean; every run still takes one and checks it is a real image.
README_SCREENSHOT = ROOT / "docs" / "img" / "dashboard.png"
BTC = "BTC-USDT-SWAP"
TICK = Decimal("0.1")
PASSWORD = "dash-test-pw-4f1c"
# The strategy a hand-sent entry is booked to; it trades ETH and never enters (its flow window needs
# more trades than it can see), so the BTC position stays the operator's (as in test_controls.py).
BOOKED_TO = {
    "name": "manual",
    "cls": "ScalperV1",
    "instIds": ["ETH-USDT-SWAP"],
    "allocation": "0.5",
    "params": {"min_trades": 100_000},
}


def _open_position(stack: Stack) -> Decimal:
    """A 2-contract BTC long through the orders worker; returns the stop price it carries."""
    market = stack.sim_admin("state")["markets"][BTC]
    px = (Decimal(market["ask"]) * Decimal("1.002")).quantize(TICK)
    stop = (Decimal(market["bid"]) * Decimal("0.99")).quantize(TICK)
    req = OrderRequest(
        clOrdId="dash1",
        instId=BTC,
        side=Side.BUY,
        ordType=OrdType.LIMIT,
        sz=Decimal(2),
        px=px,
        strategy=BOOKED_TO["name"],
        stop_loss_px=stop,
    )
    out = stack.celery().send_task("athena.place_order", args=[to_json(req)]).get(timeout=30)
    assert out["status"] in ("acked", "found"), out
    return stop


def _login(url: str) -> requests.Session:
    """A logged-in HTTP session, the way the form does it (double-submit token from the login page)."""
    s = requests.Session()
    page = s.get(f"{url}/login", timeout=10)
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token, page.text
    r = s.post(
        f"{url}/login",
        data={"token": token.group(1), "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 303, (r.status_code, r.text)
    return s


def _refusals(url: str) -> None:
    """Requests that must change nothing, each refused with its reason."""
    # no session: refused, and nothing halted
    r = requests.post(f"{url}/api/action", json={"action": "halt"}, timeout=10)
    assert r.status_code == 401 and "not logged in" in r.json()["error"]
    assert requests.get(f"{url}/api/state", timeout=10).status_code == 401
    # a session but no CSRF token (what a forged cross-site form could at best send): refused
    s = _login(url)
    r = s.post(f"{url}/api/action", json={"action": "halt"}, timeout=10)
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = s.post(f"{url}/api/action", json={"action": "halt"}, headers={"X-CSRF-Token": "guessed"}, timeout=10)
    assert r.status_code == 403
    # with the page's token: a failing action answers with the CLI's sentence
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', s.get(f"{url}/", timeout=10).text)
    assert csrf
    r = s.post(
        f"{url}/api/action",
        json={"action": "pause", "strategy": "nosuch"},
        headers={"X-CSRF-Token": csrf.group(1)},
        timeout=10,
    )
    assert r.json() == {"ok": False, "error": "unknown strategy 'nosuch' (configured: manual)"}
    r = s.post(
        f"{url}/api/action", json={"action": "flatten"}, headers={"X-CSRF-Token": csrf.group(1)}, timeout=10
    )
    assert r.json()["ok"] is False and "confirmation" in r.json()["error"]
    # even with the token: a POST from another site's page, or a page of a name rebound to 127.0.0.1
    r = s.post(
        f"{url}/api/action",
        json={"action": "halt"},
        timeout=10,
        headers={"X-CSRF-Token": csrf.group(1), "Origin": "http://evil.example"},
    )
    assert r.status_code == 403
    assert s.get(f"{url}/api/state", headers={"Host": "evil.example:80"}, timeout=10).status_code == 421
    # a login posted from elsewhere (no token from the login page), even with the right password
    r = requests.post(
        f"{url}/login", data={"token": "forged", "password": PASSWORD}, allow_redirects=False, timeout=10
    )
    assert r.status_code == 403 and "athena_session" not in r.cookies
    # a wrong password starts no session
    bad = requests.Session()
    token = re.search(r'name="token" value="([^"]+)"', bad.get(f"{url}/login", timeout=10).text)
    assert token
    r = bad.post(
        f"{url}/login", data={"token": token.group(1), "password": "wrong"}, allow_redirects=False, timeout=10
    )
    assert r.status_code == 401 and bad.get(f"{url}/api/state", timeout=10).status_code == 401


def test_dashboard_in_a_browser(tmp_path: Path) -> None:
    cfg = StackConfig(
        var_dir=tmp_path,
        symbols=[BTC],
        beat=False,
        sim_tick_ms=200,
        dashboard=True,
        config={"strategies": [BOOKED_TO]},
        env={"ATHENA_DASHBOARD_PASSWORD": PASSWORD},
    )
    stack = Stack(cfg)
    try:
        stack.start()  # the workers boot while chromium starts
        with browser_page(width=1280, height=1100) as b:
            stack.wait_ready()
            url = stack.dashboard_url
            keys = Keys(stack.env_name, stack.account)
            halt = HaltSwitch(stack.redis(), keys)
            stop = _open_position(stack)

            _refusals(url)
            assert halt.state() is None  # no halt, and no hold either (the pre-flight passed)

            page = b.page
            page.goto(f"{url}/")
            assert page.url.endswith("/login")
            page.fill("#password", PASSWORD)
            page.click("#login-button")
            page.wait_for_url(f"{url}/")
            # the position the fill opened, with the exchange stop the stream worker placed for it
            row = page.locator('#positions tr[data-id="BTC-USDT-SWAP"]')
            row.locator("td.stop", has_text=str(stop)).wait_for(timeout=20_000)
            cells = row.locator("td").all_inner_texts()
            assert cells[:3] == [BTC, "net", "2"], cells
            assert 0 < float(cells[7].rstrip("%")) < 5, cells  # distance to the stop
            avg, mark, upl = (Decimal(c) for c in cells[3:6])  # a long of 2: uPnL goes with mark - avgPx
            assert upl == ((mark - avg) * 2 * Decimal("0.01")).quantize(Decimal("0.0001")), (
                cells
            )  # ctVal 0.01 BTC
            page.locator("#fills td", has_text="dash1").first.wait_for(timeout=10_000)
            page.locator('#ws tr[data-id="okx-public"] td.good', has_text="ready").wait_for(timeout=10_000)
            assert page.inner_text("#trading") == "trading"
            page.locator("#chart path.equity").wait_for(timeout=10_000)  # two equity points at least
            shot = page.screenshot(full_page=True)
            assert shot.startswith(b"\x89PNG") and len(shot) > 20_000
            if os.environ.get("ATHENA_UPDATE_SCREENSHOTS") == "1":
                README_SCREENSHOT.write_bytes(shot)

            page.fill("#reason", "browser test")
            page.click("#btn-halt")
            st = wait_for(halt.state, 10, "the halt switch set in Redis")
            assert (st.reason, st.who) == ("browser test", "dashboard")
            page.locator("#trading", has_text="HALTED").wait_for(timeout=10_000)
            page.locator("#halt-banner", has_text="browser test").wait_for(timeout=5_000)
            page.locator("#flash", has_text="Trading halted").wait_for(timeout=5_000)

            # a strategy's pause and resume, from its row
            strategy = page.locator('#strategies tr[data-id="manual"]')
            strategy.locator("button", has_text="Pause").click()
            strategy.locator("td.warn", has_text="PAUSED").wait_for(timeout=10_000)
            assert "manual" in StrategyPause(stack.redis(), keys).paused()
            strategy.locator("button", has_text="Resume").click()
            strategy.locator("td.good", has_text="running").wait_for(timeout=10_000)
            assert "manual" not in StrategyPause(stack.redis(), keys).paused()

            # flatten asks first, then closes the position on the exchange
            page.click("#btn-flatten")
            page.locator("#confirm-flatten", has_text="EVERY position").wait_for(timeout=5_000)
            page.click("#btn-flatten-yes")
            page.locator("#flash", has_text="Flatten ran on orders worker").wait_for(timeout=30_000)
            page.locator("#positions td", has_text="flat").wait_for(timeout=10_000)
            assert [p for p in stack.sim_admin("state")["positions"] if Decimal(p["pos"] or "0") != 0] == []
            assert b.errors() == []
    finally:
        stack.stop()
    assert stack.survivors() == []
