"""Is the gatekeeper answering, and the stock handler? (Paranoid Pirate style.)

The front door asks each role every HEARTBEAT_EVERY seconds to answer on its
status fifo; a role silent for HEARTBEAT_LIVENESS, that has also let MISSED_LIMIT
of those asks go unanswered, is taken as gone, and back at its next answer.
Requests that need a gone role get UNAVAILABLE at once; the others go on. Runs in
the front door's loop.

Silence alone is not enough: when the front door's own loop was held (a commit
waiting on a slow disk holds every part on one loop, or the process was paused,
or the clock stepped) every role looks silent for as long, though none was asked
in the meantime. Such a role stays up until it ignores asks sent since: the
missed asks are the front door's own evidence (docs/design.md, "Threads and what
they own").
"""

from __future__ import annotations

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

#: The ZeroMQ Guide's Paranoid Pirate numbers: an ask a second, gone after three
#: silent seconds. Asking twice a second bought nothing (a role is still taken as
#: gone only after 3 s) and doubled the idle chatter of every part.
HEARTBEAT_EVERY, HEARTBEAT_LIVENESS = 1.0, 3.0
#: Asks a role must have left unanswered, besides its silence, to be taken as gone:
#: two, so that one ask sent just before the loop was held, and its answer not yet
#: read, is not enough.
MISSED_LIMIT = 2
_LIVENESS_MS = round(HEARTBEAT_LIVENESS * 1000)
#: The roles the front door watches (a process runs `config.SERVE_ROLES`).
WATCHED_ROLES = ("gatekeeper", "stock-handler")


class Liveness:
    def __init__(self, endpoints: Endpoints, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        now = clock.monotonic()
        self._heard = dict.fromkeys(WATCHED_ROLES, now)
        #: Asks sent to each role since it last answered.
        self._missed = dict.fromkeys(WATCHED_ROLES, 0)
        self._told: dict[str, Alive] = {}
        self._next = now
        #: The ask (the same every round, so its map is built once) and where it goes.
        self._ask = Heartbeat(endpoints.status).to_wire()
        self._asked = tuple(zip(WATCHED_ROLES, (endpoints.auth, endpoints.post), strict=True))

    def tick(self, push: Outbox, now: float) -> float:
        """Ask each role, if it is time; return when to ask next."""
        if now < self._next:
            return self._next
        self._next = now + HEARTBEAT_EVERY
        ask, missed = self._ask, self._missed
        for role, endpoint in self._asked:
            # An ask its full fifo refused counts as missed too: the role is not reading.
            missed[role] += 1
            # Not `contextlib.suppress`: its object and two calls, twice a second.
            try:  # noqa: SIM105
                push.send(endpoint, ask)
            except Backpressure:
                pass  # a role that is down: its silence says so
        return self._next

    def heard(self, alive: Alive) -> None:
        if alive.role in self._heard:
            self._heard[alive.role] = self._clock.monotonic()
            self._missed[alive.role] = 0
            self._told[alive.role] = alive

    def views(self) -> dict[str, PartView]:
        """Each role as the `health` op reports it (vending/health.py)."""
        now = self._clock.monotonic()
        out = {}
        for role, heard in self._heard.items():
            told = self._told.get(role, Alive(role))
            out[role] = PartView(is_up(now - heard, self._missed[role]), told.storage,
                                 silent_ms(now - heard), told.last_seq, told.sessions)
        return out

    def silent_for(self, now: float) -> dict[str, tuple[float, bool]]:
        """Seconds since each role last answered, and whether it is up (any thread: a
        snapshot)."""
        missed = dict(self._missed)
        return {role: (now - heard, is_up(now - heard, missed[role]))
                for role, heard in dict(self._heard).items()}

    def require(self, roles: tuple[str, ...]) -> None:
        """Raises `Unavailable` if one of `roles` has gone silent."""
        now = self._clock.monotonic()
        for role in roles:
            if not is_up(now - self._heard[role], self._missed[role]):
                raise Unavailable(f"the {role} is not answering; retry later")


def silent_ms(silent: float) -> int:
    """`silent` seconds as whole milliseconds, rounded up: over HEARTBEAT_LIVENESS
    in seconds exactly when over it in milliseconds, so a part reported down never
    reads 3000 ms."""
    return math.ceil(silent * 1000)


def is_up(silent: float, missed: int) -> bool:
    """The one rule for a role silent `silent` seconds that has left `missed` asks
    unanswered: `health`, `require` (which refuses requests) and the metrics'
    `vending_role_up` all ask it."""
    # `silent_ms(silent) <= _LIVENESS_MS` without the rounding: an integer bound
    # is at or over a number exactly when it is at or over its ceiling.
    return silent * 1000 <= _LIVENESS_MS or missed < MISSED_LIMIT
