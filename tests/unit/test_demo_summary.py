"""The demo summary names capital accounting errors from the final reconcile: a clamp or a reserved
that disagrees with the open reservations fails the run, and a missing check is said so."""

from __future__ import annotations

from athena.process.demo.report import capital_line, capital_ok
from athena.process.demo.view import render_summary


def test_capital_line_and_ok() -> None:
    clean = {"clamps": 0, "recent_clamps": [], "reserved_mismatch": []}
    assert capital_ok(clean) and capital_line(clean) == "reservations consistent, 0 clamps"
    assert not capital_ok(None) and capital_line(None) == "NOT CHECKED (no final reconcile)"
    bad = {
        "clamps": 2,
        "recent_clamps": [{"clOrdId": "scalpethETHUSDT3"}, {"clOrdId": "scalpbtcBTCUSDT7"}],
        "reserved_mismatch": [{"strategy": "scalpeth", "reserved": "0", "held": "1666.59976"}],
    }
    assert not capital_ok(bad)
    line = capital_line(bad)
    assert line.startswith("ERROR 2 CLAMPED release(s) (scalpethETHUSDT3, scalpbtcBTCUSDT7)")
    assert "reserved != open reservations" in line and "1666.59976" in line
    assert f"  capital: {line}" in render_summary({"capital": bad})
