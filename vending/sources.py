"""Where time and randomness come from: the clock and entropy the code is given.

The rules and the actors never call `time.time()`, `secrets` or `uuid`
themselves: they read a `Clock` and an `Entropy` handed to them (the actors
through `actors.env.Env`, the rules through their constructors), so the
simulator can hand in its own and one seed is one history (docs/simulation.md,
"The seam"). tests/simulation/test_seams.py fails when a module reaches for
them on its own. This module holds the real ones.
"""

from __future__ import annotations

import secrets as _secrets
import time as _time
import uuid as _uuid
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "SYSTEM_ENTROPY", "Clock", "Entropy", "SystemClock",
           "SystemEntropy"]


class Clock(Protocol):
    """Wall and monotonic time, read by any thread."""

    def time(self) -> float:
        """Seconds since the epoch: deadlines carried in messages, what is stored."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: timers, liveness, read turns."""


class Entropy(Protocol):
    """Unpredictable bytes: tokens, session uids, salts and purchase ids. Any thread."""

    def token_bytes(self, nbytes: int) -> bytes: ...

    def token_urlsafe(self, nbytes: int) -> str:
        """`nbytes` random bytes, URL-safe base64 without padding (as `secrets` makes)."""

    def uuid_hex(self) -> str:
        """A random 128-bit id as 32 hex digits (`uuid.uuid4().hex`)."""


class SystemClock:
    """The operating system's clocks (the C functions themselves: no extra call)."""

    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)


class SystemEntropy:
    """The OS CSPRNG, through `secrets` and `uuid`."""

    token_bytes = staticmethod(_secrets.token_bytes)
    token_urlsafe = staticmethod(_secrets.token_urlsafe)

    @staticmethod
    def uuid_hex() -> str:
        return _uuid.uuid4().hex


SYSTEM_CLOCK: Clock = SystemClock()
SYSTEM_ENTROPY: Entropy = SystemEntropy()
