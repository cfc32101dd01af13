"""The session actor's rules, driven with no thread: one request at a time, in
order; a refused send answers its client; an ended session retires its actor."""

from __future__ import annotations

from typing import Any

import pytest

from actors.messages import Done, Expired, Queued, Submit
from actors.session import SessionActor
from transport.loop import EventLoop
from vending.errors import Unavailable
from vending.requests import parse_request

CRED = {"wsess_uid": "s_ann", "token": "t"}


class Desk:
    """Stands in for the front door: records what the actor forwards, answers, retires."""

    def __init__(self) -> None:
        self.forwarded: list[int] = []
        self.replies: list[tuple[int, str | None]] = []
        self.retired = 0
        self.full = False

    def forward(self, wsess_uid: str, submit: Submit) -> None:
        assert wsess_uid == "s_ann"
        if self.full:
            raise Unavailable("deposit.fifo is full; retry later")
        self.forwarded.append(submit.ticket)

    def reply(self, ticket: int, reply: dict[str, Any]) -> None:
        self.replies.append((ticket, reply.get("error")))

    def retire(self, wsess_uid: str, ref: Any) -> None:
        self.retired += 1


@pytest.fixture
def desk() -> Desk:
    return Desk()


@pytest.fixture
def actor(desk: Desk) -> SessionActor:
    return SessionActor(EventLoop("unstarted"), "s_ann", desk)  # never started: no thread


def admit(actor: SessionActor, request: Submit) -> None:
    """What the session pool does: put the request in the session's line, tell the actor."""
    actor.line.queue.append(request)
    actor.on_receive(Queued())


def submit(ticket: int, op: str = "deposit") -> Submit:
    fields = {"amount": 5} if op == "deposit" else {}
    return Submit(ticket, parse_request({"op": op, **CRED, **fields}), None, 0.0)


def test_one_request_in_flight_the_next_after_its_status(actor: SessionActor,
                                                         desk: Desk) -> None:
    for ticket in (1, 2, 3):
        admit(actor, submit(ticket))
    assert desk.forwarded == [1]
    actor.on_receive(Done(2, {"ok": True}, False))  # not the one in flight: ignored
    assert desk.forwarded == [1]
    actor.on_receive(Done(1, {"ok": True, "deposit": 5}, False))
    assert desk.forwarded == [1, 2]
    actor.on_receive(Expired(3))                     # given up while queued: never sent
    actor.on_receive(Done(2, {"ok": True}, False))
    assert desk.forwarded == [1, 2]
    assert desk.retired == 0


def test_expiry_of_the_request_in_flight_frees_the_session(actor: SessionActor,
                                                           desk: Desk) -> None:
    admit(actor, submit(1))
    admit(actor, submit(2))
    actor.on_receive(Expired(1))
    assert desk.forwarded == [1, 2]


def test_a_full_fifo_answers_unavailable_and_goes_on(actor: SessionActor, desk: Desk) -> None:
    desk.full = True
    admit(actor, submit(1))
    desk.full = False
    admit(actor, submit(2))
    assert desk.replies == [(1, "UNAVAILABLE")]
    assert desk.forwarded == [2]


@pytest.mark.parametrize("reply, ended", [
    ({"ok": True, "ended": 1}, True),                                  # logout
    ({"ok": False, "error": "UNAUTHORIZED", "message": "no"}, False),  # never was
])
def test_an_ended_session_retires_its_actor_once_idle(actor: SessionActor, desk: Desk,
                                                      reply: dict[str, Any],
                                                      ended: bool) -> None:
    admit(actor, submit(1, "logout"))
    admit(actor, submit(2, "profile"))
    actor.on_receive(Done(1, reply, ended))
    assert desk.retired == 0                  # request 2 still to answer
    actor.on_receive(Done(2, {"ok": False, "error": "UNAUTHORIZED", "message": "x"}, False))
    assert desk.retired == 1


def test_a_failed_login_retires_the_provisional_actor(actor: SessionActor, desk: Desk) -> None:
    login = Submit(1, parse_request({"op": "auth", "token": "buyer", "username": "ann",
                                     "password": "correct horse"}), None, 0.0)
    admit(actor, login)
    actor.on_receive(Done(1, {"ok": False, "error": "INVALID_CREDENTIALS", "message": "x"},
                          False))
    assert desk.retired == 1


def test_a_failing_actor_answers_everything_it_holds(actor: SessionActor, desk: Desk) -> None:
    for ticket in (1, 2):
        admit(actor, submit(ticket))
    actor.on_failure(RuntimeError, RuntimeError("boom"), None)
    assert sorted(desk.replies) == [(1, "UNAVAILABLE"), (2, "UNAVAILABLE")]
    assert desk.retired == 1 and actor.line.idle
