"""The world a system runs in, handed to its parts: `Env`.

Everything the actors and the front door reach outside themselves for is a
field here: the clock, the entropy (tokens, salts, session uids, purchase ids),
the credentials (argon2 at its cost), the pool that runs password work, the
fifos' PUSH ends, the database files and the fault points. The defaults are the
real ones; `VendingSystem` hands its `Env` to every part it builds, and the
simulator builds its own (simulated clock, seeded entropy, cheap argon2, work
run as steps of its own lanes, in-memory channels, its disk's faults) and hands
that in instead (docs/simulation.md, "The seam"). No part reads any of these
from anywhere else: tests/simulation/test_seams.py fails when one does.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import zmq

from transport.fifo import Pushers
from vending import credentials
from vending.credentials import Credentials
from vending.db import Database
from vending.schema import Schema
from vending.sources import SYSTEM_CLOCK, SYSTEM_ENTROPY, Clock, Entropy

from . import faults

__all__ = ["REAL", "BatchOutbox", "Env", "FaultPoints", "Outbox", "password_threads"]


class Outbox(Protocol):
    """Where an actor's messages go: its PUSH sockets (`Pushers`), or a test's fake.

    One that also has `send_many(endpoint, messages)` (as `Pushers` does) gets a
    batch's messages to one fifo in one call (`BackendActor.flush`).
    """

    def send(self, endpoint: str, message: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class BatchOutbox(Outbox, Protocol):
    """An `Outbox` that sends several messages to one fifo in one frame (`Pushers`)."""

    def send_many(self, endpoint: str, messages: list[dict[str, Any]]) -> None: ...


class FaultPoints(Protocol):
    """Named steps where a test may make a part die, raise, stall or fail
    (actors/faults.py, the real ones; simulation/disk.py, the simulator's)."""

    def hit(self, point: str) -> None:
        """The calling part reached `point` (its own thread)."""

    def armed(self) -> bool:
        """Some point may act: a part then sends its messages one by one, so a
        fault "before sending X" finds everything queued before X already sent."""


def password_threads(workers: int) -> Executor:
    """The real pool for argon2 work: `workers` threads (argon2 releases the GIL)."""
    return ThreadPoolExecutor(workers, thread_name_prefix="argon2")


@dataclass(frozen=True)
class Env:
    """What a part reads from outside itself; the real world by default.

    `credentials` draws tokens and salts from its own entropy, which must be
    `entropy` (else a seeded `Env` would still make OS-random tokens).

    Raises:
        ValueError: `credentials` draws from another entropy than `entropy`.
    """

    clock: Clock = SYSTEM_CLOCK
    entropy: Entropy = SYSTEM_ENTROPY
    credentials: Credentials = field(default_factory=credentials.system)
    #: `password_pool(workers)`: where the gatekeeper's argon2 jobs run.
    password_pool: Callable[[int], Executor] = password_threads
    #: `pushers(ctx)`: a part's PUSH ends of the fifos, one per endpoint.
    pushers: Callable[[zmq.Context[Any]], Outbox] = Pushers
    #: `database(path, schema)`: opens (or creates) a part's SQLite file.
    database: Callable[[Path | None, Schema | str], Database] = Database
    faults: FaultPoints = faults

    def __post_init__(self) -> None:
        if self.credentials.entropy is not self.entropy:
            raise ValueError("Env: give credentials that draw from the Env's entropy, e.g."
                             " Credentials(entropy)")


#: The real world: what every part gets unless it is handed another.
REAL = Env()
