"""Walk-forward folds and the parameter space of `athena optimize` (pure functions, no Redis)."""

from __future__ import annotations

import itertools

import pytest

from athena.research.space import SpaceError, grid_size, parse_dimension, parse_space
from athena.research.trial import params_model
from athena.research.walkforward import folds, windows


def test_windows_cover_the_period_once_each_half_open() -> None:
    w = windows(1000, 1999, 4)  # 1000 ms of events: [1000, 2000) cut in four
    assert w == [(1000, 1250), (1250, 1500), (1500, 1750), (1750, 2000)]
    w = windows(0, 9, 3)  # 10 ms: 3 + 3 + 4, the last window takes the remainder
    assert w == [(0, 3), (3, 6), (6, 10)]
    for start, end, k in ((0, 9, 3), (5, 1_000_003, 7), (1700000000000, 1700000119901, 5)):
        w = windows(start, end, k)
        assert w[0][0] == start and w[-1][1] == end + 1  # the last event is in the last window
        assert all(a[1] == b[0] for a, b in itertools.pairwise(w))  # no gap, no overlap
        assert all(e > s for s, e in w)


def test_folds_evaluate_on_the_window_after_the_one_searched() -> None:
    rolling = folds(0, 999, 4)
    assert [(f.index, f.in_sample, f.out_of_sample) for f in rolling] == [
        (0, (0, 250), (250, 500)),
        (1, (250, 500), (500, 750)),
        (2, (500, 750), (750, 1000)),
    ]
    anchored = folds(0, 999, 4, anchored=True)
    assert [(f.in_sample, f.out_of_sample) for f in anchored] == [
        ((0, 250), (250, 500)),
        ((0, 500), (500, 750)),
        ((0, 750), (750, 1000)),
    ]
    for f in rolling + anchored:  # out of sample never overlaps what the search saw
        assert f.in_sample[1] <= f.out_of_sample[0]


def test_folds_refuse_what_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="at least 2 folds"):
        folds(0, 999, 1)
    with pytest.raises(ValueError, match="cannot be cut"):
        folds(0, 2, 5)


def test_space_parses_and_checks_against_the_strategys_params() -> None:
    model = params_model("ScalperV1")
    dims = parse_space(
        ["take_profit_bps=float:2:6:1", "cooldown_s=int:5:15:5", "allow_short=choice:true,false"],
        "ScalperV1",
        model,
    )
    assert [d.grid() for d in dims] == [[2.0, 3.0, 4.0, 5.0, 6.0], [5, 10, 15], ["true", "false"]]
    assert grid_size(dims) == 30
    with pytest.raises(SpaceError, match="has no parameter 'take_profit'"):
        parse_space(["take_profit=float:1:2"], "ScalperV1", model)
    with pytest.raises(SpaceError, match="take_profit_bps refuses 0"):
        parse_space(["take_profit_bps=float:0:2"], "ScalperV1", model)
    with pytest.raises(SpaceError, match="must be below HI"):
        parse_dimension("cooldown_s=int:5:5")
    with pytest.raises(SpaceError, match="does not read as"):
        parse_dimension("cooldown_s:5:10")
    with pytest.raises(SpaceError, match="whole numbers"):
        parse_dimension("cooldown_s=int:1.5:3")
    with pytest.raises(SpaceError, match="needs a step"):
        parse_dimension("take_profit_bps=float:1:3").grid()
    with pytest.raises(SpaceError, match="no parameter to search"):
        parse_space([], "ScalperV1", model)


class _PureRunner:
    """Metrics as a pure function of the params (no backtest): the search's own logic under test. It
    finishes each batch in reverse order, as workers may."""

    def __init__(self) -> None:
        self.calls: list[object] = []

    def run(self, calls, done):  # type: ignore[no-untyped-def]
        out = {}
        for i in reversed(range(len(calls))):
            p = calls[i].params
            out[i] = {
                "net_pnl": str(
                    round(-((p.get("take_profit_bps", 4) - 6.5) ** 2) + p.get("cooldown_s", 0) / 100, 6)
                ),
                "trades": 1,
            }
            done()
        self.calls.extend(calls)
        return [out[i] for i in range(len(calls))]


def _search(seed: int, sampler: str = "tpe", batch: int = 4) -> dict[str, object]:
    from athena.research.data import DataSpec
    from athena.research.search import SearchConfig, report, run_search

    dims = parse_space(
        ["take_profit_bps=float:1:10:0.5", "cooldown_s=int:1:20"], "ScalperV1", params_model("ScalperV1")
    )
    config = SearchConfig(
        DataSpec(), "ScalperV1", dims, 0, 89_999, folds=4, trials=12, batch=batch, seed=seed, sampler=sampler
    )
    runner = _PureRunner()
    ticks: list[int] = []
    doc = report(config, run_search(config, runner, lambda: ticks.append(1)))
    assert len(ticks) == len(runner.calls) == config.total_tasks() == 3 * (12 + 2)
    return doc


def test_same_seed_same_trials_and_best_another_seed_other_trials() -> None:
    a, b, c = _search(1), _search(1), _search(2)
    assert a == b
    trials = [[t["params"] for t in f["trials"]] for f in a["folds"]]  # type: ignore[index]
    assert trials != [[t["params"] for t in f["trials"]] for f in c["folds"]]  # type: ignore[index]
    for f in a["folds"]:  # type: ignore[union-attr]
        assert f["best"]["value"] == max(t["value"] for t in f["trials"])
        assert f["best_out_of_sample"] and f["defaults_out_of_sample"]
    grid = _search(5, "grid", batch=5)
    assert grid == _search(5, "grid", batch=5)
    assert len({json_key(t["params"]) for t in grid["folds"][0]["trials"]}) == 12  # type: ignore[index]


def json_key(params: dict[str, object]) -> str:
    import json

    return json.dumps(params, sort_keys=True)


def test_data_that_grew_is_read_again_and_other_data_fails_the_trial(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from athena.research.data import DataSpec, events_of, with_fingerprint

    lines = (
        (Path(__file__).resolve().parents[2] / "athena/data/btc_sample.jsonl")
        .read_text()
        .splitlines(keepends=True)
    )
    data = tmp_path / "pushes.jsonl"
    data.write_text("".join(lines[: len(lines) // 2]))
    spec = with_fingerprint(DataSpec(paths=(str(tmp_path),), format="okx-push"))
    first = len(events_of(spec))
    data.write_text("".join(lines))  # a recorder still writing: the same path, more data
    with pytest.raises(ValueError, match="is not what athena optimize read"):
        events_of(spec)  # a worker handed the old fingerprint refuses rather than replay other data
    grown = with_fingerprint(spec)
    assert grown.fingerprint != spec.fingerprint
    assert len(events_of(grown)) > first > 0  # read again, not the cached half
