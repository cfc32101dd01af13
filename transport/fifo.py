"""The seed's fifos as ZeroMQ PUSH/PULL sockets carrying msgpack maps.

A `FifoReader` is a thread that owns the PULL end(s): it binds, drains what
has arrived into a batch and hands the batch on (to an actor, with `tell`).
`Pushers` is the sending side, owned by whichever thread created it.
Sockets never cross threads (ZeroMQ Guide, ch. 2).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from .codec import DecodeError, decode, encode

__all__ = ["FIFO_HWM", "MAX_FIFO_BYTES", "Backpressure", "FifoReader", "Pushers"]

log = logging.getLogger(__name__)

#: Messages queued per fifo before senders are refused (turned into UNAVAILABLE).
FIFO_HWM = 10_000
#: Internal messages carry at most one checked request plus a little framing.
MAX_FIFO_BYTES = 256 * 1024
_POLL_MS = 100


#: ZeroMQ's own heartbeats on tcp fifos: a vanished peer is noticed within seconds.
HEARTBEAT_IVL_MS, HEARTBEAT_TIMEOUT_MS = 1000, 3000


def tcp_keepalive(sock: zmq.Socket[Any]) -> None:
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)


class Backpressure(Exception):
    """The fifo is full (or its reader gone): refuse the work rather than queue it."""


class Pushers:
    """PUSH sockets by endpoint, connected on first use. One thread only."""

    def __init__(self, ctx: zmq.Context[Any], hwm: int = FIFO_HWM) -> None:
        self._ctx = ctx
        self._hwm = hwm
        self._sockets: dict[str, zmq.Socket[Any]] = {}

    def send(self, endpoint: str, message: dict[str, Any]) -> None:
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
            sock.send(encode(message), zmq.NOBLOCK)
        except zmq.Again:
            raise Backpressure(f"{endpoint} is full") from None

    def close(self) -> None:
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()


class SocketThread(threading.Thread):
    """A thread that creates and binds its own sockets, reporting how that went.

    `run` calls `mark_bound()` or `mark_failed(exc)` once; `start_bound` returns then, or
    raises the bind error in the starting thread (e.g. "address already in use").
    """

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self._ready = threading.Event()
        self._error: Exception | None = None

    def start_bound(self, timeout: float = 5.0) -> None:
        self.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self.name} did not bind in {timeout}s")
        if self._error is not None:
            self.join()
            raise self._error

    def mark_bound(self) -> None:
        self._ready.set()

    def mark_failed(self, exc: Exception) -> None:
        self._error = exc
        self._ready.set()


class FifoReader(SocketThread):
    """Binds PULL sockets and delivers decoded batches until stopped.

    `deliver` runs in this thread and must not block (it should `tell`).
    """

    def __init__(self, ctx: zmq.Context[Any], endpoints: list[str],
                 deliver: Callable[[list[dict[str, Any]]], None], *, name: str,
                 tick: Callable[[], None] | None = None, tick_every: float = 1.0,
                 max_batch: int = 512, hwm: int = FIFO_HWM, max_outstanding: int = 1) -> None:
        super().__init__(name)
        self._ctx = ctx
        self._endpoints = endpoints
        self._deliver = deliver
        self._max_batch = max_batch
        self._hwm = hwm
        self._tick = tick
        self._tick_every = tick_every
        # Batches handed on but not yet processed. While the consumer is this far
        # behind we stop reading, the PULL queue fills to its HWM, and senders are
        # refused at once instead of memory growing without bound. One is best:
        # what arrives during a commit waits in the socket and becomes the next,
        # larger batch (group commit); 8 gave batches of 1.5 messages and 40% less
        # throughput (README, "Performance").
        self._max_outstanding = max_outstanding
        self._outstanding = threading.BoundedSemaphore(max_outstanding)
        self._stop_event = threading.Event()

    def reset_outstanding(self) -> None:
        """A new consumer starts: batches handed to its failed predecessor are gone."""
        self._outstanding = threading.BoundedSemaphore(self._max_outstanding)

    def done(self) -> None:
        """The consumer finished one delivered batch (any thread)."""
        with contextlib.suppress(ValueError):  # more done() than deliveries: harmless
            self._outstanding.release()

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()

    def run(self) -> None:
        poller = zmq.Poller()
        sockets: list[zmq.Socket[Any]] = []
        try:
            for endpoint in self._endpoints:
                sock = self._ctx.socket(zmq.PULL)
                sockets.append(sock)
                sock.setsockopt(zmq.RCVHWM, self._hwm)
                sock.setsockopt(zmq.MAXMSGSIZE, MAX_FIFO_BYTES)
                sock.setsockopt(zmq.LINGER, 0)
                if not endpoint.startswith("inproc://"):
                    tcp_keepalive(sock)
                _bind(sock, endpoint)
                poller.register(sock, zmq.POLLIN)
        except zmq.ZMQError as exc:
            for sock in sockets:
                sock.close()
            self.mark_failed(exc)
            return
        self.mark_bound()
        next_tick = time.monotonic() + self._tick_every
        try:
            while not self._stop_event.is_set():
                ready = poller.poll(_POLL_MS)
                if self._tick is not None and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self._tick_every
                    self._tick()
                if not ready:
                    continue
                if not self._outstanding.acquire(timeout=_POLL_MS / 1000):
                    continue  # consumer behind: leave messages queued in the socket
                batch: list[dict[str, Any]] = []
                for sock in sockets:
                    while len(batch) < self._max_batch:
                        # Not ZMQ_EVENTS: pyzmq wraps it in an enum Flag, which profiled
                        # at 10% of a purchase's CPU against 3% for one raised Again.
                        try:
                            data = sock.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        try:
                            message = decode(data, MAX_FIFO_BYTES)
                        except DecodeError as exc:
                            log.warning("%s: dropped undecodable message: %s", self.name, exc)
                            continue
                        if isinstance(message, dict):
                            batch.append(message)
                if batch:
                    self._deliver(batch)
                else:
                    self._outstanding.release()
        finally:
            for sock in sockets:
                sock.close()


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
