"""Report folders are named by time and strategy and never reused; long series are thinned for the
charts without losing their extremes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

from athena.report.charts import thin
from athena.report.folders import label_of, new_run_folder

AT = datetime(2026, 12, 6, 10, 45, 1, tzinfo=UTC)


def test_a_run_in_the_same_second_gets_a_suffix_and_nothing_is_overwritten(tmp_path: Path) -> None:
    first = new_run_folder(tmp_path / "var" / "backtest", "ScalperV1", AT)
    (first / "report.html").write_text("first")
    second = new_run_folder(tmp_path / "var" / "backtest", "ScalperV1", AT)
    third = new_run_folder(tmp_path / "var" / "backtest", "ScalperV1", AT)
    assert [first.name, second.name, third.name] == [
        "20261206-104501-ScalperV1",
        "20261206-104501-ScalperV1-2",
        "20261206-104501-ScalperV1-3",
    ]
    assert (first / "report.html").read_text() == "first" and not any(second.iterdir())


def test_label_names_the_strategy_classes_whatever_their_spelling() -> None:
    assert label_of(["ScalperV1", "ScalperV1"]) == "ScalperV1"
    assert label_of(["my_pkg.mod:UpTicks", "ScalperV1"]) == "ScalperV1+UpTicks"
    assert label_of(["../../etc"]) == "etc" and label_of([]) == "run"


def test_thinning_keeps_each_chunks_extremes_and_the_last_point() -> None:
    pts = [(i, D(i % 97)) for i in range(10_000)]
    pts[5_001] = (5_001, D(-50))  # one deep trough
    out = thin(pts, limit=1000)
    assert len(out) <= 1001 and out[-1] == pts[-1] and (5_001, D(-50)) in out
    assert [p[0] for p in out] == sorted(p[0] for p in out)
    assert thin(pts[:10], limit=1000) == pts[:10]
