"""The real front door (`transport.frontdoor.FrontDoor`) on a simulated loop.

Everything the front door decides runs as written: checking a request's frame,
`ping`, the per-client and total in-flight bounds, tickets, deadlines and their
expiry, the dispatcher (`actors.dispatch.Dispatch`: sessions, routing,
liveness). Only its two sockets are replaced: client frames come from the
simulator's client connections, statuses from the status channel, and a reply
goes back down the connection its envelope names.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, cast

import zmq

from transport.codec import decode, encode
from transport.fifo import MAX_FIFO_BYTES
from transport.frontdoor import Dispatcher, FrontDoor
from transport.loop import EventLoop

from .clock import SimClock
from .loop import SimLoop

__all__ = ["Frame", "SimFrontDoor"]


class Frame:
    """A received ZeroMQ frame, as much of `zmq.Frame` as the front door reads."""

    __slots__ = ("bytes", "peer")

    def __init__(self, data: bytes, peer: str | None = None) -> None:
        self.bytes = data
        self.peer = peer

    def get(self, prop: str) -> str:
        if prop != "Peer-Address" or self.peer is None:
            raise zmq.ZMQError(zmq.EINVAL)
        return self.peer


class SimFrontDoor(FrontDoor):
    """`FrontDoor` with the simulator's loop, channels and clients for its sockets."""

    sim_tag = "front-door"

    def __init__(self, loop: SimLoop, status_endpoint: str, dispatcher: Dispatcher,
                 send_reply: Callable[[bytes, bytes], bool], *, request_timeout: float,
                 clock: SimClock) -> None:
        super().__init__(cast(EventLoop, loop), None, [], status_endpoint,  # type: ignore[arg-type]
                         dispatcher, request_timeout=request_timeout, clock=clock)
        self.sim_loop = loop
        self._send_reply = send_reply
        self._statuses: deque[bytes] = deque()
        self._status_scheduled = False
        self.last_tick = 0.0

    def _look(self) -> None:
        #: When the front door last looked for expired requests (the oracle's
        #: "answered or timed out" is measured from it). It looks when something is
        #: due: at each pending deadline, and at each heartbeat ask, so at least
        #: every HEARTBEAT_EVERY while it serves; a clock jump is noticed at the
        #: next look, as in the real loop (the timers it passed fire at once).
        self.last_tick = self.clock.monotonic()  # the simulated clock
        super()._look()

    def start_simulated(self) -> None:
        """What `open` does, less binding sockets (the front door's loop)."""
        self._serve()

    def stop_simulated(self) -> None:
        """What `close` does, less closing sockets: answer what is pending, stop sessions."""
        self.close()

    # -- the ROUTER socket: client connections --------------------------------
    def client_frames(self, identity: bytes, body: bytes, peer: str | None) -> None:
        """A client's request frame arrived (front door's loop)."""
        frames: list[Any] = [Frame(identity), Frame(b""), Frame(body, peer)]
        self._on_frames(frames)

    def _send(self, envelope: list[bytes], req_id: str | None, reply: dict[str, Any]) -> None:
        if req_id is not None:
            reply = {**reply, "req_id": req_id}
        if self._send_reply(envelope[0], encode(reply)):
            self.stats.replied += 1
        else:
            self.stats.dropped_replies += 1  # the client's connection is gone

    # -- the status PULL socket ---------------------------------------------------
    def arrive(self, endpoint: str, data: bytes) -> None:
        self._statuses.append(data)
        if not self._status_scheduled:
            self._status_scheduled = True
            self.loop.call_soon(self.drain_statuses)

    def drain_statuses(self) -> None:
        self._status_scheduled = False
        for _ in range(1024):
            if not self._statuses:
                return
            message = decode(self._statuses.popleft(), MAX_FIFO_BYTES * 64)
            if isinstance(message, dict):
                self._dispatcher.on_status(message)
        if self._statuses:
            self._status_scheduled = True
            self.loop.call_soon(self.drain_statuses)
