"""In-memory fifos with ZeroMQ's guarantees, and no more.

A `Channel` is one connection (one sender's PUSH socket to one endpoint, or one
client's connection to the front door): messages on it arrive in the order
sent. Different channels interleave as the scheduler's RNG decides. A message is
lost only where ZeroMQ could lose it: queued on a connection that breaks (a
reconnect, a dead peer; `Channel.reconnect`) or in a process that dies
(`Network.crash`). Messages travel encoded (msgpack, `transport.codec`), so
what arrives is what the real wire would deliver (tuples become lists).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from transport.codec import decode, packer
from transport.fifo import MAX_FIFO_BYTES

from .loop import Lane, Scheduler, SimLoop

__all__ = ["Channel", "Network", "Receiver", "SimInlet", "SimPushers"]


class Receiver(Protocol):
    def arrive(self, endpoint: str, data: bytes) -> None: ...


class Channel(Lane):
    """One connection: in order, maybe held back (`hold_until`), maybe broken.

    A message is queued with its label for the trace: a fixed one (a client's
    request, a reply), or the message itself (a fifo's), named only when a traced
    step delivers it (`describe_message`; a housekeeping step's pieces have no
    line); `describe` names one sent with neither, from its bytes."""

    # One per client connection and one per reply: thousands a run.
    __slots__ = ("_deliver", "_describe", "_queue", "closed", "lost", "name", "once", "sent")

    def __init__(self, sched: Scheduler, name: str, deliver: Callable[[bytes], None],
                 describe: Callable[[bytes], str] | None = None) -> None:
        self._queue: deque[tuple[bytes, str | dict[str, Any]]] = deque()
        super().__init__(sched, self._queue)
        self.name = name
        self._deliver = deliver
        self._describe = describe
        self.hold_until = 0.0
        self.closed = False
        self.lost = 0
        #: It carries one message (a reply): once that left, it is done for good.
        self.once = False
        self.sent = 0

    def send(self, data: bytes, label: str | dict[str, Any] = "") -> None:
        if self.closed:
            self.lost += 1
            return
        self.sent += 1
        self._queue.append((data, label))
        if not self._ready and self.hold_until <= self.sched.clock.now:
            self._ready = True  # `wake`, inlined: once per message sent
            self.sched.ready.append(self)

    def run_one(self) -> str:
        data, label = self._queue.popleft()
        # A fixed label (a client's request, a reply: most steps) needs no `_label`.
        line = (f"{self.name} {label}" if label.__class__ is str and label
                else f"{self.name} {_label(data, label, self._describe)}")
        self._deliver(data)
        return line

    def run_untraced(self) -> None:
        self._deliver(self._queue.popleft()[0])

    def delay(self, seconds: float) -> None:
        """A slow link: nothing on it arrives for `seconds` (order kept)."""
        self.hold_until = self.sched.clock.now + seconds
        self.sched.call_at(self.hold_until, self._resume)

    def _resume(self) -> None:
        if self._queue and not self.closed:
            self.wake()

    def reconnect(self) -> int:
        """The connection broke and was made again: what was queued on it is gone."""
        lost = len(self._queue)
        self.lost += lost
        self._queue.clear()
        return lost

    def close(self) -> None:
        self.closed = True
        self.lost += len(self._queue)
        self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)

    def carries(self, kind: str) -> bool:
        """A message of `kind` is queued on it (tests stage faults with this)."""
        return any(_label(data, label, self._describe).startswith(kind)
                   for data, label in self._queue)


def _label(data: bytes, label: str | dict[str, Any],
           describe: Callable[[bytes], str] | None) -> str:
    if isinstance(label, dict):
        return describe_message(label)
    if not label:
        assert describe is not None, "a message with no label"
        return describe(data)
    return label


def describe_fifo(data: bytes) -> str:
    """What a fifo message is, for the trace (from its bytes)."""
    message = decode(data, MAX_FIFO_BYTES * 64)
    return describe_message(message) if isinstance(message, dict) else "?"


def describe_message(message: dict[str, Any]) -> str:
    """Its kind and, for requests, the op; a reply's outcome; the ticket."""
    kind = str(message.get("k", "?"))
    request = message.get("request") or message.get("req")
    if isinstance(request, dict) and "op" in request:
        kind += f":{request['op']}"
    reply = message.get("reply")
    if isinstance(reply, dict):
        kind += " ok" if reply.get("ok") else f" {reply.get('error')}"
    rt = message.get("rt")
    if isinstance(rt, dict) and "ticket" in rt:
        kind += f" #{rt['ticket']}"
    elif isinstance(rt, list) and len(rt) == 3:
        kind += f" #{rt[2]}"
    return kind


class Network:
    """Every endpoint's receiver and every open fifo connection, for one process
    incarnation; `crash` loses what is in flight."""

    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.receivers: dict[str, Receiver] = {}
        self.channels: list[Channel] = []
        self._compact_at = 256
        self.crashing = False  # the process is dying: nothing more leaves it
        #: Called with every message sent, before it is queued (the oracle's tap).
        self.tap: Callable[[str, dict[str, Any]], None] | None = None
        #: Called with the channel and the message once it is queued (an aimed
        #: fault waiting for a message; None while none waits).
        self.sent: Callable[[Channel, dict[str, Any]], None] | None = None

    def connect(self, owner: str, endpoint: str) -> Channel:
        receivers = self.receivers

        def deliver(data: bytes) -> None:
            receiver = receivers.get(endpoint)
            if receiver is not None:  # else nothing is bound there: lost, as with a dead peer
                receiver.arrive(endpoint, data)
        name = f"{owner}>{endpoint.removeprefix('inproc://')}"
        channel = Channel(self.sched, name, deliver, describe_fifo)
        self.channels.append(channel)
        return channel

    def add_channel(self, channel: Channel) -> None:
        """Keep `channel` (a crash closes it, a `net` fault may pick it). Now and then
        drop the one-message channels whose message left: nothing can reach them
        again, and a fault picks only among channels with something queued, in
        this list's order, which dropping them keeps."""
        channels = self.channels
        channels.append(channel)
        if len(channels) >= self._compact_at:
            channels[:] = [c for c in channels if not (c.once and c.sent and not c._queue)]
            self._compact_at = 2 * len(channels) + 256

    def crash(self) -> int:
        """The process died: every fifo message in flight is gone."""
        lost = 0
        for channel in self.channels:
            lost += len(channel)
            channel.close()
        self.channels.clear()
        return lost


class SimPushers:
    """Stands in for `transport.fifo.Pushers`: one channel per endpoint, like one
    PUSH socket per endpoint. `ctx` is ignored (there are no sockets)."""

    def __init__(self, network: Network, owner: str) -> None:
        self._network = network
        self._owner = owner
        self._channels: dict[str, Channel] = {}
        # The one thread's packer, bound once (`transport.codec.packer`): two calls
        # fewer a message than `encode`.
        self._encode = packer()

    def send(self, endpoint: str, message: dict[str, Any]) -> None:
        network = self._network
        if network.crashing:
            return
        channel = self._channels.get(endpoint)
        if channel is None:
            channel = self._channels[endpoint] = network.connect(self._owner, endpoint)
        if network.tap is not None:
            network.tap(endpoint, message)
        channel.send(self._encode(message), message)
        if network.sent is not None:
            network.sent(channel, message)

    def close(self) -> None:
        # LINGER: what was sent still arrives; the connections just take no more.
        self._channels.clear()


class SimInlet:
    """Stands in for `transport.fifo.FifoInlet`: the PULL ends a backend's loop
    owns. It outlives actor instances, as the real one does: messages wait in it
    while no actor is attached (a restart)."""

    def __init__(self, endpoints: list[str], *, name: str, max_batch: int = 512) -> None:
        self.endpoints = endpoints
        self.name = name
        self._max_batch = max_batch
        self._queues: dict[str, deque[bytes]] = {e: deque() for e in endpoints}
        #: Messages in `_queues`: whether one waits, without a look at each queue.
        self._queued = 0
        self._loop: SimLoop | None = None
        self._deliver: Callable[[list[dict[str, Any]]], None] | None = None
        self._scheduled = False
        self.sim_tag = f"inlet:{name}"
        #: The last batch drained (aimed faults look into it: `last_kinds`).
        self._last_batch: list[dict[str, Any]] = []

    def arrive(self, endpoint: str, data: bytes) -> None:
        self._queues[endpoint].append(data)
        self._queued += 1
        if self._loop is not None and not self._scheduled:  # `_schedule`, knowing one waits
            self._scheduled = True
            self._loop.call_soon(self.readable)

    def attach(self, loop: SimLoop, deliver: Callable[[list[dict[str, Any]]], None]) -> None:
        self._loop, self._deliver = loop, deliver
        self._schedule()

    def detach(self, loop: SimLoop) -> None:
        self._loop = self._deliver = None

    def _schedule(self) -> None:
        if self._queued and self._loop is not None and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.readable)

    def readable(self) -> None:
        """What the real loop's poller callback does: drain a batch, hand it over."""
        self._scheduled = False
        if self._deliver is None:
            return
        batch = self.drain()
        if batch:
            self._deliver(batch)
        self._schedule()

    def drain(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        taken = 0
        for queue in self._queues.values():
            while queue and len(batch) < self._max_batch:
                taken += 1
                message = decode(queue.popleft(), MAX_FIFO_BYTES)
                if isinstance(message, dict):
                    batch.append(message)
        self._queued -= taken
        self._last_batch = batch
        return batch

    def last_kinds(self) -> set[str]:
        """The kinds of message in the last batch drained."""
        return {str(m.get("k")) for m in self._last_batch}

    def clear(self) -> None:
        for queue in self._queues.values():
            queue.clear()
        self._queued = 0
