"""SessionPool and its session actors share one `SessionLine` per session: the pool
admits into it and reads it, the actor sends and settles; there is no second copy to
keep in agreement. Driven with no thread: a ref that hands messages straight over."""

from __future__ import annotations

import math
from typing import Any

import pytest
from clocks import HandClock
from pykka.messages import _ActorStop
from test_session_actor import CRED
from test_session_actor import Desk as ActorDesk

from actors.messages import Submit
from actors.session import SessionActor, SessionLine
from actors.session_pool import MAX_QUEUED_PER_SESSION, SessionPool
from transport.loop import EventLoop
from vending.errors import Unavailable
from vending.requests import parse_request


class Desk:
    """The front door's side: forwards everything, records replies."""

    def __init__(self) -> None:
        self.replies: list[int] = []

    def forward(self, wsess_uid: str, submit: Submit) -> None:
        pass

    def reply(self, ticket: int, reply: dict[str, Any]) -> None:
        self.replies.append(ticket)

    def retire(self, wsess_uid: str, ref: Any) -> None:
        pass


class DirectRef:
    """An ActorRef stand-in: `tell` runs the actor's handler at once (a stop, as the
    pool tells it: `actors.runtime.stop_soon`, stops it)."""

    def __init__(self, actor: SessionActor) -> None:
        self.actor = actor
        self.alive = True

    def tell(self, message: Any) -> None:
        if isinstance(message, _ActorStop):
            self.alive = False
            return
        self.actor.on_receive(message)

    def is_alive(self) -> bool:
        return self.alive


@pytest.fixture
def started() -> list[DirectRef]:
    return []


@pytest.fixture
def pool(started: list[DirectRef]) -> SessionPool:
    desk = Desk()

    def start(wsess: str, line: SessionLine) -> Any:
        ref = DirectRef(SessionActor(EventLoop("unstarted"), wsess, desk, line))
        started.append(ref)
        return ref
    return SessionPool(start, max_actors=2, idle=60.0)


def deposit(ticket: int) -> Submit:
    return Submit(ticket, parse_request({"op": "deposit", "amount": 5, **CRED}), None, 0.0)


def test_the_pool_reads_the_actors_own_line(pool: SessionPool,
                                            started: list[DirectRef]) -> None:
    for ticket in (1, 2, 3):
        pool.submit("s_ann", deposit(ticket))
    line = started[0].actor.line
    assert line.busy is not None and line.busy.ticket == 1 and len(line) == 3
    pool.done("s_ann", 1, {"ok": True, "deposit": 5}, False)
    assert line.tickets() == [2, 3]
    pool.expired(3)
    assert line.tickets() == [2]
    pool.done("s_ann", 2, {"ok": True, "deposit": 10}, False)
    assert line.idle
    pool.stop_idle(now=10**9)
    assert pool.live_actors == 0 and not started[0].alive


def test_a_session_with_too_much_queued_is_refused(pool: SessionPool) -> None:
    for ticket in range(MAX_QUEUED_PER_SESSION):
        pool.submit("s_ann", deposit(ticket))
    with pytest.raises(Unavailable):
        pool.submit("s_ann", deposit(MAX_QUEUED_PER_SESSION))


def test_only_an_idle_actor_is_evicted(pool: SessionPool, started: list[DirectRef]) -> None:
    pool.submit("s_a", deposit(1))
    pool.submit("s_b", deposit(2))          # both busy, two actors: the bound
    with pytest.raises(Unavailable):
        pool.submit("s_c", deposit(3))
    pool.done("s_a", 1, {"ok": True}, False)
    pool.submit("s_c", deposit(4))          # s_a's actor was idle: it made room
    assert [ref.alive for ref in started] == [False, True, True]


class TellingRef(DirectRef):
    """A `DirectRef` that also counts what it was told (a tell is a turn of the actor)."""

    def __init__(self, actor: SessionActor) -> None:
        super().__init__(actor)
        self.told: list[str] = []

    def tell(self, message: Any) -> None:
        if not isinstance(message, _ActorStop):  # its stop is counted by `alive`
            self.told.append(type(message).__name__)
        super().tell(message)


class PoolDesk(ActorDesk):
    """The actors' desk as the front door's is: a retired actor leaves the pool."""

    def __init__(self) -> None:
        super().__init__()
        self.pool: SessionPool | None = None

    def retire(self, wsess_uid: str, ref: Any) -> None:
        super().retire(wsess_uid, ref)
        assert self.pool is not None
        self.pool.retire(wsess_uid, ref)


@pytest.fixture
def desk() -> PoolDesk:
    return PoolDesk()


@pytest.fixture
def quick(desk: PoolDesk) -> tuple[SessionPool, list[TellingRef]]:
    """A pool given the actors' desk, as the front door's (actors/dispatch.py) is."""
    refs: list[TellingRef] = []

    def start(wsess: str, line: SessionLine) -> Any:
        ref = TellingRef(SessionActor(EventLoop("unstarted"), wsess, desk, line))
        refs.append(ref)
        return ref
    pool = desk.pool = SessionPool(start, max_actors=2, idle=60.0, desk=desk)
    return pool, refs


def test_a_lone_request_is_sent_and_settled_without_a_turn_of_its_actor(
        quick: tuple[SessionPool, list[TellingRef]], desk: PoolDesk) -> None:
    pool, refs = quick
    pool.submit("s_ann", deposit(1))
    assert desk.forwarded == [1] and refs[0].told == []
    pool.done("s_ann", 1, {"ok": True, "deposit": 5}, False)
    assert refs[0].actor.line.idle and refs[0].told == []
    pool.submit("s_ann", deposit(2))
    assert desk.forwarded == [1, 2] and refs[0].told == []


def test_a_request_behind_another_waits_for_the_actor(
        quick: tuple[SessionPool, list[TellingRef]], desk: PoolDesk) -> None:
    pool, refs = quick
    pool.submit("s_ann", deposit(1))
    pool.submit("s_ann", deposit(2))
    assert desk.forwarded == [1] and refs[0].told == ["Queued"]
    pool.done("s_ann", 1, {"ok": True, "deposit": 5}, False)
    assert desk.forwarded == [1, 2] and refs[0].told == ["Queued", "Done"]
    pool.done("s_ann", 2, {"ok": True, "deposit": 10}, False)
    assert refs[0].actor.line.idle and refs[0].told == ["Queued", "Done"]


def test_a_lone_request_refused_by_a_full_fifo_is_answered_at_once(
        quick: tuple[SessionPool, list[TellingRef]], desk: PoolDesk) -> None:
    pool, refs = quick
    desk.full = True
    pool.submit("s_ann", deposit(1))
    assert desk.forwarded == [] and desk.replies == [(1, "UNAVAILABLE")]
    assert refs[0].actor.line.idle


def test_a_session_that_ended_retires_its_actor_at_once(
        quick: tuple[SessionPool, list[TellingRef]]) -> None:
    pool, refs = quick
    pool.submit("s_ann", deposit(1))
    pool.done("s_ann", 1, {"ok": False, "error": "UNAUTHORIZED", "message": "x"}, False)
    assert not refs[0].alive and pool.live_actors == 0 and refs[0].told == []


def test_stop_idle_says_when_the_next_actor_is_due_and_stops_each_at_its_time(
        started: list[DirectRef]) -> None:
    """The front door asks `stop_idle` when the pool said the next actor is due, or
    told it so (`wake`), and at its other looks (a heartbeat ask a second); each actor
    must be stopped at its time: one started late, one used again, one busy past its
    time and idle later, one after the pool was empty."""
    clock = HandClock(1000.25)  # off the heartbeats' whole seconds
    desk = Desk()

    def start(wsess: str, line: SessionLine) -> Any:
        ref = DirectRef(SessionActor(EventLoop("unstarted"), wsess, desk, line))
        started.append(ref)
        return ref
    wakes: list[float] = []
    due = [math.inf]

    def wake(when: float) -> None:
        wakes.append(when)
        due[0] = min(due[0], when)
    pool = SessionPool(start, max_actors=8, idle=60.0, clock=clock, wake=wake)

    def look_until(until: float) -> list[bool]:
        """The front door's looks up to `until`: when the pool said, and each second."""
        while (at := min(due[0], math.floor(clock.now) + 1.0)) <= until:
            clock.now = at
            due[0] = pool.stop_idle(at)
        clock.now = until
        return [ref.alive for ref in started]

    pool.submit("s_a", deposit(1))
    pool.done("s_a", 1, {"ok": True}, False)
    assert wakes == [1060.25]  # the first actor of an empty pool: the door is told
    assert look_until(1030.25) == [True]
    pool.submit("s_b", deposit(2))                   # started at 1030.25
    pool.done("s_b", 2, {"ok": True}, False)
    pool.submit("s_c", deposit(3))                   # busy from 1030.25
    assert look_until(1050.25) == [True, True, True]
    pool.submit("s_a", deposit(4))                   # used again at 1050.25
    pool.done("s_a", 4, {"ok": True}, False)
    assert look_until(1090.2) == [True, True, True]
    assert look_until(1090.25) == [True, False, True]  # s_b: unused for 60 s, at once
    assert look_until(1100.0) == [True, False, True]   # s_c: 60 s, but busy
    pool.done("s_c", 3, {"ok": True}, False)
    assert look_until(1101.0) == [True, False, False]  # at the next look, once idle
    assert look_until(1110.2) == [True, False, False]
    assert look_until(1110.25) == [False, False, False]
    assert pool.live_actors == 0 and due[0] == math.inf
    clock.now = 1120.5
    pool.submit("s_d", deposit(5))                   # the pool empty, then one again
    pool.done("s_d", 5, {"ok": True}, False)
    assert wakes == [1060.25, 1180.5]
    assert look_until(1180.4)[-1] and not look_until(1180.5)[-1]
