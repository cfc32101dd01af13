"""The simulator's side of the seam: the `Env` it hands the real code.

The actors, the front door and the rules read the clock, entropy, credentials,
the password pool, the fifos' PUSH ends, the database opener and the fault
points from the `actors.env.Env` they are given, never from a module of their
own. `simulated_env` builds the one a `World` hands them: the virtual clock,
entropy drawn from the seed, argon2 at the lowest cost argon2 accepts, and the
world's own pool, channels, disk and fault points. Nothing is swapped in a
module, so the same modules run for real elsewhere in the process, and two
simulations may run side by side.

tests/simulation/test_seams.py reads the actor, transport and rule modules and
fails when one of them reaches for time, randomness, a thread, a socket, a
database file or a fault point on its own.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from actors.env import Env, FaultPoints, Outbox
from vending.credentials import Argon2Cost, Credentials
from vending.db import Database
from vending.schema import Schema

from .clock import SimClock

__all__ = ["CHEAP_ARGON2", "SimEntropy", "simulated_env"]

#: Argon2 at the lowest cost argon2 accepts: the same code path, microseconds not 30 ms.
CHEAP_ARGON2 = Argon2Cost(time_cost=1, memory_kib=8, parallelism=1)


class SimEntropy:
    """Tokens, wsess_uids, salts and purchase ids, drawn from the seeded RNG (the
    forms `secrets` and `uuid` give)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def token_bytes(self, nbytes: int = 32) -> bytes:
        return self._rng.getrandbits(8 * nbytes).to_bytes(nbytes, "big")

    def token_urlsafe(self, nbytes: int = 32) -> str:
        return base64.urlsafe_b64encode(self.token_bytes(nbytes)).rstrip(b"=").decode("ascii")

    def uuid_hex(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"


def simulated_env(clock: SimClock, rng: random.Random, salt_rng: random.Random, *,
                  password_pool: Callable[[int], Executor],
                  pushers: Callable[[Any], Outbox],
                  database: Callable[[Path | None, Schema | str], Database],
                  faults: FaultPoints) -> Env:
    """The `Env` of one simulated world: `rng` for everything random the code draws,
    `salt_rng` for password hashes' salts (a stream of its own: they decide nothing)."""
    entropy = SimEntropy(rng)
    cheap = Credentials(entropy, CHEAP_ARGON2)
    # A fixed dummy hash: made once, from no draw of the seed's RNG.
    dummy = cheap.hasher.hash("simulation-dummy", salt=b"0123456789abcdef")
    return Env(clock=clock, entropy=entropy,
               credentials=Credentials(entropy, CHEAP_ARGON2, dummy_hash=dummy,
                                       salts=SimEntropy(salt_rng)),
               password_pool=password_pool, pushers=pushers, database=database,
               faults=faults)
