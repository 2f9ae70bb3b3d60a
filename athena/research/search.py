"""The search: walk-forward folds, an Optuna study per fold, trials run in batches by a TrialRunner.

Why Optuna asked-and-told from here, with the study in memory: the workers never see the study, only
a trial's params (a Celery task each), so nothing but this process reads or writes it. A shared RDB
storage would let workers pull trials themselves, but then the order in which trials are told
depends on which worker finishes first, and the same seed would no longer give the same trials.
Here a batch of `batch` trials is asked, run anywhere, and told back in trial order: the sampler sees
the same history whatever the number of workers, so the same seed gives the same trials and the
same best. The result (every trial, every fold) is written as JSON by the CLI; nothing else persists.

The batch size is a fixed number, not the number of workers, for that reason; it bounds the
parallelism (a batch of 8 keeps 8 CPUs busy) at the cost of TPE seeing results a batch later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from athena.research.data import DataSpec
from athena.research.space import Dimension, SpaceError, grid_size
from athena.research.walkforward import Fold, folds

SAMPLERS = ("tpe", "random", "grid")
# maximised: equity at the window's end minus at its start, fees and funding included, a position still
# open marked to market (so a trial is not scored on fees alone when it holds one at the end)
OBJECTIVE = "net_pnl"


@dataclass(frozen=True, slots=True)
class TrialCall:
    params: dict[str, Any]
    period: tuple[int, int]


class TrialRunner(Protocol):
    def run(self, calls: Sequence[TrialCall], done: Callable[[], None]) -> list[dict[str, Any]]:
        """Each call's metrics, in the calls' order; `done()` once per finished call."""
        ...


@dataclass
class SearchConfig:
    data: DataSpec
    strategy: str
    dims: list[Dimension]
    start_ts: int
    end_ts: int  # the last event's ts
    folds: int = 3
    anchored: bool = False
    sampler: str = "tpe"
    trials: int = 20  # per fold (grid: at most the grid's size)
    batch: int = 8
    seed: int = 7

    def trials_per_fold(self) -> int:
        return min(self.trials, grid_size(self.dims)) if self.sampler == "grid" else self.trials

    def total_tasks(self) -> int:
        return (self.folds - 1) * (self.trials_per_fold() + 2)  # + the best and the defaults, out of sample


@dataclass
class FoldResult:
    fold: Fold
    trials: list[dict[str, Any]] = field(default_factory=list)  # number, params, value, trades
    best: dict[str, Any] = field(default_factory=dict)
    best_in_sample: dict[str, Any] = field(default_factory=dict)
    best_out_of_sample: dict[str, Any] = field(default_factory=dict)
    defaults_out_of_sample: dict[str, Any] = field(default_factory=dict)


def objective(metrics: dict[str, Any]) -> float:
    return float(Decimal(str(metrics[OBJECTIVE])))


def _sampler(config: SearchConfig, fold: int) -> Any:
    import optuna

    seed = config.seed * 1000 + fold  # each fold its own stream, all fixed by the seed
    if config.sampler == "grid":
        return optuna.samplers.GridSampler({d.name: d.grid() for d in config.dims}, seed=seed)
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(1, config.trials // 2)))


def _distributions(config: SearchConfig) -> dict[str, Any]:
    import optuna

    if config.sampler == "grid":  # the grid's own values, so GridSampler finds each in its space
        return {d.name: optuna.distributions.CategoricalDistribution(d.grid()) for d in config.dims}
    return {d.name: d.distribution() for d in config.dims}


def check(config: SearchConfig, period: bool = True) -> None:
    """SpaceError for a search that cannot run (before anything is sent); period=False: all but the
    folds of the period (not known before the data is read)."""
    if config.sampler not in SAMPLERS:
        raise SpaceError(f"unknown sampler {config.sampler!r} (one of {', '.join(SAMPLERS)})")
    if config.trials < 1 or config.batch < 1:
        raise SpaceError("--trials and --batch must be at least 1")
    if config.sampler == "grid":
        for d in config.dims:
            d.grid()  # a float without a step says so
    if config.folds < 2:
        raise SpaceError(
            f"--folds must be at least 2 (one in-sample and one out-of-sample window; got {config.folds})"
        )
    if not period:
        return
    try:
        folds(config.start_ts, config.end_ts, config.folds, config.anchored)
    except ValueError as exc:
        raise SpaceError(str(exc)) from None


def _fold_search(
    config: SearchConfig, fold: Fold, runner: TrialRunner, done: Callable[[], None]
) -> FoldResult:
    import optuna

    study = optuna.create_study(direction="maximize", sampler=_sampler(config, fold.index))  # in memory
    dists = _distributions(config)
    out = FoldResult(fold)
    n = config.trials_per_fold()
    while len(out.trials) < n:
        asked = [study.ask(dists) for _ in range(min(config.batch, n - len(out.trials)))]
        results = runner.run([TrialCall(dict(t.params), fold.in_sample) for t in asked], done)
        for t, metrics in zip(asked, results, strict=True):  # told in trial order: see the module doc
            value = objective(metrics)
            study.tell(t, value)
            out.trials.append(
                {
                    "number": t.number,
                    "params": dict(t.params),
                    "value": value,
                    "trades": metrics.get("trades"),
                    "metrics": metrics,
                }
            )
    best = max(out.trials, key=lambda r: (r["value"], -r["number"]))  # a tie: the earlier trial
    out.best = {"number": best["number"], "params": best["params"], "value": best["value"]}
    out.best_in_sample = best["metrics"]
    oos = runner.run([TrialCall(best["params"], fold.out_of_sample), TrialCall({}, fold.out_of_sample)], done)
    out.best_out_of_sample, out.defaults_out_of_sample = oos
    return out


def run_search(
    config: SearchConfig, runner: TrialRunner, done: Callable[[], None] = lambda: None
) -> list[FoldResult]:
    """Every fold: search in sample, then the best and the strategy's defaults out of sample."""
    import optuna

    check(config)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial would drown the progress bar
    return [
        _fold_search(config, f, runner, done)
        for f in folds(config.start_ts, config.end_ts, config.folds, config.anchored)
    ]


def _sum(values: list[Any]) -> str:
    return str(sum((Decimal(str(v)) for v in values), Decimal(0)))


def report(config: SearchConfig, results: list[FoldResult]) -> dict[str, Any]:
    """The search as a document: the same seed gives the same document, byte for byte (no wall
    clock, no worker names in it)."""
    from athena.marketdata.store import iso

    def window(p: tuple[int, int]) -> dict[str, Any]:
        return {"start": iso(p[0]), "end": iso(p[1]), "start_ts": p[0], "end_ts": p[1]}

    folds_doc = []
    for r in results:
        folds_doc.append({
            "fold": r.fold.index, "in_sample": window(r.fold.in_sample),
            "out_of_sample": window(r.fold.out_of_sample),
            "best": r.best, "best_in_sample": r.best_in_sample, "best_out_of_sample": r.best_out_of_sample,
            "defaults_out_of_sample": r.defaults_out_of_sample,
            "trials": [{k: v for k, v in t.items() if k != "metrics"} for t in r.trials],
        })  # fmt: skip
    return {
        "strategy": config.strategy, "data": config.data.to_json(), "seed": config.seed,
        "sampler": config.sampler, "objective": f"{OBJECTIVE} (maximised)",
        "trials_per_fold": config.trials_per_fold(), "batch": config.batch,
        "walk_forward": {"folds": config.folds, "anchored": config.anchored, "steps": len(results)},
        "space": [{"name": d.name, "kind": d.kind, "low": d.low, "high": d.high, "step": d.step,
                   "choices": list(d.choices)} for d in config.dims],
        "folds": folds_doc,
        "summary": {
            "in_sample_net_pnl": _sum([r.best_in_sample.get(OBJECTIVE, 0) for r in results]),
            "out_of_sample_net_pnl": _sum([r.best_out_of_sample.get(OBJECTIVE, 0) for r in results]),
            "defaults_out_of_sample_net_pnl":
                _sum([r.defaults_out_of_sample.get(OBJECTIVE, 0) for r in results]),
            "out_of_sample_trades": sum(int(r.best_out_of_sample.get("trades") or 0) for r in results),
            # the params found on the most recent in-sample window: the ones to try next
            "recommended_params": results[-1].best["params"] if results else {},
        },
    }  # fmt: skip


class LocalRunner:
    """Runs the trials in this process, one after the other (tests of the search itself; the CLI
    always uses the research workers)."""

    def __init__(self, config: SearchConfig) -> None:
        self.config = config

    def run(self, calls: Sequence[TrialCall], done: Callable[[], None]) -> list[dict[str, Any]]:
        from athena.research.trial import run_trial

        out = []
        for c in calls:
            out.append(
                run_trial(
                    self.config.data.to_json(), self.config.strategy, c.params, c.period, self.config.seed
                )
            )
            done()
        return out
