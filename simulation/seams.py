"""Where the simulator plugs into the real code: every source of nondeterminism.

The actors reach for the clock (`time.time`, `time.monotonic`), randomness
(`secrets`, `uuid`), a thread (the gatekeeper's argon2 `ThreadPoolExecutor`),
sockets (`Pushers`, the fifos' PUSH ends) and the fault points (`actors.faults`)
through module-level names. `installed` swaps exactly those names for the
simulator's own while a simulation runs, and puts the originals back after, so
the same modules run for real elsewhere in the process.

tests/simulation/test_seams.py reads the actor and transport modules and fails
when one of them grows a use of these that is not listed here, so a new source
of nondeterminism cannot slip past the simulator unnoticed.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from types import SimpleNamespace
from typing import Any

from argon2 import PasswordHasher

from .clock import SimClock

__all__ = ["CHEAP_ARGON2", "TIME_USERS", "installed"]

#: Modules whose `time` is the simulated clock.
TIME_USERS = ("actors.backend", "actors.dispatch", "actors.liveness", "actors.session_pool",
              "actors.supervisor", "transport.frontdoor")
#: Argon2 at the lowest cost argon2 accepts: the same code path, microseconds not 30 ms.
CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
_CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class _Secrets:
    """`secrets` for tokens, wsess_uids and salts, drawn from the seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def token_bytes(self, n: int = 32) -> bytes:
        return self._rng.getrandbits(8 * n).to_bytes(n, "big")

    def token_urlsafe(self, n: int = 32) -> str:
        import base64
        return base64.urlsafe_b64encode(self.token_bytes(n)).rstrip(b"=").decode("ascii")


class _Uuid:
    """`uuid.uuid4()` (purchase ids) from the seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def uuid4(self) -> SimpleNamespace:
        return SimpleNamespace(hex=f"{self._rng.getrandbits(128):032x}")


@contextmanager
def installed(clock: SimClock, rng: random.Random, *, executor: Callable[..., Any],
              pushers: Callable[..., Any], database: Callable[..., Any],
              faults: Any) -> Iterator[None]:
    """Swap the real clock, RNG, crypto pool, fifo senders and fault points for the
    simulator's; restore them on exit. One simulation at a time per process."""
    import actors.backend
    import actors.dispatch
    import actors.gatekeeper
    import actors.stockhandler
    import vending.credentials as cred
    from vending.gate import Gate
    from vending.stock import Stock

    for name in TIME_USERS:
        __import__(name)
    fake_time = SimpleNamespace(time=clock.time, monotonic=clock.monotonic, sleep=clock.sleep)
    hasher = _CHEAP
    dummy = hasher.hash("simulation-dummy", salt=b"0123456789abcdef")
    swaps: list[tuple[Any, str, Any]] = [
        *((sys.modules[name], "time", fake_time) for name in TIME_USERS),
        (cred, "secrets", _Secrets(rng)),
        (cred, "_hasher", lambda: hasher),
        (cred, "_TIME_COST", CHEAP_ARGON2["time_cost"]),
        (cred, "_MEMORY_KIB", CHEAP_ARGON2["memory_cost"]),
        (cred, "_dummy_hash", lambda: dummy),
        (actors.stockhandler, "uuid", _Uuid(rng)),
        # The rules take their clock as an argument; the actors leave it at its
        # default (time.time), so the simulator hands it in where they build them.
        (actors.gatekeeper, "Gate", partial(Gate, clock=clock.time)),
        (actors.stockhandler, "Stock", partial(Stock, clock=clock.time)),
        (actors.gatekeeper, "ThreadPoolExecutor", executor),
        (actors.backend, "Pushers", pushers),
        (actors.backend, "Database", database),
        (actors.dispatch, "Pushers", pushers),
        (actors.backend, "faults", faults),
        (actors.gatekeeper, "faults", faults),
        (actors.stockhandler, "faults", faults),
    ]
    saved = [(module, attr, getattr(module, attr)) for module, attr, _ in swaps]
    try:
        for module, attr, value in swaps:
            setattr(module, attr, value)
        yield
    finally:
        for module, attr, value in reversed(saved):
            setattr(module, attr, value)
