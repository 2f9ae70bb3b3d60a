"""The operator actions of the dashboard: the CLI's controls (athena.process.control), called as functions.

Each runs what `athena <command>` runs, with the same checks first (Redis, a live orders worker) and
the same one-sentence error when something is missing; never `--local` (the dashboard does not trade
from its own process: with no orders worker, it says so, as the CLI does without --local).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from athena.config import Settings

WHO = "dashboard"
ACTIONS = ("halt", "resume", "pause", "unpause", "flatten", "reconcile")
FLATTEN_CONFIRMATION = "flatten"  # the body's "confirm" must say it: a stray request cannot flatten


@dataclass
class ActionRequest:
    action: str
    strategy: str | None = None
    inst_id: str | None = None
    reason: str = ""
    confirm: str = ""

    @classmethod
    def parse(cls, body: Any) -> ActionRequest:
        if not isinstance(body, dict):
            raise ValueError("the request must be a JSON object")
        action = body.get("action")
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} (one of: {', '.join(ACTIONS)})")
        fields = {k: body.get(k) for k in ("strategy", "inst_id", "reason", "confirm")}
        for k, v in fields.items():
            if v is not None and (not isinstance(v, str) or len(v) > 200):
                raise ValueError(f"{k} must be a short string")
        return cls(
            action,
            fields["strategy"] or None,
            fields["inst_id"] or None,
            (fields["reason"] or "").strip(),
            fields["confirm"] or "",
        )


def run_action(settings: Settings, req: ActionRequest) -> dict[str, Any]:
    """Blocking (a flatten waits for the orders worker): run it in a thread. Returns
    {ok, message, result} on success and {ok: False, error, result?} on failure."""
    from athena.process.control import (
        EXIT_OK,
        ControlExit,
        PartlyDone,
        do_flatten,
        do_halt,
        do_reconcile,
        do_resume,
        explain,
        preflight,
        strategy_known,
    )

    try:
        if req.action in ("pause", "unpause"):
            if not req.strategy:
                raise ControlExit(f"{req.action} needs a strategy", 2)
            strategy_known(settings, req.strategy)
        if req.action == "flatten" and req.confirm != FLATTEN_CONFIRMATION:
            raise ControlExit("a flatten needs confirmation: confirm it on the page", 2)
        if req.inst_id is not None and req.inst_id not in _instruments(settings):
            raise ControlExit(
                f"unknown instrument {req.inst_id!r} (traded: {', '.join(_instruments(settings))})", 2
            )
        ready = preflight(settings)
        try:
            if req.action == "halt":
                outcome = do_halt(ready, req.reason or "halt from the dashboard", WHO)
            elif req.action == "pause":
                outcome = do_halt(ready, req.reason or "paused from the dashboard", WHO, req.strategy)
            elif req.action == "resume":
                outcome = do_resume(ready, WHO)
            elif req.action == "unpause":
                outcome = do_resume(ready, WHO, req.strategy)
            elif req.action == "flatten":
                outcome = do_flatten(ready, req.inst_id, req.reason or "flatten from the dashboard")
            else:
                outcome = do_reconcile(ready)
        finally:
            ready.redis.close()
    except PartlyDone as exc:
        return {"ok": False, "error": explain(exc)[0], "result": exc.done.out}
    except Exception as exc:  # ControlExit, Redis errors: the CLI's sentence
        return {"ok": False, "error": explain(exc)[0]}
    return {"ok": outcome.code == EXIT_OK, "message": outcome.headline, "result": outcome.out}


def _instruments(settings: Settings) -> list[str]:
    return sorted(set(settings.symbols) | {i for s in settings.strategies for i in s.instIds})
