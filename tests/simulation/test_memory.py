"""Runs one after another in one process leave nothing behind (docs/simulation.md,
"Speed", "What a world left behind"): a soak's worker runs thousands of seeds, a test
suite or hypothesis's shrinking hundreds of worlds, and a world that has ended is
freed by the collector the next time it scans, even while another world runs.
"""

from __future__ import annotations

import gc
import weakref

import pykka
import pytest

from simulation.api import Simulation
from simulation.world import World

#: Seeds whose worlds, four clients, 1,500 steps, every fault, end with a session
#: told to stop whose stop never ran (seed 2), or not.
SEEDS = range(4)


def _ended_world(seed: int, faults: str = "all") -> weakref.ref[World]:
    with Simulation(seed=seed, faults=faults) as sim:
        for name in ("ann", "bob", "cy"):
            sim.buyer(name)
        sim.seller("sam")
        sim.run(steps=1500)
        return weakref.ref(sim.world)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_world_that_ended_is_collected_during_the_next_run(seed: int) -> None:
    first = _ended_world(seed)
    with Simulation(seed=seed + 100, faults="none") as sim:
        sim.buyer("dee")
        sim.run(steps=50)
        # What the collector does when its thresholds say so: a full scan, here,
        # mid-run (a run of thousands of steps makes many).
        gc.collect()
        assert first() is None, "the last run's world outlived a full collection in this one"


def test_a_world_that_ended_leaves_no_actor_registered() -> None:
    before = pykka.ActorRegistry.get_all()
    for seed in SEEDS:
        _ended_world(seed)
    assert pykka.ActorRegistry.get_all() == before


def test_a_run_gives_the_collector_back_as_it_found_it() -> None:
    threshold = gc.get_threshold()
    _ended_world(0, "none")
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0
