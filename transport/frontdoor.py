"""The front door: a ZeroMQ ROUTER serving REQ and DEALER clients.

The front door is a part on an `EventLoop` (the process's one loop, or its own:
docs/design.md, "Threads and what they own"): it opens there the ROUTER and the
status PULL (statuses coming back from the gatekeeper and stock handler), and
what it is given runs there too (the session actors). It never blocks
on a client: sends are non-blocking and a reply to a vanished or stalled
client is dropped and counted. Every request gets a deadline; one that passes
is answered `UNAVAILABLE` here.

It knows nothing of actors: what to do with a checked request is the
`Dispatcher`'s business, called in this thread.
"""

from __future__ import annotations

import errno
import heapq
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import zmq

from vending.call import Call
from vending.errors import BadRequest, Unavailable, VendingError
from vending.limits import MAX_REQUEST_BYTES, REQ_ID_MAX
from vending.ops import TABLE
from vending.requests import Request, parse_request
from vending.sources import SYSTEM_CLOCK, Clock

from .codec import DecodeError, decode, decode_map, encode, packer
from .fifo import MAX_FIFO_BYTES, has_message, recv_frame, send_frame
from .loop import EventLoop, Timer

__all__ = ["MAX_FRAME_BYTES", "Dispatcher", "FrontDoor", "FrontDoorStats", "Observer"]

log = logging.getLogger(__name__)

#: Frames over this are dropped by ZeroMQ itself (ZMQ_MAXMSGSIZE), per docs/protocol.md §2.
MAX_FRAME_BYTES = 1024 * 1024

#: Told of every answer: (op, code, seconds since the request came in), code
#: "OK" for a success; op "invalid" for a request that did not parse. Called in
#: the front door's loop, so it must be quick (`vending serve --metrics`).
Observer = Callable[[str, str, float], None]


#: ZeroMQ flags as plain ints: pyzmq's enum flags cost an `IntFlag` operation per use.
_NOBLOCK = int(zmq.NOBLOCK)
_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)


def _recv_frames(sock: zmq.Socket[Any]) -> list[zmq.Frame]:
    """One whole message's frames, like `recv_multipart(NOBLOCK, copy=False)` (which
    measured 2-2.5x this: enum flags and a socket option read per frame).

    Raises:
        zmq.Again: no message is waiting (a message's later parts are always there
            once its first is: ZeroMQ delivers messages whole).
    """
    frame = recv_frame(sock, _NOBLOCK, False)
    frames = [frame]
    while frame.more:
        frame = recv_frame(sock, _NOBLOCK, False)
        frames.append(frame)
    return frames


class Dispatcher(Protocol):
    """What the front door calls, always in its own thread."""

    def on_start(self, door: FrontDoor) -> None: ...
    def on_request(self, ticket: int, request: Request, peer: str | None) -> None: ...
    def on_status(self, message: dict[str, Any]) -> None: ...
    def on_expired(self, ticket: int) -> None: ...

    def on_tick(self, now: float) -> float:
        """Run what is due at `now`; return when something is next due (the door's
        clock; inf: nothing). Something sooner coming up later: `FrontDoor.wake_by`."""
        ...

    def on_stop(self) -> None: ...


@dataclass
class FrontDoorStats:
    received: int = 0
    replied: int = 0
    bad_requests: int = 0
    timed_out: int = 0
    dropped_replies: int = 0
    malformed_frames: int = 0
    refused: int = 0


@dataclass
class _Pending:
    envelope: list[bytes]
    req_id: str | None
    deadline: float
    op: str
    started: float


class FrontDoor:
    """Opened on a running `EventLoop` (`start`), closed the same way (`stop`)."""

    def __init__(self, loop: EventLoop, ctx: zmq.Context[Any], binds: list[str],
                 status_endpoint: str, dispatcher: Dispatcher, *,
                 request_timeout: float = 10.0,
                 hwm: int = 10_000, max_pending: int = 20_000,
                 max_pending_per_client: int = 64,
                 curve_keypair: tuple[bytes, bytes] | None = None,
                 observe: Observer | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        #: The loop the door, its dispatcher and the session actors run on.
        self.loop = loop
        #: What requests' deadlines and ages are read on (the loop's timers keep
        #: the real clock: they wait on real sockets).
        self.clock = clock
        self._observe = observe
        self._ctx = ctx
        self._binds = binds
        self.status_endpoint = status_endpoint
        self._dispatcher = dispatcher
        self.request_timeout = request_timeout
        self._hwm = hwm
        self._curve = curve_keypair
        self._max_pending = max_pending
        self._max_per_client = max_pending_per_client
        self._per_client: dict[bytes, int] = {}
        self.stats = FrontDoorStats()
        #: Each part as the `health` op reports it (vending/health.py), set by the
        #: dispatcher from its liveness heartbeats; none known without one.
        self.part_views: Callable[[], Mapping[str, Any]] = dict
        self._pending: dict[int, _Pending] = {}
        self._deadlines: list[tuple[float, int]] = []
        self._next_ticket = 0
        self._draining = False
        self._drain_until = 0.0
        #: Set (in the loop thread) once a drain is over: nothing pending, or its time is up.
        self._drained = threading.Event()
        self._router: zmq.Socket[Any] | None = None
        self._status: zmq.Socket[Any] | None = None
        #: The one timer: armed for `_armed`, when the door next looks (`_look`).
        self._timer: Timer | None = None
        self._armed = math.inf
        #: `encode` for the loop thread (set by `open`, which runs there).
        self._encode: Callable[[Any], bytes] = encode
        self.opened = False
        self.bound: list[str] = []

    # -- any thread ------------------------------------------------------
    def start(self) -> FrontDoor:
        """Open on the loop (bind); a bind error is raised here."""
        self.loop.call_and_wait(self.open)
        return self

    def stop(self, drain: float = 2.0) -> None:
        """Refuse new requests, wait up to `drain` seconds for in-flight ones, then
        answer the rest UNAVAILABLE and close. A door never opened has nothing to do."""
        if not self.opened:
            return
        self.loop.call_and_wait(lambda: self._begin_drain(drain))
        self._drained.wait(drain + 1.0)  # + a second: the loop notices the time is up
        self.loop.call_and_wait(self.close)

    @property
    def in_flight(self) -> int:
        """Requests received and not answered yet (any thread: a snapshot)."""
        return len(self._pending)

    # -- front door's loop -------------------------------------------------
    def reply(self, ticket: int, reply: dict[str, Any]) -> None:
        pending = self._pending.pop(ticket, None)
        if pending is None:
            return  # answered already (timed out)
        identity = pending.envelope[0]
        left = self._per_client.get(identity, 1) - 1
        if left > 0:
            self._per_client[identity] = left
        else:
            self._per_client.pop(identity, None)
        # Counted before it is sent: a client that reads the metrics after its reply
        # finds its request there.
        if self._observe is not None:
            self._observed(pending.op, reply, pending.started)
        self._send(pending.envelope, pending.req_id, reply)
        if self._draining:
            self._check_drained()

    def _observed(self, op: str, reply: dict[str, Any], started: float) -> None:
        assert self._observe is not None
        code = "OK" if reply.get("ok") else str(reply.get("error"))
        self._observe(op, code, self.clock.monotonic() - started)

    def _answer_now(self, envelope: list[bytes], req_id: str | None, reply: dict[str, Any],
                    op: str, started: float) -> None:
        """Answer a request that never became pending (refused, ping, unparsable)."""
        if self._observe is not None:
            self._observed(op, reply, started)  # before the send, as in `reply`
        self._send(envelope, req_id, reply)

    def _send(self, envelope: list[bytes], req_id: str | None, reply: dict[str, Any]) -> None:
        if req_id is not None:
            reply = {**reply, "req_id": req_id}
        router = self._router
        assert router is not None
        try:
            # Frame by frame, as `send_multipart` does, with plain int flags: its
            # per-part checks and enum flag arithmetic cost 3-4x the sends (9 against
            # 2.4 us a reply). A ROUTER takes or refuses a message at its first part.
            for part in envelope:
                send_frame(router, part, _MORE)
            send_frame(router, self._encode(reply), _NOBLOCK)
            self.stats.replied += 1
        except zmq.Again:
            self.stats.dropped_replies += 1  # client not reading: never block for it
        except zmq.ZMQError as exc:
            if exc.errno != errno.EHOSTUNREACH:
                raise
            self.stats.dropped_replies += 1  # client gone

    def _begin_drain(self, drain: float) -> None:
        self._draining = True
        self._drain_until = self.clock.monotonic() + drain
        self._check_drained()
        self.wake_by(self._drain_until)

    def _check_drained(self) -> None:
        if not self._pending or self.clock.monotonic() >= self._drain_until:
            self._drained.set()

    def open(self) -> None:
        """Create and bind the sockets, start the dispatcher (loop thread)."""
        self._encode = packer()
        router = self._router = self._ctx.socket(zmq.ROUTER)
        status = self._status = self._ctx.socket(zmq.PULL)
        try:
            router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            router.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
            router.setsockopt(zmq.SNDHWM, self._hwm)
            router.setsockopt(zmq.RCVHWM, self._hwm)
            router.setsockopt(zmq.LINGER, 500)
            if self._curve is not None:
                # CurveZMQ: clients must know our public key; traffic is encrypted.
                router.curve_server = True
                router.curve_publickey, router.curve_secretkey = self._curve
            status.setsockopt(zmq.MAXMSGSIZE, MAX_FIFO_BYTES * 64)
            status.setsockopt(zmq.LINGER, 0)
            for endpoint in self._binds:
                router.bind(endpoint)
                self.bound.append(router.getsockopt(zmq.LAST_ENDPOINT).decode())
            status.bind(self.status_endpoint)
        except BaseException:
            self._close_sockets()
            raise
        self.loop.add_reader(status, lambda: self._drain_status(status))
        self.loop.add_reader(router, lambda: self._drain_clients(router))
        self._serve()

    def _serve(self) -> None:
        """Start the dispatcher and take the first look (which arms the timer)."""
        self._dispatcher.on_start(self)
        self._look()
        self.opened = True

    def close(self) -> None:
        """Answer what is pending UNAVAILABLE, stop the dispatcher, close (loop thread)."""
        if not self.opened:
            return
        self.opened = False
        for ticket in list(self._pending):
            self.reply(ticket, Unavailable("server is shutting down").to_reply())
        self._dispatcher.on_stop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._armed = None, math.inf
        for sock in (self._router, self._status):
            if sock is not None:
                self.loop.remove_reader(sock)
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in (self._router, self._status):
            if sock is not None:
                sock.close()  # LINGER set above: 500 ms for replies, 0 for statuses

    # -- the door's one timer: it looks when something is due, never on a grid ------
    def _look(self) -> None:
        """Answer what is past its deadline, let the dispatcher run what it has due
        (heartbeat asks, idle session actors to stop), see whether a drain is over;
        then arm the timer for the next of these (`_due`). The timer's callback."""
        self._timer, self._armed = None, math.inf
        now = self.clock.monotonic()
        if self._deadlines and self._deadlines[0][0] <= now:
            self._expire(now)
        due = self._dispatcher.on_tick(now)
        if self._draining:
            self._check_drained()
        self.wake_by(self._due(due))

    def _due(self, dispatcher_due: float) -> float:
        """When the door must look next: the one place that knows. The earliest
        pending deadline, what the dispatcher has next, the end of a drain."""
        deadlines, pending = self._deadlines, self._pending
        while deadlines and deadlines[0][1] not in pending:
            heapq.heappop(deadlines)  # answered: nothing to expire
        due = dispatcher_due
        if deadlines and deadlines[0][0] < due:
            due = deadlines[0][0]
        if self._draining and not self._drained.is_set() and self._drain_until < due:
            due = self._drain_until
        return due

    def wake_by(self, when: float) -> None:
        """Look by `when` (the door's clock), unless the timer is armed sooner
        already: what comes up between two looks and is due before the next (loop
        thread). The loop's timer waits on its own clock, so it is armed for how
        long until `when`, not for `when`."""
        if when >= self._armed:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed = when
        self._timer = self.loop.call_later(when - self.clock.monotonic(), self._look)

    def _drain_status(self, status: zmq.Socket[Any]) -> None:
        for _ in range(1024):
            if not has_message(status):
                return
            try:
                data = recv_frame(status, _NOBLOCK)
            except zmq.Again:
                return
            try:
                message = decode(data, MAX_FIFO_BYTES * 64)
            except DecodeError as exc:
                log.warning("dropped undecodable status: %s", exc)
                continue
            if isinstance(message, dict):
                self._dispatcher.on_status(message)
            elif isinstance(message, list):  # a backend's batch (`Pushers.send_many`)
                for item in message:
                    if isinstance(item, dict):
                        self._dispatcher.on_status(item)

    def _drain_clients(self, router: zmq.Socket[Any]) -> None:
        # Bounded per wake-up so statuses and replies interleave with a flood.
        for _ in range(256):
            if not has_message(router):
                return
            try:
                frames = _recv_frames(router)
            except zmq.Again:
                return
            self._on_frames(frames)

    def _on_frames(self, frames: list[zmq.Frame]) -> None:
        self.stats.received += 1
        started = self.clock.monotonic()
        parts = [f.bytes for f in frames]
        try:
            split = parts.index(b"", 1)
        except ValueError:
            self.stats.malformed_frames += 1  # no delimiter: nothing we could reply to
            return
        envelope, body = parts[: split + 1], parts[split + 1:]
        message: Any = None
        try:
            if len(body) != 1:
                raise BadRequest("a request is exactly one frame")
            if len(body[0]) > MAX_REQUEST_BYTES:
                raise BadRequest(f"request frame is over {MAX_REQUEST_BYTES} bytes")
            try:
                message = decode_map(body[0])
            except DecodeError as exc:
                raise BadRequest(str(exc)) from None
            request = parse_request(message)
        except VendingError as exc:
            self.stats.bad_requests += 1
            req_id = message.get("req_id") if isinstance(message, dict) else None
            valid = isinstance(req_id, str) and 0 < len(req_id) <= REQ_ID_MAX
            self._answer_now(envelope, req_id if valid else None, exc.to_reply(), "invalid",
                             started)
            return
        if self._draining:
            self._answer_now(envelope, request.req_id,
                             Unavailable("server is shutting down").to_reply(), request.op,
                             started)
            return
        row = TABLE[request.op]
        if row.owner == "frontdoor":
            self._answer_now(envelope, request.req_id, row.rule(self, Call(request)).reply,
                             request.op, started)
            return
        identity = envelope[0]
        if (len(self._pending) >= self._max_pending
                or self._per_client.get(identity, 0) >= self._max_per_client):
            # One connection pipelining without bound cannot take the door from others.
            self.stats.refused += 1
            self._answer_now(envelope, request.req_id,
                             Unavailable("too many requests in flight; retry later").to_reply(),
                             request.op, started)
            return
        self._per_client[identity] = self._per_client.get(identity, 0) + 1
        ticket = self._next_ticket = self._next_ticket + 1
        deadline = started + self.request_timeout
        self._pending[ticket] = _Pending(envelope, request.req_id, deadline, request.op, started)
        heapq.heappush(self._deadlines, (deadline, ticket))
        if deadline < self._armed:  # `wake_by`'s test, inlined: once per request
            self.wake_by(deadline)
        try:
            address = frames[-1].get("Peer-Address")
        except zmq.ZMQError:
            address = None  # inproc has no address
        peer = address if isinstance(address, str) else None
        try:
            self._dispatcher.on_request(ticket, request, peer)
        except VendingError as exc:
            self.reply(ticket, exc.to_reply())

    def _expire(self, now: float) -> None:
        while self._deadlines and self._deadlines[0][0] <= now:
            _, ticket = heapq.heappop(self._deadlines)
            if ticket in self._pending:
                self.stats.timed_out += 1
                self.reply(ticket, Unavailable("the request was not answered in time; "
                                               "retrying with the same req_id is safe").to_reply())
                self._dispatcher.on_expired(ticket)
