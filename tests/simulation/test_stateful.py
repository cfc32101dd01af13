"""The shrinking state machine (simulation/shrink.py) over the real code: requests
and faults in any order keep every guarantee. A failure here prints the shortest
sequence of rules that breaks one."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from simulation.shrink import VendingMachine

TestVendingMachine = VendingMachine.TestCase
TestVendingMachine.settings = settings(
    max_examples=25, stateful_step_count=10, deadline=None, database=None,
    suppress_health_check=list(HealthCheck))
