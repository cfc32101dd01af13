"""A clock to hand a system or an actor in its `Env` (actors/env.py), shared by the tiers."""

from __future__ import annotations

import time


class WallJump:
    """The real clock, its wall time moved forward when a test says (an NTP step):
    `ahead` seconds. Monotonic time is left alone, as a real step leaves it."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def time(self) -> float:
        return time.time() + self.ahead

    def monotonic(self) -> float:
        return time.monotonic()


class HandClock:
    """Wall and monotonic time both where the test puts them (`now`), for a unit
    that is handed a `Clock` directly."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now
