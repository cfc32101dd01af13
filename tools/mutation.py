"""Mutation testing: run mutmut 3 over the rules and the codec, print the score.

    python -m tools.mutation                     # every mutant ([tool.mutmut] in pyproject)
    python -m tools.mutation "vending.coins*"    # only mutants whose names match
    python -m tools.mutation --report            # the score of the last run, no running
    python -m tools.mutation --retest-survivors  # after adding tests: judge survivors again

mutmut copies the tree into `mutants/` and keeps each mutant's verdict there, so an
interrupted run resumes where it stopped. The score counts a mutant as killed when a
test failed or timed out on it; survivors and mutants no test reaches count against
it; mutants listed in tests/mutation-equivalents.txt (equivalent, or in code another
issue is rewriting; one reason each) are left out.
Not part of `.ci/run`: a full run takes far longer than CI allows.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

__all__ = ["main", "score", "stale_lines"]

EQUIVALENTS = Path("tests/mutation-equivalents.txt")
KILLED = {1, 3, 24, 36, 152, 255, -24}  # a test failed, or the mutant hung (mutmut's codes)
SURVIVED, NO_TESTS = {0}, {5, 33}
def _equivalents() -> set[str]:
    if not EQUIVALENTS.exists():
        return set()
    lines = EQUIVALENTS.read_text().splitlines()
    return {line.split()[0] for line in lines if line.strip() and not line.startswith("#")}


def _verdicts(mutants: Path) -> dict[str, dict[str, int | None]]:
    """Each module's mutants and their exit codes, from mutmut's `.meta` files."""
    return {str(meta.relative_to(mutants))[: -len(".py.meta")].replace("/", "."):
            json.loads(meta.read_text())["exit_code_by_key"]
            for meta in sorted(mutants.glob("**/*.py.meta"))}


def score(mutants: Path = Path("mutants")) -> dict[str, Counter[str]]:
    """Verdicts per module, from the `.meta` files mutmut leaves in `mutants`.

    A listed mutant that a test kills counts as killed: its line is stale
    (`stale_lines`), and must not hide the kill."""
    skip = _equivalents()
    per_module: dict[str, Counter[str]] = {}
    for module, codes in _verdicts(mutants).items():
        counts = per_module.setdefault(module, Counter())
        for name, code in codes.items():
            if name in skip and code not in KILLED:
                counts["listed"] += 1
            elif code is None:
                counts["not checked"] += 1
            elif code in KILLED:
                counts["killed"] += 1
            elif code in SURVIVED:
                counts["survived"] += 1
            elif code in NO_TESTS:
                counts["no tests"] += 1
            else:
                counts["other"] += 1
    return per_module


def stale_lines(mutants: Path = Path("mutants")) -> list[str]:
    """Names in the equivalents file that no mutant has, or whose mutant a test kills:
    the code moved (names are numbered per function), so each must be judged again."""
    codes = {name: code for per in _verdicts(mutants).values() for name, code in per.items()}
    return sorted(name for name in _equivalents()
                  if name not in codes or codes[name] in KILLED)


def _forget_survivors(mutants: Path = Path("mutants")) -> int:
    """Mark survivors unchecked so the next run tries them against today's tests
    (mutmut keeps a verdict until the mutated function itself changes)."""
    forgotten = 0
    for meta in mutants.glob("**/*.py.meta"):
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        for name, code in codes.items():
            if code in SURVIVED | NO_TESTS:
                codes[name] = None
                forgotten += 1
        meta.write_text(json.dumps(data, indent=4))
    return forgotten


def _print(per_module: dict[str, Counter[str]]) -> float:
    total: Counter[str] = Counter()
    print(f"{'module':28} {'killed':>7} {'checked':>8} {'score':>7}  survived/no tests/"
          "listed/not checked")
    for module, c in per_module.items():
        if not sum(c.values()):
            continue
        total.update(c)
        checked = c["killed"] + c["survived"] + c["no tests"] + c["other"]
        pct = f"{100 * c['killed'] / checked:6.1f}%" if checked else "     -"
        print(f"{module:28} {c['killed']:7} {checked:8} {pct}  {c['survived']}/"
              f"{c['no tests']}/{c['listed']}/{c['not checked']}")
    checked = total["killed"] + total["survived"] + total["no tests"] + total["other"]
    result = 100 * total["killed"] / checked if checked else 0.0
    print(f"{'all':28} {total['killed']:7} {checked:8} {result:6.1f}%  {total['survived']}/"
          f"{total['no tests']}/{total['listed']}/{total['not checked']}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="*", help="mutant name globs, e.g. 'vending.coins*'")
    parser.add_argument("--report", action="store_true", help="print the last run's score")
    parser.add_argument("--retest-survivors", action="store_true",
                        help="try the survivors again (after adding tests)")
    parser.add_argument("--max-children", type=int, default=2, help="parallel workers (2)")
    args = parser.parse_args(argv)
    if not args.report and importlib.util.find_spec("mutmut") is None:
        print("error: mutmut is not installed here: pip install -e '.[dev]' (README, "
              "Development)", file=sys.stderr)
        return 2
    if args.retest_survivors and not args.report:
        print(f"retesting {_forget_survivors()} survivors")
    if not args.report:
        run = [sys.executable, "-m", "mutmut", "run", "--max-children",
               str(args.max_children), *args.patterns]
        # A cheap argon2 for the rules tier (tests/rules/conftest.py says why).
        env = {**os.environ, "VENDING_CHEAP_ARGON2": "1"}
        # mutmut's own exit status says nothing of the score; the table below does.
        subprocess.run(run, check=False, env=env)
    per_module = score()
    if not any(sum(c.values()) for c in per_module.values()):
        print("error: no mutant verdicts in mutants/: the run did not happen or did not "
              "start (see mutmut's output above)", file=sys.stderr)
        return 1
    _print(per_module)
    stale = stale_lines()
    if stale:
        print(f"{len(stale)} lines of {EQUIVALENTS} name no mutant or a killed one; judge "
              f"them again (`mutmut show NAME`), e.g. {', '.join(stale[:3])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
