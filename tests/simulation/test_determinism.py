"""Same seed, same build, same options: the same history (docs/simulation.md)."""

from __future__ import annotations

import os
import subprocess
import sys

from simulation.cli import run_seed

_RUN = ("from simulation.cli import run_seed\n"
        "r, _ = run_seed({seed}, steps=3000)\n"
        "print(r.trace, r.steps, r.requests, r.faults)\n")


def test_the_same_seed_twice_gives_the_same_trace_and_another_seed_another() -> None:
    first, lines = run_seed(11, steps=3000, trace=True)
    again, lines_again = run_seed(11, steps=3000, trace=True)
    other, _ = run_seed(12, steps=3000)
    assert lines == lines_again
    assert (first.trace, first.steps, first.requests, first.faults) == (
        again.trace, again.steps, again.requests, again.faults)
    assert other.trace != first.trace
    assert first.faults > 0  # faults are part of what must replay


def _fresh_process(seed: int, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-c", _RUN.format(seed=seed)], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


def test_two_fresh_processes_with_different_hash_seeds_agree() -> None:
    a = _fresh_process(11, "1")
    b = _fresh_process(11, "4242")
    c = _fresh_process(12, "1")
    assert a == b
    assert a.split()[0] != c.split()[0]
    inside, _ = run_seed(11, steps=3000)
    assert a.split()[0] == inside.trace


def test_a_soak_in_worker_processes_gives_each_seed_its_own_history() -> None:
    """`--seeds N --jobs 2`: the seeds' results, in seed order, are the ones a plain
    loop in this process gives (the worker a seed lands on changes nothing)."""
    from simulation.soak import run_seeds

    options = {"steps": 600, "clients": 3}
    alone = [run_seed(seed, **options)[0] for seed in range(5, 9)]
    side_by_side = [r for r, _ in run_seeds(range(5, 9), 2, **options)]
    assert [(r.seed, r.trace, r.requests) for r in side_by_side] == [
        (r.seed, r.trace, r.requests) for r in alone]
    assert len({r.trace for r in alone}) == 4
