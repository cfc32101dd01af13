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

from .messages import Done, Expired, Submit
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


class SessionActor(LoopActor):
    def __init__(self, loop: EventLoop, wsess_uid: str, desk: SessionDesk) -> None:
        super().__init__(loop)
        self.wsess_uid = wsess_uid
        self._desk = desk
        self._queue: deque[Submit] = deque()
        self._busy: Submit | None = None  # the request in flight
        self._ended = False

    def on_failure(self, *exc_info: Any) -> None:
        refusal = Unavailable("session failed").to_reply()
        for submit in ([self._busy] if self._busy is not None else []) + list(self._queue):
            self._desk.reply(submit.ticket, refusal)
        self._desk.retire(self.wsess_uid, self.actor_ref)

    def on_receive(self, message: Any) -> None:
        if isinstance(message, Submit):
            self._queue.append(message)
        elif isinstance(message, Done):
            if self._busy is not None and self._busy.ticket == message.ticket:
                self._learn(self._busy.request.op, message)
                self._busy = None
            # else: a status for a request the front door already gave up on
        elif isinstance(message, Expired):
            if self._busy is not None and self._busy.ticket == message.ticket:
                self._busy = None
            else:
                self._queue = deque(s for s in self._queue if s.ticket != message.ticket)
        self._pump()

    def _pump(self) -> None:
        while self._busy is None and self._queue:
            submit = self._queue.popleft()
            try:
                self._desk.forward(self.wsess_uid, submit)
            except Unavailable as exc:
                self._desk.reply(submit.ticket, exc.to_reply())
                continue
            self._busy = submit
        if self._busy is None and not self._queue and self._ended:
            self._desk.retire(self.wsess_uid, self.actor_ref)

    def _learn(self, op: str, done: Done) -> None:
        reply = done.reply
        if done.ended or reply.get("error") == "UNAUTHORIZED":
            self._ended = True  # no live session behind this actor (ended, or never was)
        elif TABLE[op].opens_session and reply.get("wsess_uid") != self.wsess_uid:
            # A failed login, or a replayed one naming its first session: this
            # provisional actor has no session to serve.
            self._ended = True
