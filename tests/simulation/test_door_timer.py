"""The real front door on a simulated loop and clock (simulation/door.py): it looks
when something is due, so a request past its deadline is answered at its deadline,
not at the next tenth of a second, and an idle door wakes only for what its
dispatcher has due (a heartbeat ask a second)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from simulation.clock import SimClock
from simulation.door import SimFrontDoor
from simulation.loop import STEP_COST, Scheduler, SimLoop
from transport.codec import decode, encode
from transport.frontdoor import FrontDoor
from vending.requests import Request


class _Silent:
    """A dispatcher that never answers, and has a heartbeat ask due each second."""

    def __init__(self) -> None:
        self.looks: list[float] = []
        self.expired: list[int] = []

    def on_start(self, door: FrontDoor) -> None:
        pass

    def on_request(self, ticket: int, request: Request, peer: str | None) -> None:
        pass

    def on_status(self, message: dict[str, Any]) -> None:
        pass

    def on_expired(self, ticket: int) -> None:
        self.expired.append(ticket)

    def on_tick(self, now: float) -> float:
        self.looks.append(now)
        return now + 1.0

    def on_stop(self) -> None:
        pass


def _door(timeout: float = 2.0
          ) -> tuple[SimClock, Scheduler, SimFrontDoor, _Silent, list[tuple[float, Any]]]:
    clock = SimClock()
    sched = Scheduler(clock, random.Random(0))
    dispatcher = _Silent()
    replies: list[tuple[float, Any]] = []

    def send_reply(identity: bytes, data: bytes) -> bool:
        replies.append((clock.now, decode(data)))
        return True
    door = SimFrontDoor(SimLoop(sched, "front-door"), "inproc://status", dispatcher, send_reply,
                        request_timeout=timeout, clock=clock)
    door.start_simulated()
    return clock, sched, door, dispatcher, replies


def _run_until(sched: Scheduler, clock: SimClock, until: float) -> None:
    while clock.now < until:
        if sched.step() is None:
            break


@pytest.mark.parametrize("timeout", [2.0, 0.3], ids=["after-the-next-look", "before-it"])
def test_a_request_past_its_deadline_is_answered_at_its_deadline(timeout: float) -> None:
    """Due after the door's next look (a heartbeat ask), or before it: then the
    request re-arms the door's timer sooner."""
    clock, sched, door, dispatcher, replies = _door(timeout)
    _run_until(sched, clock, 0.0123)  # off any tick's grid
    arrived = clock.now
    door.loop.call_soon(lambda: door.client_frames(
        b"ann", encode({"op": "products", "req_id": "r1"}), None))
    _run_until(sched, clock, arrived + timeout + 0.5)
    assert [r["req_id"] for _, r in replies] == ["r1"] and dispatcher.expired == [1]
    answered, reply = replies[0]
    assert reply["error"] == "UNAVAILABLE"
    deadline = arrived + timeout
    # The request came in a step after `arrived`; its answer goes a step or two after
    # its deadline (a step is STEP_COST of simulated time), not up to 0.1 s late.
    assert deadline <= answered <= deadline + 5 * STEP_COST, (answered, deadline)


def test_an_idle_door_looks_only_when_its_dispatcher_has_something_due() -> None:
    clock, sched, door, dispatcher, _ = _door()
    _run_until(sched, clock, 60.0)
    assert len(dispatcher.looks) == 61  # at 0, then each second: not ten times as many
    assert door.last_tick == dispatcher.looks[-1]  # the oracle's "when it last looked"
