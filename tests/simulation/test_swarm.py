"""Swarm testing's configurations and housekeeping as one step (docs/simulation.md,
"Swarm" and "Interleavings")."""

from __future__ import annotations

from simulation import Simulation
from simulation.kinds import FAULT_KINDS
from simulation.swarm import MIXES, SWARM_ONLY, VARIANTS, draw, fixed

ALL = frozenset(FAULT_KINDS)


def test_a_seed_draws_the_same_configuration_every_time_within_the_kinds_allowed() -> None:
    for seed in range(100):
        assert draw(seed, ALL) == draw(seed, ALL)
        only_disk = draw(seed, frozenset({"disk"}))
        assert only_disk.kinds == {"disk"}
        assert set(only_disk.variants["disk"]) <= set(VARIANTS["disk"] + SWARM_ONLY["disk"])
        assert draw(seed, frozenset()).kinds == frozenset()


def test_across_seeds_every_kind_variant_mix_and_timeout_comes_up_and_alone() -> None:
    profiles = [draw(seed, ALL) for seed in range(300)]
    for kind in FAULT_KINDS:
        for variant in VARIANTS[kind] + SWARM_ONLY[kind]:
            assert any(variant in p.variants.get(kind, ()) for p in profiles), variant
        assert any(p.kinds == {kind} for p in profiles), kind  # some seeds do one thing
    assert {p.mix for p in profiles} == set(MIXES)
    assert {p.timeout for p in profiles} == {12.0, 5.0, 2.0}
    rates = sorted(p.fault_rate for p in profiles)
    assert rates[0] < 1 / 1000 and rates[-1] > 1 / 100


def test_the_fixed_configuration_is_every_variant_but_the_aimed_ones() -> None:
    profile = fixed(ALL)
    assert profile.variants == VARIANTS and not profile.swarm
    assert (profile.mix, profile.think, profile.timeout, profile.beat) == (
        "default", 1.0, 12.0, 0.0)


def _quiet_hour(batch_idle: bool) -> tuple[int, int, int, dict[str, int]]:
    with Simulation(seed=5, faults="none", batch_idle=batch_idle) as sim:
        buyers = [sim.buyer(f"b{i}", think=600.0) for i in range(3)]
        sim.seller("s0", think=600.0)
        sim.run(hours=1)
        result = sim.finish()
        assert result.violations == []
        return (result.steps, result.requests, sim.world.trace.count,
                {b.name: len(b.replies) for b in buyers})


def test_housekeeping_as_one_step_runs_the_same_work_in_fewer_steps_of_the_world() -> None:
    steps, requests, lines, replies = _quiet_hour(batch_idle=True)
    steps_one_by_one, requests_one_by_one, lines_one_by_one, replies_one_by_one = \
        _quiet_hour(batch_idle=False)
    # The same requests and replies, and the same pieces of work (the real timers
    # all ran) but for where the end falls: the quiet end is looked for between
    # world steps, so a housekeeping step may run a few pieces past it. Far fewer
    # world steps (trace lines) for the idle time.
    assert (requests, replies) == (requests_one_by_one, replies_one_by_one)
    assert abs(steps - steps_one_by_one) < 10
    assert lines * 10 < lines_one_by_one
