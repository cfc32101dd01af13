"""actors/dispatch.py: a loop turn's requests to one fifo leave as one frame, and
those a full fifo refuses are answered UNAVAILABLE (no thread: the door is a fake)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actor_harness import CONFIG

from actors.dispatch import Dispatch
from actors.wire import Alive, from_wire
from transport.fifo import Backpressure
from vending.requests import parse_request


class Door:
    """Stands in for the front door and its loop: callbacks run when the test says."""

    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []
        self.replies: dict[int, dict[str, Any]] = {}
        self.loop = self

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)

    def reply(self, ticket: int, reply: dict[str, Any]) -> None:
        self.replies[ticket] = reply

    def run_soon(self) -> None:
        soon, self.soon = self.soon, []
        for callback in soon:
            callback()


class Push:
    """Stands in for `Pushers`: keeps each call; refuses after `room` messages."""

    def __init__(self, room: int = 1000) -> None:
        self.calls: list[tuple[str, list[dict[str, Any]]]] = []
        self.room = room

    def send(self, endpoint: str, message: dict[str, Any]) -> None:
        self.send_many(endpoint, [message])

    def send_many(self, endpoint: str, messages: list[dict[str, Any]]) -> None:
        went = messages[:self.room]
        self.calls.append((endpoint, went))
        self.room -= len(went)
        if len(went) < len(messages):
            raise Backpressure(f"{endpoint} is full", len(went))


def dispatch(push: Push) -> tuple[Dispatch, Door]:
    d, door = Dispatch(None, CONFIG), Door()  # type: ignore[arg-type]
    d._door, d._push = door, push  # type: ignore[assignment]
    for role in ("gatekeeper", "stock-handler"):
        d.liveness.heard(Alive(role))
    return d, door


def products(d: Dispatch, ticket: int) -> None:
    d.on_request(ticket, parse_request({"op": "products"}), "10.0.0.1")


def test_a_turns_requests_to_one_fifo_leave_in_one_call() -> None:
    push = Push()
    d, door = dispatch(push)
    for ticket in (1, 2, 3):
        products(d, ticket)
    assert push.calls == [] and len(door.soon) == 1  # nothing yet: one flush queued
    door.run_soon()
    [(endpoint, sent)] = push.calls
    assert endpoint == CONFIG.endpoints.post
    assert [from_wire(m).rt.ticket for m in sent] == [1, 2, 3]  # in order
    products(d, 4)
    door.run_soon()
    assert len(push.calls) == 2 and door.replies == {}


def test_what_a_full_fifo_refuses_is_answered_unavailable() -> None:
    push = Push(room=1)
    d, door = dispatch(push)
    for ticket in (1, 2, 3):
        products(d, ticket)
    door.run_soon()
    assert [from_wire(m).rt.ticket for m in push.calls[0][1]] == [1]
    assert sorted(door.replies) == [2, 3]
    assert {r["error"] for r in door.replies.values()} == {"UNAVAILABLE"}
    # Named as a refusal sent at once names it, whatever the endpoint (tcp included).
    assert {r["message"] for r in door.replies.values()} == {"post.fifo is full; retry later"}
    assert d.fifo_refused == 2
