"""Hand-written mutations of the Redis Lua scripts (the atomic steps of the order path), one run each.

mutmut mutates Python only; these scripts decide lease ownership, state ranks, fill monotonicity,
the outbox and stop finality, so each mutant below is a plausible one-token slip there. The script copies
the project (athena, workers, tests, pyproject.toml) to a temporary folder once, edits one .lua file
in the copy per mutant and runs that mutant's tests inside the copy (the working tree is never
edited, so an interrupted run leaves nothing behind). A mutant is killed when its tests fail.

    python -m tests.mutation.lua_mutants            # all mutants
    python -m tests.mutation.lua_mutants L03 L07    # some of them

Exit status 0 when every mutant is killed; the summary names the survivors.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = Path("athena") / "state"

PLACING = ["tests/integration/test_state_placing.py", "tests/integration/test_place_order_risk.py"]
ORDERS = [
    "tests/integration/test_state_orders.py",
    "tests/integration/test_oms_orders.py",
    "tests/integration/test_oms_outbox.py",
    "tests/integration/test_oms_regressions.py",
]
ALGOS = ["tests/integration/test_state_algos.py", "tests/integration/test_direct_stops.py"]


@dataclass(frozen=True)
class LuaMutant:
    id: str
    script: str
    before: str  # must occur exactly once in the script
    after: str
    why: str  # what money-relevant rule the mutant breaks
    tests: tuple[str, ...]


def _m(id: str, script: str, before: str, after: str, why: str, tests: list[str]) -> LuaMutant:
    return LuaMutant(id, script, before, after, why, tuple(tests))


MUTANTS: list[LuaMutant] = [
    # place_begin.lua: the placement lease, the "may have reached the exchange" marker, halt, pause
    _m(
        "L01",
        "place_begin.lua",
        "if string.sub(cur, sep + 1) ~= ARGV[1] then",
        "if string.sub(cur, sep + 1) == ARGV[1] then",
        "another writer's lease is taken over (two placements of one clOrdId at once)",
        PLACING,
    ),
    _m(
        "L02",
        "place_begin.lua",
        "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n",
        "",
        "a retry by the lease owner does not extend the lease",
        PLACING,
    ),
    _m(
        "L03",
        "place_begin.lua",
        "'NX', 'EX', ARGV[4]) and 1 or 0",
        "'EX', ARGV[4]) and 1 or 0",
        "every retry counts as a first attempt (a send that may have reached OKX is forgotten)",
        PLACING,
    ),
    _m(
        "L04",
        "place_begin.lua",
        "local halted = redis.call('EXISTS', KEYS[5])",
        "local halted = 0",
        "the halt switch is not seen: orders go out while trading is halted",
        PLACING,
    ),
    _m(
        "L05",
        "place_begin.lua",
        "paused = redis.call('HEXISTS', KEYS[7], ARGV[5])",
        "paused = 0",
        "a paused strategy's orders go out",
        PLACING,
    ),
    _m(
        "L06",
        "place_begin.lua",
        "if not state then\n  return {token, false, 0, halted, res[1], res[2], paused}\nend\n",
        "",
        "an unrecorded clOrdId gets a placing marker (and is reported as recorded)",
        PLACING,
    ),
    _m(
        "L07",
        "place_begin.lua",
        "return {token, state, first, halted, res[1], res[2], paused}",
        "return {token, state, first, halted, false, false, paused}",
        "the order's capital reservation is not read (pre-trade pass looks missing)",
        PLACING,
    ),
    # order_update.lua: state rank, accFillSz monotonic, ordId index, terminal handling, outbox
    _m(
        "L08",
        "order_update.lua",
        "if rank > prev_rank then",
        "if rank ~= prev_rank then",
        "a stale update lowers the state (a filled order becomes live again)",
        ORDERS,
    ),
    _m(
        "L09",
        "order_update.lua",
        "if a_new > a_old then",
        "if a_new ~= a_old then",
        "accFillSz goes down on a stale update (a fill is forgotten)",
        ORDERS,
    ),
    _m(
        "L10",
        "order_update.lua",
        "elseif a_new == a_old and a_new > 0 then",
        "elseif false then",
        "a missing avgPx/fee at the same fill level is never filled in",
        ORDERS,
    ),
    _m(
        "L11",
        "order_update.lua",
        "if new_rank >= terminal and prev_rank < terminal then final = 1 end",
        "if new_rank >= terminal then final = 1 end",
        "every update of a finished order is emitted as final again (side effects twice)",
        ORDERS,
    ),
    _m(
        "L12",
        "order_update.lua",
        "  redis.call('SREM', working, cl)\n",
        "",
        "a finished order stays in the working set",
        ORDERS,
    ),
    _m(
        "L13",
        "order_update.lua",
        "if ARGV[o] == '1' and (filled == 1 or final == 1) then",
        "if ARGV[o] == '1' and filled == 1 then",
        "a cancel without a fill never reaches the outbox (its reservation is never released)",
        ORDERS,
    ),
    _m(
        "L14",
        "order_update.lua",
        "if prev_ord_id == '' and ord_id ~= '' then",
        "if ord_id ~= '' then",
        "a known ordId is overwritten by a later report",
        ORDERS,
    ),
    _m(
        "L15",
        "order_update.lua",
        "'acc0', prev_acc,",
        "'acc0', acc,",
        "the outbox entry's before-fill point is the after point (the fill's size is lost)",
        ORDERS,
    ),
    _m(
        "L16",
        "order_update.lua",
        "if rank > prev_rank then",
        "if rank >= prev_rank then",
        "an update at the same rank re-writes the state and reports a change",
        ORDERS,
    ),
    # order_create.lua: idempotent create, queue message written with the record
    _m(
        "L17",
        "order_create.lua",
        "if redis.call('EXISTS', KEYS[1]) == 1 then",
        "if false then",
        "a redelivered placement overwrites the record and queues a second send",
        ORDERS,
    ),
    _m(
        "L18",
        "order_create.lua",
        "  redis.call('LPUSH', KEYS[4], ARGV[5])\n",
        "",
        "an order recorded as sent is never queued",
        ORDERS,
    ),
    _m(
        "L19",
        "order_create.lua",
        "if ARGV[3] == '1' then",
        "if ARGV[3] ~= '1' then",
        "a working order is left out of the working set (and a finished one put in)",
        ORDERS,
    ),
    # algo_update.lua: stop finality, versions, algoId never erased
    _m(
        "L20",
        "algo_update.lua",
        "if exists and redis.call('HGET', h, 'working') == '0' then",
        "if false then",
        "a finished stop is revived by a late report",
        ALGOS,
    ),
    _m(
        "L21",
        "algo_update.lua",
        "  if live ~= ARGV[5] then",
        "  if false then",
        "the superseded version's cancel marks the live stop canceled",
        ALGOS,
    ),
    _m(
        "L22",
        "algo_update.lua",
        "if not (field == 'algoId' and value == '') then",
        "if true then",
        "an empty algoId erases the known one (the stop can no longer be cancelled by id)",
        ALGOS,
    ),
    _m(
        "L23",
        "algo_update.lua",
        "if not exists and ARGV[3] ~= '1' then",
        "if false then",
        "a report about an unknown stop creates a record",
        ALGOS,
    ),
]


COPIED = ["athena", "workers", "tests", "config", "beat_schedule.py", "pyproject.toml"]


def _copy_project(to: Path) -> None:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, to / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, to / name)


def _run_tests(copy: Path, tests: tuple[str, ...]) -> tuple[bool, float]:
    env = dict(os.environ, PYTHONPATH=str(copy))
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=copy,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return proc.returncode == 0, time.monotonic() - start


def _check_copy_is_imported(copy: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(copy))
    out = subprocess.run(
        [sys.executable, "-c", "import athena; print(athena.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not out.startswith(str(copy)):
        raise SystemExit(f"the mutated copy is not the one imported ({out}); nothing would be tested.")


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTANTS if not argv or m.id in argv]
    with tempfile.TemporaryDirectory(prefix="athena-lua-mut-") as tmp:
        copy = Path(tmp)
        _copy_project(copy)
        _check_copy_is_imported(copy)
        originals: dict[str, str] = {}
        for m in chosen:
            originals.setdefault(m.script, (ROOT / STATE / m.script).read_text())
        all_tests = tuple(sorted({t for m in chosen for t in m.tests}))
        green, took = _run_tests(copy, all_tests)
        print(f"baseline (unmutated) {'passed' if green else 'FAILED'} in {took:.0f}s")
        if not green:
            return 2
        survivors: list[LuaMutant] = []
        for m in chosen:
            src = originals[m.script]
            if src.count(m.before) != 1:
                raise SystemExit(f"{m.id}: its text occurs {src.count(m.before)} times in {m.script}")
            target = copy / STATE / m.script
            target.write_text(src.replace(m.before, m.after))
            try:
                passed, took = _run_tests(copy, m.tests)
            finally:
                target.write_text(src)
            print(f"{m.id} {m.script:18} {'SURVIVED' if passed else 'killed  '} {took:5.0f}s  {m.why}")
            if passed:
                survivors.append(m)
        killed = len(chosen) - len(survivors)
        print(
            f"Lua mutants: {killed}/{len(chosen)} killed ({100 * killed / len(chosen):.0f}%)"
            + (f"; survivors: {', '.join(m.id for m in survivors)}" if survivors else "")
        )
        return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
