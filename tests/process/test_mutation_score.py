"""tools/mutation.py's score, from mutmut's `.meta` verdicts and the equivalents list:
a listed line that no longer names a surviving mutant never hides a kill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import mutation


def _meta(root: Path, module: str, codes: dict[str, int | None]) -> None:
    path = root / (module.replace(".", "/") + ".py.meta")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"exit_code_by_key": codes}))


def test_a_listed_mutant_that_is_killed_counts_killed_and_its_line_is_stale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mutants = tmp_path / "mutants"
    _meta(mutants, "vending.coins", {"vending.coins.x_f__mutmut_1": 1,   # killed
                                     "vending.coins.x_f__mutmut_2": 0,   # survived
                                     "vending.coins.x_f__mutmut_3": 0,
                                     "vending.coins.x_f__mutmut_4": 33})  # no tests
    listed = tmp_path / "equivalents.txt"
    listed.write_text("# one line each\n"
                      "vending.coins.x_f__mutmut_1  equivalent: judged on an older diff\n"
                      "vending.coins.x_f__mutmut_2  equivalent: still this diff\n"
                      "vending.coins.x_gone__mutmut_1  equivalent: a function since removed\n")
    monkeypatch.setattr(mutation, "EQUIVALENTS", listed)
    counts = mutation.score(mutants)["vending.coins"]
    assert (counts["killed"], counts["listed"], counts["survived"], counts["no tests"]) \
        == (1, 1, 1, 1)
    assert mutation.stale_lines(mutants) == ["vending.coins.x_f__mutmut_1",
                                             "vending.coins.x_gone__mutmut_1"]
