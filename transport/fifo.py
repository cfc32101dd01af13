"""The seed's fifos as ZeroMQ PUSH/PULL sockets carrying msgpack maps.

A `FifoInlet` is the PULL end(s), bound and drained by the event loop of the
actor that reads them; `Pushers` is the sending side, owned by whichever
thread created it. Sockets never cross threads (ZeroMQ Guide, ch. 2).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import zmq
import zmq.backend

from .codec import DecodeError, array_header, decode, encode
from .loop import EventLoop

__all__ = ["FIFO_HWM", "MAX_FIFO_BYTES", "Backpressure", "FifoInlet", "Pushers", "has_message",
           "recv_frame", "send_frame"]

log = logging.getLogger(__name__)

#: Messages queued per fifo before senders are refused (turned into UNAVAILABLE).
FIFO_HWM = 10_000
#: Internal messages carry at most one checked request plus a little framing.
MAX_FIFO_BYTES = 256 * 1024
#: `send_many` packs messages into one frame up to about this size.
BATCH_FRAME_BYTES = 64 * 1024


#: As a plain int: pyzmq's enum flag costs an `IntFlag` operation per send or receive.
_NOBLOCK = int(zmq.NOBLOCK)
_POLLIN = int(zmq.POLLIN)
#: pyzmq's compiled send and recv, called without `zmq.Socket`'s Python `send` wrapper
#: (DRAFT routing_id/group handling we never use) and the slot lookup of an attribute
#: of a class with `__getattr__`: about 2,500 instructions a send.
send_frame = zmq.backend.Socket.send
recv_frame = zmq.backend.Socket.recv


def has_message(sock: zmq.Socket[Any]) -> bool:
    """Is a message waiting on `sock`? Asked with a zero-timeout `zmq_poll` of the one
    socket, so a drain need not recv until Again (raising Again, ZMQError's Python
    __init__, costs about 8 times this check, and every drain would end so). Not
    `sock.get(zmq.EVENTS)`: pyzmq turns the option into its enum on every call,
    about 3 times this check's instructions (tools/instructions.py)."""
    return bool(zmq.zmq_poll([(sock, _POLLIN)], 0))

#: ZeroMQ's own heartbeats on tcp fifos: a vanished peer is noticed within seconds.
HEARTBEAT_IVL_MS, HEARTBEAT_TIMEOUT_MS = 1000, 3000


def tcp_keepalive(sock: zmq.Socket[Any]) -> None:
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)


class Backpressure(Exception):
    """The fifo is full (or its reader gone): refuse the work rather than queue it.

    `sent`: how many of the messages given to `Pushers.send_many` went before it."""

    def __init__(self, reason: str, sent: int = 0) -> None:
        super().__init__(reason)
        self.sent = sent


class Pushers:
    """PUSH sockets by endpoint, connected on first use. One thread only."""

    def __init__(self, ctx: zmq.Context[Any], hwm: int = FIFO_HWM) -> None:
        self._ctx = ctx
        self._hwm = hwm
        self._sockets: dict[str, zmq.Socket[Any]] = {}

    def send(self, endpoint: str, message: dict[str, Any]) -> None:
        self._send(endpoint, encode(message))

    def send_many(self, endpoint: str, messages: list[dict[str, Any]]) -> None:
        """Several messages to one fifo, as few frames as fit (a msgpack array of
        maps each, at most about `BATCH_FRAME_BYTES`): one ZeroMQ send and one
        wake-up of the reader for a whole batch, not one per message.

        Raises:
            Backpressure: the fifo is full; frames before the refused one went (its
                `sent` counts their messages).
        """
        if len(messages) > 1:
            # Usually the whole batch fits one frame: one pack call for all of it.
            whole = encode(messages)
            if len(whole) <= BATCH_FRAME_BYTES:
                self._send(endpoint, whole)  # refused: none went (`sent` 0)
                return
        frame: list[bytes] = []
        size = sent = 0
        try:
            for message in messages:
                data = encode(message)
                if frame and size + len(data) > BATCH_FRAME_BYTES:
                    self._send(endpoint, _frame(frame))
                    sent += len(frame)
                    frame, size = [], 0
                frame.append(data)
                size += len(data)
            if frame:
                self._send(endpoint, _frame(frame))
        except Backpressure as exc:
            raise Backpressure(str(exc), sent) from None

    def _send(self, endpoint: str, data: bytes) -> None:
        sock = self._sockets.get(endpoint)
        if sock is None:
            sock = self._ctx.socket(zmq.PUSH)
            sock.setsockopt(zmq.SNDHWM, self._hwm)
            sock.setsockopt(zmq.LINGER, 1000)
            if not endpoint.startswith("inproc://"):
                # Not ZMQ_IMMEDIATE: the first message of a fresh connection would be
                # refused. Work queued for a peer that is down is bounded by the HWM;
                # requests in it carry a deadline and are dropped stale on arrival.
                tcp_keepalive(sock)
            sock.connect(endpoint)
            self._sockets[endpoint] = sock
        try:
            send_frame(sock, data, _NOBLOCK)
        except zmq.Again:
            raise Backpressure(f"{endpoint} is full") from None

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()


class FifoInlet:
    """The PULL end(s) of fifos, owned by the `EventLoop` of the actor that reads them.

    Opened (bound) in the loop thread, and outliving any one actor instance, as
    the seed's FIFO files outlive their workers: a restarted actor attaches to
    the same sockets, so nothing re-binds and senders never notice. While no
    actor is attached, messages wait in the sockets (bounded by their HWM, past
    which senders are refused at once).
    """

    def __init__(self, endpoints: list[str], *, name: str, max_batch: int = 512,
                 hwm: int = FIFO_HWM) -> None:
        self.endpoints = endpoints
        self.name = name
        self._max_batch = max_batch
        self._hwm = hwm
        self._sockets: list[zmq.Socket[Any]] = []
        #: Messages dropped because they did not decode (`vending serve --metrics`).
        self.undecodable = 0

    def open(self, ctx: zmq.Context[Any]) -> None:
        """Create and bind the PULL sockets (in the owning loop's thread)."""
        for endpoint in self.endpoints:
            sock = ctx.socket(zmq.PULL)
            self._sockets.append(sock)
            sock.setsockopt(zmq.RCVHWM, self._hwm)
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_FIFO_BYTES)
            sock.setsockopt(zmq.LINGER, 0)
            if not endpoint.startswith("inproc://"):
                tcp_keepalive(sock)
            _bind(sock, endpoint)

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()

    def attach(self, loop: EventLoop, deliver: Callable[[list[dict[str, Any]]], None]) -> None:
        """Hand each batch drained from the sockets to `deliver`, in the loop thread."""
        def readable() -> None:
            batch = self.drain()
            if batch:
                deliver(batch)
        for sock in self._sockets:
            loop.add_reader(sock, readable)

    def detach(self, loop: EventLoop) -> None:
        for sock in self._sockets:
            loop.remove_reader(sock)

    def drain(self) -> list[dict[str, Any]]:
        """What has arrived, up to `max_batch` messages: one transaction's worth."""
        batch: list[dict[str, Any]] = []
        for sock in self._sockets:
            # Not a recv until Again (`has_message`): a drain ends every socket so, the
            # idle one of the gatekeeper's two fifos included.
            while len(batch) < self._max_batch and has_message(sock):
                try:
                    data = recv_frame(sock, _NOBLOCK)
                except zmq.Again:
                    break
                try:
                    message = decode(data, MAX_FIFO_BYTES)
                except DecodeError as exc:
                    self.undecodable += 1
                    log.warning("%s: dropped undecodable message: %s", self.name, exc)
                    continue
                if isinstance(message, dict):
                    batch.append(message)
                elif isinstance(message, list):  # `Pushers.send_many`'s frame
                    batch += [m for m in message if isinstance(m, dict)]
        return batch


def _frame(encoded: list[bytes]) -> bytes:
    """One message as itself; several as a msgpack array of them."""
    if len(encoded) == 1:
        return encoded[0]
    return array_header(len(encoded)) + b"".join(encoded)


def _bind(sock: zmq.Socket[Any], endpoint: str, patience: float = 2.0) -> None:
    """Bind, waiting briefly for a predecessor that just closed the endpoint."""
    deadline = time.monotonic() + patience
    while True:
        try:
            sock.bind(endpoint)
            return
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # the old socket is torn down by zmq's reaper thread
