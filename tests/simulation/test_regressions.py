"""Seeds that found real bugs, kept as regression tests (docs/simulation.md, "Bugs it
found"). Each runs exactly what its replay command runs."""

from __future__ import annotations

import pytest

from simulation.cli import run_seed


@pytest.mark.parametrize(("seed", "steps", "clients", "bug"), [
    # Stock._held (a cache of the reservations table) was not rolled back with a failed
    # transaction: a seller withdrew units still held by a charged purchase, whose
    # settle then failed SQLite's CHECK forever (the supervisor gave up).
    (67, 1500, 6, "held units after a rollback"),
    # A password job started in a batch that then failed on storage still finished:
    # its request, answered UNAVAILABLE with the batch, got a second answer (or a
    # login committed behind the refusal).
    (20712, 3000, 6, "password check after its batch failed"),
    # The simulator's own: a timer cancelled while its run waited in the loop's queue
    # (a stock handler that failed) still ran and told a dead actor.
    (21515, 3000, 6, "a cancelled timer of a dead actor"),
])
def test_a_seed_that_found_a_bug_stays_clean(seed: int, steps: int, clients: int,
                                            bug: str) -> None:
    result, _ = run_seed(seed, steps=steps, clients=clients)
    assert result.violations == [], bug
