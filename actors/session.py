"""The seed's user.worker (wsess): one actor per session, keeping its requests in order.

Session actors run on the front door's event loop (`actors/runtime.py`), so a
request reaching its session and the session sending it down a fifo cost no
thread hop. The actor sends one request at a time down the fifo of the actor
that owns its state; the front door answers the client straight from the
status that comes back, and tells the session (`Done`) so it sends the next.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Protocol

import pykka

from transport.loop import EventLoop
from vending.errors import Unavailable
from vending.ops import TABLE

from .messages import Done, Expired, Queued, Submit
from .runtime import LoopActor

log = logging.getLogger(__name__)


class SessionDesk(Protocol):
    """What a session actor needs from the front door (the same thread)."""

    def forward(self, wsess_uid: str, submit: Submit) -> None:
        """Send the request down its fifo. Raises `Unavailable` when it is full."""

    def reply(self, ticket: int, reply: dict[str, Any]) -> None:
        """Answer the client of `ticket` (a no-op if it was answered already)."""

    def retire(self, wsess_uid: str, ref: pykka.ActorRef[Any]) -> None:
        """The actor has no live session behind it and nothing in flight."""


class SessionLine:
    """One session's requests, in order: the one in flight and those waiting.

    The only copy of a session's in-flight state. The pool (actors/session_pool.py)
    creates it, admits requests into it and reads it (bounds, idleness); the session
    actor sends them one at a time and settles them. Both run on the front-door
    thread, so neither ever sees it half changed. A line with nothing in flight or
    waiting needs no turn of its actor to send or settle its one request: the pool
    then does it (`send`, `settle`) at once, as the actor would.
    """

    __slots__ = ("busy", "ended", "queue")

    def __init__(self) -> None:
        self.queue: deque[Submit] = deque()
        self.busy: Submit | None = None  # the request in flight
        self.ended = False  # no live session behind it (ended, or never was)

    def __len__(self) -> int:
        return len(self.queue) + (self.busy is not None)

    @property
    def idle(self) -> bool:
        return self.busy is None and not self.queue

    @property
    def finished(self) -> bool:
        """Nothing in flight or waiting, and no session behind it: its actor retires."""
        return self.ended and self.idle

    def tickets(self) -> list[int]:
        return ([self.busy.ticket] if self.busy is not None else []) + [
            s.ticket for s in self.queue]

    def send(self, wsess_uid: str, desk: SessionDesk) -> None:
        """Send the requests waiting, one at a time: the next only once the one in
        flight has settled (a refused one is answered at once, and the next goes)."""
        while self.busy is None and self.queue:
            submit = self.queue.popleft()
            try:
                desk.forward(wsess_uid, submit)
            except Unavailable as exc:
                desk.reply(submit.ticket, exc.to_reply())
                continue
            self.busy = submit

    def settle(self, wsess_uid: str, ticket: int, reply: dict[str, Any], ended: bool) -> None:
        """The status of `ticket` came back: the line is free for its next request
        (unless `ticket` is not the one in flight: one the front door gave up on)."""
        busy = self.busy
        if busy is None or busy.ticket != ticket:
            return
        if ended or reply.get("error") == "UNAUTHORIZED":
            self.ended = True  # no live session behind this actor (ended, or never was)
        elif TABLE[busy.request.op].opens_session and reply.get("wsess_uid") != wsess_uid:
            # A failed login, or a replayed one naming its first session: this
            # provisional actor has no session to serve.
            self.ended = True
        self.busy = None


class SessionActor(LoopActor):
    def __init__(self, loop: EventLoop, wsess_uid: str, desk: SessionDesk,
                 line: SessionLine | None = None) -> None:
        super().__init__(loop)
        self.wsess_uid = wsess_uid
        self._desk = desk
        self.line = line if line is not None else SessionLine()

    def on_failure(self, *exc_info: Any) -> None:
        refusal = Unavailable("session failed").to_reply()
        for ticket in self.line.tickets():
            self._desk.reply(ticket, refusal)
        self.line.queue.clear()
        self.line.busy = None
        self._desk.retire(self.wsess_uid, self.actor_ref)

    def on_receive(self, message: Any) -> None:
        line = self.line
        if isinstance(message, Queued):
            pass  # admitted into the line by the pool: send it when its turn comes
        elif isinstance(message, Done):
            line.settle(self.wsess_uid, message.ticket, message.reply, message.ended)
        elif isinstance(message, Expired):
            if line.busy is not None and line.busy.ticket == message.ticket:
                line.busy = None
            else:
                line.queue = deque(s for s in line.queue if s.ticket != message.ticket)
        self._pump()

    def _pump(self) -> None:
        line = self.line
        line.send(self.wsess_uid, self._desk)
        if line.finished:
            self._desk.retire(self.wsess_uid, self.actor_ref)
