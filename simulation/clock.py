"""The simulated clock: wall time and monotonic time, both moved only by the simulator.

A real process reads `time.time()` (deadlines carried in fifo messages, session
expiry, idempotency keys) and `time.monotonic()` (timers, liveness, the front
door's deadlines). Here both advance together, by the scheduler jumping to the
next timer when nothing is runnable, or by a `clock` fault jumping forward.
"""

from __future__ import annotations

__all__ = ["EPOCH", "SimClock"]

#: Simulated wall time starts here (2026-01-01T00:00:00Z), whatever the seed.
EPOCH = 1_767_225_600.0


class SimClock:
    """Virtual time. Runs on the simulation's one thread."""

    def __init__(self) -> None:
        self.now = 0.0  # seconds since the simulation began

    def time(self) -> float:
        return EPOCH + self.now

    def monotonic(self) -> float:
        return self.now

    def advance_to(self, when: float) -> None:
        if when > self.now:
            self.now = when

    def jump(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """What a `time.sleep` in the code under test does here: time passes, nothing runs."""
        self.now += max(0.0, seconds)
