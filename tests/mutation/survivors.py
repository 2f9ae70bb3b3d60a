"""Write tests/mutation/SURVIVORS.md: every mutant the last `mutmut run` left alive, with its diff and
why it is equivalent or harmless (tests/mutation/reasons.py), or OPEN when nobody has said yet.

    python -m tests.mutation.survivors            # rewrite SURVIVORS.md from mutants/
    python -m tests.mutation.survivors --readme   # and the score table in README.md's testing section
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from mutmut.configuration import config
from mutmut.mutation.diff_apply import get_diff_for_mutant

from tests.mutation.reasons import REASONS, reason_for
from tests.mutation.report import _results, _score

OUT = Path(__file__).with_name("SURVIVORS.md")
README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- mutation-scores -->", "<!-- /mutation-scores -->"


def _changed_lines(name: str, path: Path) -> list[str]:
    diff = get_diff_for_mutant(name, path=path)
    return [re.sub(r"\s+", " ", ln).rstrip() for ln in diff.splitlines()[2:] if ln[:1] in "+-"]


def main(argv: list[str]) -> int:
    config()
    results = _results()
    lines = [
        "# Surviving mutants",
        "",
        "Written by `python -m tests.mutation.survivors` after `make mutate` (do not edit the lists by hand:",
        "reasons live in `tests/mutation/reasons.py`, matched by mutant name and diff). A mutant is one",
        "small change to the code; it survives when every selected test still passes with it. Each",
        "survivor below is equivalent (no observable change), harmless (only wording an operator reads, or",
        "a path the tool cannot reach), or OPEN (a test is missing). `no tests`: no selected test reaches",
        "the function.",
        "",
        "| module | mutants | killed | survived | no tests | timeout | pending | score |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total: Counter[str] = Counter()
    finished: Counter[str] = Counter()
    for path, statuses in results.items():
        if not statuses:
            continue
        c = Counter(statuses.values())
        total += c
        if not c["not checked"]:
            finished += c
        lines.append(
            f"| {path} | {len(statuses)} | {c['killed']} | {c['survived']} | {c['no tests']} | "
            f"{c['timeout']} | {c['not checked']} | {_score(c).strip()} |"
        )
    lines.append(
        f"| finished modules | {sum(finished.values())} | {finished['killed']} | {finished['survived']} | "
        f"{finished['no tests']} | {finished['timeout']} | 0 | {_score(finished).strip()} |"
    )
    lines.append(
        f"| total | {sum(total.values())} | {total['killed']} | {total['survived']} | "
        f"{total['no tests']} | {total['timeout']} | {total['not checked']} | {_score(total).strip()} |"
    )
    open_count = 0
    unfinished: list[str] = []
    for path, statuses in results.items():
        alive = [(n, s) for n, s in statuses.items() if s in ("survived", "no tests")]
        if not alive:
            continue
        lines += ["", f"## {path}", ""]
        pending = sum(1 for st in statuses.values() if st == "not checked")
        if pending:
            unfinished.append(str(path))
            lines.append(
                f"Run not finished: {pending} mutants pending; the {len(alive)} left alive so far are "
                "not triaged here (run `make mutate` to finish the module, then this script)."
            )
            continue
        for name, status in alive:
            changed = _changed_lines(name, path)
            reason = reason_for(name, changed)
            if reason is None:
                open_count += 1
                reason = "OPEN: not killed and not explained yet"
            short = name.split(".", 3)[-1] if name.count(".") >= 3 else name
            lines.append(f"- `{short}` ({status}): {reason}")
            lines += [f"  - `{ln}`" for ln in changed[:4]]
    lines += [
        "",
        f"Open (neither killed nor explained) in the finished modules: {open_count}.",
        f"Modules whose run is not finished: {', '.join(unfinished) or 'none'}.",
        "",
    ]
    OUT.write_text("\n".join(lines))
    if "--readme" in argv:  # the score table (every line of SURVIVORS.md that starts with "| ")
        table = "\n".join(ln for ln in lines if ln.startswith("| "))
        head, _, rest = README.read_text().partition(BEGIN)
        _, _, tail = rest.partition(END)
        README.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")
    print(f"{OUT}: {open_count} open; {len(REASONS)} reasons on file")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
