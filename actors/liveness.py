"""Is the gatekeeper answering, and the stock handler? (Paranoid Pirate style.)

The front door asks each role every HEARTBEAT_EVERY seconds to answer on its
status fifo; a role silent for HEARTBEAT_LIVENESS is taken as gone, and back
at its next answer. Requests that need a gone role get UNAVAILABLE at once;
the others go on. Runs in the front door's loop.
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING

from transport.fifo import Backpressure
from vending.errors import Unavailable
from vending.health import PartView
from vending.sources import SYSTEM_CLOCK, Clock

from .config import Endpoints
from .wire import Alive, Heartbeat

if TYPE_CHECKING:
    from .env import Outbox

HEARTBEAT_EVERY, HEARTBEAT_LIVENESS = 0.5, 3.0
_LIVENESS_MS = round(HEARTBEAT_LIVENESS * 1000)
#: The roles the front door watches (a process runs `config.SERVE_ROLES`).
WATCHED_ROLES = ("gatekeeper", "stock-handler")


class Liveness:
    def __init__(self, endpoints: Endpoints, clock: Clock = SYSTEM_CLOCK) -> None:
        self._endpoints = endpoints
        self._clock = clock
        now = clock.monotonic()
        self._heard = dict.fromkeys(WATCHED_ROLES, now)
        self._told: dict[str, Alive] = {}
        self._next = now

    def tick(self, push: Outbox, now: float) -> None:
        if now < self._next:
            return
        self._next = now + HEARTBEAT_EVERY
        for endpoint in (self._endpoints.auth, self._endpoints.post):
            with contextlib.suppress(Backpressure):  # a role that is down: its silence says so
                push.send(endpoint, Heartbeat(self._endpoints.status).to_wire())

    def heard(self, alive: Alive) -> None:
        if alive.role in self._heard:
            self._heard[alive.role] = self._clock.monotonic()
            self._told[alive.role] = alive

    def views(self) -> dict[str, PartView]:
        """Each role as the `health` op reports it (vending/health.py)."""
        now = self._clock.monotonic()
        out = {}
        for role, heard in self._heard.items():
            told = self._told.get(role, Alive(role))
            out[role] = PartView(is_up(now - heard), told.storage, silent_ms(now - heard),
                                 told.last_seq, told.sessions)
        return out

    def silent_for(self, now: float) -> dict[str, float]:
        """Seconds since each role last answered (any thread: a snapshot)."""
        return {role: now - heard for role, heard in dict(self._heard).items()}

    def require(self, roles: tuple[str, ...]) -> None:
        """Raises `Unavailable` if one of `roles` has gone silent."""
        now = self._clock.monotonic()
        for role in roles:
            if not is_up(now - self._heard[role]):
                raise Unavailable(f"the {role} is not answering; retry later")


def silent_ms(silent: float) -> int:
    """`silent` seconds as whole milliseconds, rounded up: over HEARTBEAT_LIVENESS
    in seconds exactly when over it in milliseconds, so a part reported down never
    reads 3000 ms."""
    return math.ceil(silent * 1000)


def is_up(silent: float) -> bool:
    """The one rule for a role silent `silent` seconds: `health`, `require` (which
    refuses requests) and the metrics' `vending_role_up` all ask it."""
    # `silent_ms(silent) <= _LIVENESS_MS` without the rounding: an integer bound
    # is at or over a number exactly when it is at or over its ceiling.
    return silent * 1000 <= _LIVENESS_MS
