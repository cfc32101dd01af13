"""What the front door does with a checked request, and with a status coming back.

Runs in the front door's loop, together with the session actors it starts
(`actors/runtime.py`), so routing a request to its session and the session
sending it down a fifo cost no thread hop. Ops that neither need nor open a
session (their row in vending/ops.py says) go straight to their owner (for
`events`, the role its `source` names), with the client's address, which the
owner's read queue is fair over. A status is answered to the
client at once; the session actor is then told, so it sends its next request.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import pykka
import zmq

from transport.events import EventForwarder
from transport.fifo import Backpressure
from transport.frontdoor import FrontDoor
from vending.errors import Unavailable
from vending.ops import TABLE, route
from vending.requests import Request

from .config import Config
from .env import REAL, BatchOutbox, Env, Outbox
from .liveness import Liveness
from .messages import Submit
from .session import SessionActor, SessionLine
from .session_pool import SessionPool
from .wire import (
    FIFO_FOR_OP,
    Alive,
    BadMessage,
    ClientRequest,
    ReturnTicket,
    Status,
    from_wire,
)

log = logging.getLogger(__name__)

class Dispatch:
    """The front door's `Dispatcher`, and the `SessionDesk` of its session actors."""

    def __init__(self, ctx: zmq.Context[Any], config: Config,
                 forwarder: EventForwarder | None = None, env: Env = REAL) -> None:
        self._ctx = ctx
        #: The clock, session uids and fifos used here (actors/env.py).
        self.env = env
        self._clock = env.clock
        #: Run on the front door's thread: the embedded events endpoint(s).
        self.forwarder = forwarder
        self._config = config
        self._ends = config.endpoints
        self._door: FrontDoor | None = None
        self._push: Outbox | None = None
        self.liveness = Liveness(config.endpoints, env.clock)
        #: Requests refused because their fifo was full (`vending serve --metrics`).
        self.fifo_refused = 0
        #: Requests sent this loop turn, by fifo ("auth", ...), until `_flush`.
        self._waiting: dict[str, list[ClientRequest]] = {}
        self.sessions = SessionPool(self._start_session, max_actors=config.max_session_actors,
                                    idle=config.session_actor_idle, clock=env.clock, desk=self,
                                    wake=self._wake_by)

    def _start_session(self, wsess: str, line: SessionLine) -> pykka.ActorRef[Any]:
        assert self._door is not None
        return SessionActor.start(self._door.loop, wsess, self, line)

    # -- Dispatcher -----------------------------------------------------------
    def on_start(self, door: FrontDoor) -> None:
        self._door = door
        door.part_views = self.liveness.views  # what the `health` op reports
        self._push = self.env.pushers(self._ctx)  # this thread only: ours and the sessions'
        if self.forwarder is not None:
            self.forwarder.open(self._ctx, door.loop)  # embedded: both sources, one endpoint
        # The first heartbeat asks go at the door's first look (`on_tick`), next.

    def on_request(self, ticket: int, request: Request, peer: str | None) -> None:
        fifo, roles = route(request.op, request.args)
        self.liveness.require(roles)
        deadline = self._clock.time() + self._config.request_timeout
        row = TABLE[request.op]
        if not (row.session or row.opens_session):
            # No session to keep in order: straight to the owner's fifo.
            rt = ReturnTicket(self._ends.status, "", ticket)
            assert fifo is not None  # routed by the table
            # With its address: the owner's read queue is fair per address.
            self._send(fifo, ClientRequest(rt, request, peer, deadline))
            return
        wsess = self.env.credentials.new_wsess_uid() if row.opens_session else request.wsess_uid
        self.sessions.submit(wsess, Submit(ticket, request, peer, deadline))

    def on_status(self, message: dict[str, Any]) -> None:
        try:
            status = from_wire(message)
        except BadMessage as exc:
            log.warning("dropped a status: %s", exc)
            return
        if isinstance(status, Alive):
            self.liveness.heard(status)
        elif isinstance(status, Status):
            assert self._door is not None
            self._door.reply(status.rt.ticket, status.reply)
            if status.rt.wsess:
                self.sessions.done(status.rt.wsess, status.rt.ticket, status.reply, status.ended)
        else:
            log.warning("dropped a %s on the status fifo", type(status).__name__)

    def on_expired(self, ticket: int) -> None:
        self.sessions.expired(ticket)

    def on_tick(self, now: float) -> float:
        assert self._push is not None
        return min(self.liveness.tick(self._push, now), self.sessions.stop_idle(now))

    def _wake_by(self, when: float) -> None:
        assert self._door is not None
        self._door.wake_by(when)

    def on_stop(self) -> None:
        self.sessions.stop_all()
        if self._push is not None:
            self._push.close()
        if self.forwarder is not None and self._door is not None:
            self.forwarder.close(self._door.loop)

    # -- SessionDesk ------------------------------------------------------------
    def forward(self, wsess_uid: str, submit: Submit) -> None:
        rt = ReturnTicket(self._ends.status, wsess_uid, submit.ticket)
        self._send(FIFO_FOR_OP[submit.request.op],
                   ClientRequest(rt, submit.request, submit.peer, submit.deadline))

    def reply(self, ticket: int, reply: dict[str, Any]) -> None:
        assert self._door is not None
        self.sessions.answered(ticket)
        self._door.reply(ticket, reply)

    def retire(self, wsess_uid: str, ref: pykka.ActorRef[Any]) -> None:
        self.sessions.retire(wsess_uid, ref)

    def _send(self, fifo: str, message: ClientRequest) -> None:
        """Send `message` down `fifo`: at the end of this loop turn, with the other
        requests of the turn to that fifo, in one frame (`_flush`), so its reader wakes
        and decodes once per turn, not once per request. Pushers that cannot batch
        (the simulation's) send at once, as before.

        Raises:
            Unavailable: sent at once, and the fifo is full.
        """
        assert self._push is not None and self._door is not None
        if not hasattr(self._push, "send_many"):
            try:
                self._push.send(getattr(self._ends, fifo), message.to_wire())
            except Backpressure:
                self.fifo_refused += 1
                raise _full(fifo) from None
            return
        if not self._waiting:
            self._door.loop.call_soon(self._flush)
        self._waiting.setdefault(fifo, []).append(message)

    def _flush(self) -> None:
        """Send the requests `_send` kept this turn; refuse those a full fifo refused
        (UNAVAILABLE, and their session actor sends its next)."""
        assert self._push is not None and self._door is not None
        push = cast(BatchOutbox, self._push)  # `_send` keeps requests only for one that batches
        waiting, self._waiting = self._waiting, {}
        for fifo, messages in waiting.items():
            try:
                push.send_many(getattr(self._ends, fifo), [m.to_wire() for m in messages])
            except Backpressure as exc:
                refused = messages[exc.sent:]
                self.fifo_refused += len(refused)
                for message in refused:
                    ticket = message.rt.ticket
                    self.sessions.expired(ticket)
                    self.reply(ticket, _full(fifo).to_reply())


def _full(fifo: str) -> Unavailable:
    """A request refused because `fifo` is full, sent at once or in a turn's frame."""
    return Unavailable(f"{fifo}.fifo is full; retry later")
