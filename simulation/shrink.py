"""The simulated world under `hypothesis.stateful`: failures shrink to a short story.

`VendingMachine` is a `RuleBasedStateMachine` whose rules are what a test would
write by hand: a buyer deposits, buys, resets or logs in again; a seller creates
or restocks; the process or an actor crashes; a commit fails; a connection breaks;
the clock jumps; time passes. Each rule runs the world until its request is
answered (or a bounded time passes); the oracle's violations are the invariant.
Hypothesis then shrinks a failing run to the fewest, simplest rules that still
fail, and prints them as code (tests/simulation/test_finds_bugs.py shows them).

The scheduler's RNG is fixed (seed 0) so a rule sequence is one history; what
varies is the sequence itself.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from .api import Simulation
from .clients import PASSWORD, SimClient
from .oracle import ROLES

__all__ = ["VendingMachine"]

BUYERS, COINS = 4, (5, 10, 20, 50, 100)
#: Simulated seconds a rule waits at most for its request.
PATIENCE = 120.0


class VendingMachine(RuleBasedStateMachine):
    """One shop: four buyers, one seller with one product, and faults as rules."""

    def __init__(self) -> None:
        super().__init__()
        self.sim = Simulation(seed=0, faults="none")
        self.sim.__enter__()
        self.world = self.sim.world
        self.seller = self.sim.seller("sam", autonomous=False, think=0.0)
        self.buyers = [self.sim.buyer(f"b{i}", autonomous=False, think=0.0)
                       for i in range(BUYERS)]
        self.seller.sell("cola", cost=5, amount=3)
        self._settle(self.seller)
        self._settle(*self.buyers)
        product = next((r for r in self.seller.replies if "product" in r), None)
        self.uid = product["product"]["product_uid"] if product else "p0000000001"

    def _settle(self, *clients: SimClient) -> None:
        world = self.world
        until = world.clock.now + PATIENCE
        while world.clock.now < until and not world.oracle.violations:
            if not any(c.busy() or c.script for c in clients) and world.process is not None \
                    and world.process.door is not None:
                return
            if not world.step():
                return

    # -- clients ------------------------------------------------------------------
    @rule(who=st.integers(0, BUYERS - 1), coin=st.sampled_from(COINS))
    def deposit(self, who: int, coin: int) -> None:
        self.buyers[who].deposit(coin)
        self._settle(self.buyers[who])

    @rule(who=st.integers(0, BUYERS - 1), units=st.integers(1, 2))
    def buy(self, who: int, units: int) -> None:
        self.buyers[who].buy(self.uid, units)
        self._settle(self.buyers[who])

    @rule(who=st.integers(0, BUYERS - 1))
    def reset(self, who: int) -> None:
        self.buyers[who].reset()
        self._settle(self.buyers[who])

    @rule(units=st.integers(-2, 3))
    def restock(self, units: int) -> None:
        self.seller.request("sell", product_uid=self.uid, amount=units)
        self._settle(self.seller)

    @rule(a=st.integers(0, BUYERS - 1), b=st.integers(0, BUYERS - 1))
    def buy_together(self, a: int, b: int) -> None:
        """Two purchases in flight at once."""
        self.buyers[a].buy(self.uid, 1)
        self.buyers[b].buy(self.uid, 1)
        self._settle(*self.buyers)

    @rule(who=st.integers(0, BUYERS - 1), minutes=st.sampled_from([10, 40]))
    def reads_for(self, who: int, minutes: int) -> None:
        """A buyer reads its profile now, 10 s later, then every 5 simulated minutes
        for `minutes` (each read may touch its session)."""
        for pause in [10.0] + [300.0] * (minutes // 5):
            self.buyers[who].request("profile")
            self._settle(self.buyers[who])
            self.sim.run(seconds=pause)

    @rule(a=st.integers(0, BUYERS - 1), b=st.integers(0, BUYERS - 1))
    def deposit_while_logging_in(self, a: int, b: int) -> None:
        """One buyer deposits while another logs in again (argon2 in flight)."""
        self.buyers[a].deposit(5)
        self.buyers[b].request("auth", token="buyer", username=self.buyers[b].username,
                               password=PASSWORD)
        self._settle(*self.buyers)

    @rule()
    def logins_while_depositing(self) -> None:
        """Half the buyers deposit while the other half log in again."""
        for i, buyer in enumerate(self.buyers):
            if i % 2:
                buyer.request("auth", token="buyer", username=buyer.username,
                              password=PASSWORD)
            else:
                buyer.deposit(5)
        self._settle(*self.buyers)

    # -- faults -------------------------------------------------------------------
    @rule(role=st.sampled_from(["gatekeeper", "stock-handler"]),
          kind=st.sampled_from(["full", "ioerror"]), after=st.integers(0, 3))
    def commit_fails(self, role: str, kind: str, after: int) -> None:
        """The commit after the next `after` writing commits of `role` fails."""
        self.world.faults.disk.fail_later[role] = (kind, after)

    @rule(role=st.sampled_from(["gatekeeper", "stock-handler"]), seconds=st.sampled_from([
        1.0, 30.0]))
    def disk_full(self, role: str, seconds: float) -> None:
        """`role`'s disk is full for `seconds` from now."""
        self.world.faults.disk.failing[role] = ("full", self.world.clock.now + seconds)

    @rule(who=st.integers(0, BUYERS - 1))
    def buy_while_the_stock_handler_restarts(self, who: int) -> None:
        """A purchase whose `charge` is held on its link while the stock handler
        raises and restarts (the swarm's aimed crash, `saga-stall`); the seller
        lists the products meanwhile (the stock handler's next batch)."""
        self.world.arm_saga_stall()
        self.buyers[who].buy(self.uid, 1)
        self.seller.request("products")
        self._settle(self.buyers[who], self.seller)

    @rule(kind=st.sampled_from(["full", "ioerror"]))
    def aimed_commit_fails(self, kind: str) -> None:
        """The gatekeeper's next commit that holds a password check fails, and the
        stock handler's next that settles a purchase (the swarm's aimed disk fault)."""
        self.world.faults.disk.aimed_commit.update(dict.fromkeys(ROLES, kind))

    @rule(role=st.sampled_from(["gatekeeper", "stock-handler"]))
    def actor_raises(self, role: str) -> None:
        self.world.faults.raise_in_batch.add(role)

    @rule(when=st.sampled_from(["before", "after"]))
    def process_dies_at_next_commit(self, when: str) -> None:
        self.world.faults.crash_at_commit = when

    @rule()
    def process_dies_now(self) -> None:
        self.world.begin_crash()
        self.world._crash()
        self._settle(*self.buyers)

    @rule(seconds=st.sampled_from([1.0, 20.0, 120.0, 2000.0]))
    def clock_jumps(self, seconds: float) -> None:
        self.world.clock.jump(seconds)
        self._settle(*self.buyers, self.seller)

    @rule(seconds=st.sampled_from([1.0, 10.0, 60.0, 600.0]))
    def time_passes(self, seconds: float) -> None:
        self.sim.run(seconds=seconds)

    @invariant()
    def no_violation(self) -> None:
        assert self.world.oracle.violations == [], self.world.oracle.violations

    def teardown(self) -> None:
        try:
            if not self.world.oracle.violations:
                self.world.quiesce(limit=300.0)
            violations: list[Any] = list(self.world.oracle.violations)
        finally:
            self.sim._finished = True
            self.sim.__exit__(None, None, None)
        assert violations == [], violations
