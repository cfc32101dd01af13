"""The seed's user.worker (wsess): one actor per session, keeping its requests in order.

It sends each request down the fifo of the actor that owns the state, waits
(without blocking its thread) for the status to come back, answers the client,
and only then sends the next one.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka
import zmq

from transport.fifo import Backpressure, Pushers
from vending.errors import Unavailable

from .config import Endpoints
from .messages import Expired, StatusIn, Submit
from .wire import FIFO_FOR_OP, request_message

log = logging.getLogger(__name__)

ReplyFn = Callable[[str, int, dict[str, Any]], None]
RetireFn = Callable[[str, pykka.ActorRef[Any]], None]


@dataclass
class _InFlight:
    ticket: int
    seq: int
    op: str


class SessionActor(pykka.ThreadingActor):
    def __init__(self, wsess_uid: str, ctx: zmq.Context[Any], endpoints: Endpoints,
                 reply: ReplyFn, retire: RetireFn) -> None:
        super().__init__()
        self.wsess_uid = wsess_uid
        self._ctx = ctx
        self._endpoints = endpoints
        self._reply = reply
        self._retire = retire
        self._queue: deque[Submit] = deque()
        self._busy: _InFlight | None = None
        self._seq = 0
        self._ended = False
        self._push: Pushers | None = None

    def on_start(self) -> None:
        # Created here, in the actor's own thread, which alone will use them.
        self._push = Pushers(self._ctx)

    def on_stop(self) -> None:
        self._close()

    def on_failure(self, *exc_info: Any) -> None:
        self._close()
        if self._busy is not None:
            self._reply(self.wsess_uid, self._busy.ticket, Unavailable("session failed").to_reply())
        for sub in self._queue:
            self._reply(self.wsess_uid, sub.ticket, Unavailable("session failed").to_reply())
        self._retire(self.wsess_uid, self.actor_ref)

    def _close(self) -> None:
        if self._push is not None:
            self._push.close()
            self._push = None

    def on_receive(self, message: Any) -> None:
        if isinstance(message, Submit):
            self._queue.append(message)
        elif isinstance(message, StatusIn):
            if self._busy is not None and self._busy.seq == message.seq:
                self._finish(message.message)
            # else: a status for a request the front door already gave up on
        elif isinstance(message, Expired):
            if self._busy is not None and self._busy.ticket == message.ticket:
                self._busy = None
            else:
                self._queue = deque(s for s in self._queue if s.ticket != message.ticket)
        self._pump()

    def _pump(self) -> None:
        assert self._push is not None
        while self._busy is None and self._queue:
            sub = self._queue.popleft()
            self._seq += 1
            fifo = FIFO_FOR_OP[sub.request.op]
            rt = [self._endpoints.status, self.wsess_uid, self._seq]
            try:
                self._push.send(getattr(self._endpoints, fifo),
                                request_message(sub.request.op, rt, sub.request, sub.peer,
                                                sub.deadline))
            except Backpressure:
                self._reply(self.wsess_uid, sub.ticket,
                            Unavailable(f"{fifo}.fifo is full; retry later").to_reply())
                continue
            self._busy = _InFlight(sub.ticket, self._seq, sub.request.op)
        if self._busy is None and not self._queue and self._ended:
            self._retire(self.wsess_uid, self.actor_ref)

    def _finish(self, status: dict[str, Any]) -> None:
        assert self._busy is not None
        busy, self._busy = self._busy, None
        reply = status.get("reply")
        if not isinstance(reply, dict):
            reply = Unavailable("malformed status").to_reply()
        self._reply(self.wsess_uid, busy.ticket, reply)
        if status.get("ended") or reply.get("error") == "UNAUTHORIZED":
            self._ended = True  # no live session behind this actor (ended, or never was)
        elif busy.op == "auth" and reply.get("wsess_uid") != self.wsess_uid:
            # A failed login, or a replayed one naming its first session: this
            # provisional actor has no session to serve.
            self._ended = True
