"""Which session actors are alive: started on a session's first request, stopped
when idle, bounded in number. Runs in the front door's loop.

Stopping an actor never ends its session: the next request starts a fresh
actor from what the gatekeeper has stored. A session's requests in flight live in
one place, its `SessionLine` (actors/session.py): the pool admits requests into it
and reads it; it keeps no copy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

from vending.errors import Unavailable
from vending.sources import SYSTEM_CLOCK, Clock

from .messages import Done, Expired, Queued, Submit
from .runtime import stop_soon
from .session import SessionDesk, SessionLine

#: Requests one session may have waiting; its actor's mailbox stays bounded.
MAX_QUEUED_PER_SESSION = 64

StartFn = Callable[[str, SessionLine], pykka.ActorRef[Any]]
#: Told when an actor will be due to stop (monotonic), if nothing sooner was: the
#: front door's `wake_by`.
WakeFn = Callable[[float], None]


def _no_wake(when: float) -> None:
    """No one to tell: `stop_idle` is asked often enough anyway."""


@dataclass
class _Live:
    ref: pykka.ActorRef[Any]
    last_used: float
    line: SessionLine = field(default_factory=SessionLine)


class SessionPool:
    def __init__(self, start: StartFn, *, max_actors: int, idle: float,
                 clock: Clock = SYSTEM_CLOCK, desk: SessionDesk | None = None,
                 wake: WakeFn = _no_wake) -> None:
        self._start_actor = start
        #: Where a line's lone request is sent and answered from without a turn of its
        #: actor (the actors' own desk); None: every request takes the actor's turn.
        self._desk = desk
        self._clock = clock
        self._wake = wake
        self._max_actors = max_actors
        self._idle = idle
        self._live: dict[str, _Live] = {}
        self._owner: dict[int, str] = {}  # ticket -> wsess_uid
        #: No live actor was last used before this (a lower bound; inf: none live):
        #: `stop_idle` looks at the actors only once it is `idle` seconds old.
        self._oldest_use = math.inf
        self.actors_started = 0

    @property
    def live_actors(self) -> int:
        return len(self._live)

    def submit(self, wsess: str, submit: Submit) -> None:
        """Queue a request on its session's actor, starting one if needed.

        Raises:
            Unavailable: that session has too much queued, or every actor is busy.
        """
        live = self._live.get(wsess)
        if live is not None and not live.ref.is_alive():
            self._live.pop(wsess)  # failed: its in-flight callers were answered UNAVAILABLE
            live = None
        live = live or self._start(wsess)
        if len(live.line) >= MAX_QUEUED_PER_SESSION:
            raise Unavailable("too many requests queued for this session; retry later")
        live.last_used = self._clock.monotonic()
        line = live.line
        alone = line.idle and not line.ended
        line.queue.append(submit)
        self._owner[submit.ticket] = wsess
        if alone and self._desk is not None:
            # Nothing before it in its session: sent now, as the actor's turn would
            # (a tell and a turn less per request; the order is the line's still).
            line.send(wsess, self._desk)
            return
        live.ref.tell(Queued())

    def done(self, wsess: str, ticket: int, reply: dict[str, Any], ended: bool) -> None:
        """The client of `ticket` has its reply: the session may send its next request."""
        if self._owner.pop(ticket, None) is None:
            return  # answered already (expired, refused), or its actor is gone
        live = self._live.get(wsess)
        if live is None:
            return
        line = live.line
        if line.queue or self._desk is None:
            live.ref.tell(Done(ticket, reply, ended))  # its actor sends the next
            return
        # Nothing waits behind it: settled now, as the actor would.
        line.settle(wsess, ticket, reply, ended)
        if line.finished:
            self.retire(wsess, live.ref)

    def answered(self, ticket: int) -> None:
        """`ticket` was answered without a status (refused, or its actor failed); its
        actor has already taken it out of the line."""
        self._owner.pop(ticket, None)

    def expired(self, ticket: int) -> None:
        wsess = self._owner.pop(ticket, None)
        live = self._live.get(wsess) if wsess else None
        if live is not None:
            live.ref.tell(Expired(ticket))

    def retire(self, wsess: str, ref: pykka.ActorRef[Any]) -> None:
        live = self._live.get(wsess)
        # A request told to it meanwhile keeps it: it will retire again after.
        if live is not None and live.ref is ref and live.line.idle:
            self._stop(wsess)

    def stop_idle(self, now: float) -> float:
        """Stop the actors unused for `idle` seconds with nothing in flight; return
        when the next may be due (inf: none will be).

        The front door asks when that time comes, and at its other looks: only the
        first check runs then, until some actor may have been unused long enough."""
        if now < self._oldest_use + self._idle:
            return self._oldest_use + self._idle  # none is old enough yet
        idle, oldest, due = [], math.inf, math.inf
        for wsess, live in self._live.items():
            stop_at = live.last_used + self._idle
            if stop_at <= now and live.line.idle:
                idle.append(wsess)
                continue
            if live.last_used < oldest:
                oldest = live.last_used
            # One due but busy keeps `_oldest_use` old: it is looked at again at each
            # of the door's looks (a second apart at most), and stopped once idle.
            if now < stop_at < due:
                due = stop_at
        for wsess in idle:
            self._stop(wsess)
        self._oldest_use = oldest
        return due

    def stop_all(self) -> None:
        for wsess in list(self._live):
            self._stop(wsess)

    def _start(self, wsess: str) -> _Live:
        if len(self._live) >= self._max_actors:
            self._evict()
        line = SessionLine()
        live = _Live(self._start_actor(wsess, line), self._clock.monotonic(), line)
        if self._oldest_use == math.inf:  # the only way it moves sooner
            self._oldest_use = live.last_used
            self._wake(live.last_used + self._idle)
        self.actors_started += 1
        self._live[wsess] = live
        return live

    def _evict(self) -> None:
        """Stop the least recently used actor with nothing in flight."""
        idle = [(live.last_used, w) for w, live in self._live.items() if live.line.idle]
        if not idle:
            raise Unavailable("too many sessions busy at once; retry later")
        self._stop(min(idle)[1])

    def _stop(self, wsess: str) -> None:
        live = self._live.pop(wsess, None)
        if live is None:
            return
        for ticket in live.line.tickets():
            self._owner.pop(ticket, None)
        stop_soon(live.ref)
