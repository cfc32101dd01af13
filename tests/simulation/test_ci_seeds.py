"""A few hundred seeds with every fault on: the CI run (docs/simulation.md has the
10,000-seed soak command)."""

from __future__ import annotations

import pytest

from simulation.cli import run_seed

SEEDS = 200


@pytest.mark.parametrize("first", range(0, SEEDS, 50))
def test_two_hundred_seeds_with_all_faults_keep_every_guarantee(first: int) -> None:
    failed = []
    for seed in range(first, first + 50):
        result, _ = run_seed(seed, steps=1200, clients=6)
        if result.violations:
            failed.append(f"seed {seed}: {result.violations[0]}"
                          f" (vending simulate --replay {seed} --steps 1200 --clients 6)")
    assert failed == []
