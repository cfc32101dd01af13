"""Routes checked requests from the front door to session actors.

Runs in the front-door thread (it is the front door's `Dispatcher`). It keeps
the live session actors, starts one on a session's first request, stops idle
ones (their sessions stay valid: the next request starts a fresh actor from
what the gatekeeper has stored), and bounds how many live at once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pykka
import zmq

from transport.fifo import Backpressure, Pushers
from transport.frontdoor import FrontDoor
from vending.credentials import new_wsess_uid
from vending.errors import Unavailable
from vending.requests import Request

from .config import Config
from .messages import Expired, StatusIn, Submit
from .session import SessionActor
from .wire import ROLES_FOR_OP, request_message

log = logging.getLogger(__name__)

#: Requests one session may have waiting; its actor's mailbox stays bounded.
MAX_QUEUED_PER_SESSION = 64
#: Heartbeats to the gatekeeper and stock handler every HEARTBEAT_EVERY seconds;
#: one silent for HEARTBEAT_LIVENESS is taken as gone (and back at its next answer).
HEARTBEAT_EVERY, HEARTBEAT_LIVENESS = 0.5, 3.0


@dataclass
class _Live:
    ref: pykka.ActorRef[Any]
    last_used: float
    tickets: set[int] = field(default_factory=set)


class SessionRouter:
    def __init__(self, ctx: zmq.Context[Any], config: Config) -> None:
        self._ctx = ctx
        self._config = config
        self._live: dict[str, _Live] = {}
        self._ticket_owner: dict[int, str] = {}
        self._door: FrontDoor | None = None
        self._push: Pushers | None = None
        self.actors_started = 0
        self._heard: dict[str, float] = {}
        self._next_heartbeat = 0.0

    # -- Dispatcher, all in the front-door thread ---------------------------
    def on_start(self, door: FrontDoor) -> None:
        self._door = door
        self._push = Pushers(self._ctx)
        now = time.monotonic()
        self._heard = dict.fromkeys(("gatekeeper", "stock-handler"), now)
        self._next_heartbeat = now
        self._heartbeat()

    # -- liveness of the other roles ---------------------------------------------
    def _heartbeat(self) -> None:
        """Ask each role to answer on our status fifo (Paranoid-Pirate style)."""
        assert self._push is not None
        ends = self._config.endpoints
        for endpoint in (ends.auth, ends.post):
            with contextlib.suppress(Backpressure):  # a role that is down: its silence says so
                self._push.send(endpoint, {"k": "hb", "back": ends.status})

    def _alive(self, role: str, now: float) -> bool:
        return now - self._heard[role] <= HEARTBEAT_LIVENESS


    def on_request(self, ticket: int, request: Request, peer: str | None) -> None:
        assert self._push is not None
        for role in ROLES_FOR_OP[request.op]:
            if not self._alive(role, time.monotonic()):
                raise Unavailable(f"the {role} is not answering; retry later")
        deadline = time.time() + self._config.request_timeout
        if request.op in ("products", "product"):
            rt = [self._config.endpoints.status, "", ticket]
            try:
                self._push.send(self._config.endpoints.post,
                                request_message(request.op, rt, request, deadline=deadline))
            except Backpressure:
                raise Unavailable("post.fifo is full or the stock handler is gone") from None
            return
        wsess = new_wsess_uid() if request.op == "auth" else request.wsess_uid
        live = self._live.get(wsess)
        if live is not None and not live.ref.is_alive():
            self._live.pop(wsess)  # failed: its in-flight callers were answered UNAVAILABLE
            live = None
        live = live or self._start(wsess)
        if len(live.tickets) >= MAX_QUEUED_PER_SESSION:
            raise Unavailable("too many requests queued for this session; retry later")
        live.last_used = time.monotonic()
        live.tickets.add(ticket)
        self._ticket_owner[ticket] = wsess
        live.ref.tell(Submit(ticket, request, peer, deadline))

    def on_status(self, message: dict[str, Any]) -> None:
        if message.get("k") == "hb":
            role = message.get("role")
            if isinstance(role, str) and role in self._heard:
                self._heard[role] = time.monotonic()
            return
        rt = message.get("rt")
        if not (isinstance(rt, list) and len(rt) == 3 and isinstance(rt[2], int)):
            log.warning("dropped status without a valid return ticket")
            return
        if rt[1] == "":
            reply = message.get("reply")
            if isinstance(reply, dict) and self._door is not None:
                self._door.reply(rt[2], reply)
            return
        live = self._live.get(rt[1])
        if live is not None:
            live.ref.tell(StatusIn(rt[2], message))

    def on_expired(self, ticket: int) -> None:
        wsess = self._ticket_owner.pop(ticket, None)
        live = self._live.get(wsess) if wsess else None
        if live is not None:
            live.tickets.discard(ticket)
            live.ref.tell(Expired(ticket))

    def on_tick(self, now: float) -> None:
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_EVERY
            self._heartbeat()
        idle = [w for w, live in self._live.items()
                if not live.tickets and now - live.last_used > self._config.session_actor_idle]
        for wsess in idle:
            self._stop(wsess)

    def on_stop(self) -> None:
        for wsess in list(self._live):
            self._stop(wsess)
        if self._push is not None:
            self._push.close()

    # -- called from session actors' threads --------------------------------
    def session_reply(self, wsess: str, ticket: int, reply: dict[str, Any]) -> None:
        assert self._door is not None
        door = self._door

        def deliver() -> None:
            live = self._live.get(wsess)
            if live is not None:
                live.tickets.discard(ticket)
            self._ticket_owner.pop(ticket, None)
            door.reply(ticket, reply)
        door.call_soon(deliver)

    def retire(self, wsess: str, ref: pykka.ActorRef[Any]) -> None:
        assert self._door is not None

        def drop() -> None:
            live = self._live.get(wsess)
            # A request told to it meanwhile keeps it: it will retire again after.
            if live is not None and live.ref is ref and not live.tickets:
                self._stop(wsess)
        self._door.call_soon(drop)

    # -- helpers --------------------------------------------------------------
    def _start(self, wsess: str) -> _Live:
        if len(self._live) >= self._config.max_session_actors:
            self._evict()
        ref = SessionActor.start(wsess, self._ctx, self._config.endpoints,
                                 self.session_reply, self.retire)
        self.actors_started += 1
        live = _Live(ref, time.monotonic())
        self._live[wsess] = live
        return live

    def _evict(self) -> None:
        """Stop the least recently used actor with nothing in flight."""
        idle = [(live.last_used, w) for w, live in self._live.items() if not live.tickets]
        if not idle:
            raise Unavailable("too many sessions busy at once; retry later")
        self._stop(min(idle)[1])

    def _stop(self, wsess: str) -> None:
        live = self._live.pop(wsess, None)
        if live is None:
            return
        for ticket in live.tickets:
            self._ticket_owner.pop(ticket, None)
        live.ref.stop(block=False)

    @property
    def live_actors(self) -> int:
        return len(self._live)
