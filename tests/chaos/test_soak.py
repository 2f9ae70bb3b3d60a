"""The chaos soak (tests/chaos/soak.py) as a test. CI runs ~100 s of faults (~2.5 min with start-up and the
end checks); a long run:

ATHENA_CHAOS_DURATION=1800 .venv/bin/pytest -m chaos tests/chaos -s
.venv/bin/python -m tests.chaos.soak --duration 1800          # same, printing figures as it goes
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.soak import Soak

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(0)]  # the soak bounds itself (duration + bounded waits)


def test_chaos_soak(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    duration = float(os.environ.get("ATHENA_CHAOS_DURATION", "100"))
    report = Soak(tmp_path, duration, log=print).run()
    with capsys.disabled():  # the figures belong in the CI log
        print("\n" + "\n".join(report.lines()))
    assert report.survivors == []
    assert report.faults.get("ws_drop", 0) >= 3 and report.faults.get("stall", 0) == 1
    assert report.events["orders_kill9_mid_placement"] + report.events["orders_kill9"] == 2
    assert report.events["stream_restart"] == 1 and report.events["redis_restart"] == 1
    assert report.events["clock_skew_on"] == report.events["clock_skew_off"] == 1
    assert report.events["maintenance"] == report.events["rest_down"] == report.events["ws_down"] == 1
    assert (
        report.faults.get("rest_down", 0) == 1 and report.faults.get("ws_down", 0) == 2
    )  # + the maintenance's
    assert report.orders > 0 and report.fills_exchange > 0, "nothing traded: the soak proved nothing"
    assert sum(report.checks.values()) > 0
    assert report.violations == [], "\n".join(report.violations)
