"""The score of the last `mutmut run`, per module, and the surviving mutants with their diffs.

    python -m tests.mutation.report                 # the table
    python -m tests.mutation.report --survivors     # the table, then every survivor's diff

Reads mutmut's own result files under mutants/ (run from the repository root, after `mutmut run`).
Score = (killed + timeout) / (killed + timeout + survived + no tests): a mutant whose tests hang is
detected (the suite did not pass); one that no selected test reaches counts against the module, as a
survivor does. Mutants not yet run are reported as pending, outside the score.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from mutmut.configuration import config
from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files


def _results() -> dict[Path, dict[str, str]]:
    out: dict[Path, dict[str, str]] = {}
    for path in sorted(walk_mutatable_files()):
        data = SourceFileMutationData(path=path)
        data.load()
        out[path] = {k: status_by_exit_code[v] for k, v in data.exit_code_by_key.items()}
    return out


def _score(counts: Counter[str]) -> str:
    detected = counts["killed"] + counts["timeout"]
    done = detected + counts["survived"] + counts["no tests"]
    return f"{100 * detected / done:5.1f}%" if done else "    -"


def main(argv: list[str]) -> int:
    config()  # reads [tool.mutmut] from pyproject.toml
    results = _results()
    total: Counter[str] = Counter()
    print(
        f"{'module':32} {'mutants':>7} {'killed':>6} {'survived':>8} {'no tests':>8} {'timeout':>7} "
        f"{'pending':>7} {'score':>6}"
    )
    for path, statuses in results.items():
        if not statuses:
            continue
        c = Counter(statuses.values())
        total += c
        print(
            f"{path!s:32} {len(statuses):7} {c['killed']:6} {c['survived']:8} {c['no tests']:8} "
            f"{c['timeout']:7} {c['not checked']:7} {_score(c):>6}"
        )
    print(
        f"{'total':32} {sum(total.values()):7} {total['killed']:6} {total['survived']:8} "
        f"{total['no tests']:8} "
        f"{total['timeout']:7} {total['not checked']:7} {_score(total):>6}"
    )
    if "--survivors" in argv:
        for path, statuses in results.items():
            for name, status in statuses.items():
                if status in ("survived", "no tests"):
                    diff = get_diff_for_mutant(name, path=path)
                    changed = [ln for ln in diff.splitlines()[2:] if ln[:1] in "+-"]
                    print(f"\n## {name} ({status})\n" + "\n".join(changed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
