"""Runs one after another in one process leave nothing behind (docs/simulation.md,
"Speed", "The collector between runs"): a soak's worker runs thousands of seeds, a
test suite or hypothesis's shrinking hundreds of worlds, and a world that has ended
is freed by the collector the next time it scans, even while another world runs.
"""

from __future__ import annotations

import gc
import weakref

from simulation.api import Simulation
from simulation.world import World


def _ended_world(seed: int) -> weakref.ref[World]:
    with Simulation(seed=seed, faults="none") as sim:
        sim.buyer("ann")
        sim.seller("sam")
        sim.run(steps=300)
        return weakref.ref(sim.world)


def test_a_world_that_ended_is_collected_during_the_next_run() -> None:
    first = _ended_world(1)
    with Simulation(seed=2, faults="none") as sim:
        sim.buyer("bob")
        sim.run(steps=50)
        # What the collector does when its thresholds say so: a full scan, here,
        # mid-run (a run of thousands of steps makes many).
        gc.collect()
        assert first() is None, "the last run's world outlived a full collection in this one"


def test_a_run_gives_the_collector_back_as_it_found_it() -> None:
    threshold = gc.get_threshold()
    _ended_world(3)
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0
