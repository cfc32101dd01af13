"""The simulator finds known bugs when they are put back (simulation/bugs.py).

Each test switches one bug on and runs seeds from 0 with the command line's
settings until the oracle reports it, and asserts that happens within a few seeds
(how many it took when measured is in each test's name of `FOUND_BY`). The
shrinking test runs the `hypothesis.stateful` machine and checks the failure
shrinks to a short story.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from simulation import Simulation
from simulation.bugs import reintroduced
from simulation.cli import run_seed
from simulation.clients import PASSWORD
from simulation.shrink import VendingMachine

#: bug -> (faults, steps, clients, the violation it shows as, seeds allowed).
#: Measured: early-status at seed 4 (5 seeds), stop-all at seed 0 (1 seed).
SEARCHES = {
    "early-status": ("all", 3000, 6, "answered twice", 20),
    "stop-all": ("all", 3000, 6, "stop_all() called on a loop thread", 5),
}


def first_failing_seed(bug: str) -> tuple[int, list[str]]:
    faults, steps, clients, _, allowed = SEARCHES[bug]
    with reintroduced(bug):
        for seed in range(allowed):
            result, _ = run_seed(seed, steps=steps, clients=clients, faults=faults)
            if result.violations:
                return seed, result.violations
    return -1, []


@pytest.mark.parametrize("bug", sorted(SEARCHES))
def test_the_simulator_finds_a_known_bug_within_a_few_seeds(bug: str) -> None:
    seed, violations = first_failing_seed(bug)
    assert seed >= 0, f"{bug} not found in {SEARCHES[bug][4]} seeds"
    assert any(SEARCHES[bug][3] in line for line in violations), violations


def test_without_the_bug_the_same_seeds_pass() -> None:
    faults, steps, clients, _, _ = SEARCHES["early-status"]
    for seed in range(5):
        result, _ = run_seed(seed, steps=steps, clients=clients, faults=faults)
        assert result.violations == [], seed


def test_optional_writes_left_off_after_a_full_disk_expire_a_session_in_use() -> None:
    """A buyer that keeps using its session for two hours after a full disk:
    with the bug its session's last_seen is never written again."""
    def story() -> list[str]:
        with Simulation(seed=3, faults="none") as sim:
            ann = sim.buyer("ann", autonomous=False, think=0.0)
            sim.run(minutes=1)
            world = sim.world
            world.faults.disk.failing["gatekeeper"] = ("full", world.clock.now + 5)
            ann.deposit(5)  # refused while full, retried until it commits
            sim.run(minutes=1)
            for _ in range(12):
                ann.request("profile")
                sim.run(minutes=10)
            return sim.finish().violations
    assert story() == []
    with reintroduced("optional-writes"):
        violations = story()
    assert any("session in use expired" in line for line in violations), violations


def _with_and_without(bug: str, story: Callable[[int], list[str]],
                      seeds: int) -> tuple[int, list[str]]:
    """The story passes on every seed without the bug; the first seed that fails with it."""
    for seed in range(seeds):
        assert story(seed) == [], (bug, seed)
    with reintroduced(bug):
        for seed in range(seeds):
            violations = story(seed)
            if violations:
                return seed, violations
    return -1, []


def _login_while_a_commit_fails(seed: int) -> list[str]:
    """Three buyers log in again while three deposit, and the gatekeeper's next
    commit fails: some batch holds both a password job and a write."""
    with Simulation(seed=seed, faults="none") as sim:
        buyers = [sim.buyer(f"b{i}", autonomous=False, think=0.0) for i in range(6)]
        sim.run(minutes=1)
        sim.world.faults.disk.fail_later["gatekeeper"] = ("ioerror", 0)
        for i, buyer in enumerate(buyers):
            if i % 2:
                buyer.deposit(5)
            else:
                buyer.request("auth", token="buyer", username=buyer.username,
                              password=PASSWORD)
        sim.run(minutes=2)
        return sim.finish().violations


def test_a_password_check_finishing_after_its_batch_failed_is_found() -> None:
    # Measured: found at seed 2 (3 seeds); the random soak found it at seed 20712.
    seed, violations = _with_and_without("crypto-after-rollback",
                                         _login_while_a_commit_fails, 10)
    assert seed >= 0
    assert any("answered twice" in line for line in violations), violations


def _charge_overtaken_by_recovery(seed: int) -> list[str]:
    """A buyer's Charge is on a stalled link (5 s) when the stock handler restarts:
    its recovery's Resolve, on the new instance's connection, overtakes it."""
    with Simulation(seed=seed, faults="none") as sim:
        sam = sim.seller("sam", autonomous=False, think=0.0)
        sam.sell("cola", cost=5, amount=3)
        ann = sim.buyer("ann", autonomous=False, think=0.0)
        ann.deposit(10)
        sim.run(minutes=1)
        uid = sam.replies[-1]["product"]["product_uid"]
        world = sim.world
        ann.buy(uid, 1)
        for _ in range(2000):  # until the Charge is on its way
            assert world.process is not None
            links = [c for c in world.process.network.channels if c.carries("charge")]
            if links:
                links[0].delay(5.0)
                break
            world.step()
        world.faults.raise_in_batch.add("stock-handler")
        sam.request("products")  # the stock handler's next batch: it fails, restarts
        sim.run(minutes=3)
        return sim.finish().violations


def test_a_charge_after_its_purchase_was_fenced_is_found() -> None:
    # Measured: found at seed 0 (1 seed). Random seeds did not find it in 200: the
    # client's retry (same req_id) usually replays first, and the stall must meet a
    # restart of the stock handler.
    seed, violations = _with_and_without("charge-unfenced", _charge_overtaken_by_recovery, 5)
    assert seed >= 0
    assert any("both charged and fenced" in line for line in violations), violations


@pytest.mark.slow
def test_a_bug_found_by_the_state_machine_shrinks_to_a_short_story() -> None:
    with reintroduced("early-status"), pytest.raises(AssertionError) as failed:
        run_state_machine_as_test(VendingMachine, settings=settings(
            max_examples=100, stateful_step_count=8, deadline=None, database=None,
            derandomize=True, suppress_health_check=list(HealthCheck)))
    assert "answered twice" in str(failed.value)
    story = [line for line in getattr(failed.value, "__notes__", [])
             if line.startswith("state.") and not line.startswith("state.no_violation")]
    assert 1 <= len(story) <= 4, story  # e.g. commit_fails(...), buy(...), teardown()
