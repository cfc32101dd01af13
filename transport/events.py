"""Live events over ZeroMQ PUB/SUB (docs/protocol.md §6a), with gap recovery.

Each event is two frames: the topic (ASCII), then a msgpack map with `source`,
`seq`, `at` and the topic's fields.

- `EventPublisher`: one source's PUB socket, owned by the loop of the actor
  that commits the events (it publishes after COMMIT).
- `EventForwarder`: embedded, both sources' PUBs connect to one XSUB and
  subscribers to one XPUB (`inproc://events`, and `--events` if given), run on
  an existing loop's thread. With no subscriber, no subscription reaches the
  PUBs, which then drop events at the source.
- Every XPUB that faces peers over tcp bounds what one peer may send it
  (docs/design.md, "Socket bounds"): a subscription frame longer than a
  255-byte subscription needs is refused by libzmq itself (ZMQ_MAXMSGSIZE),
  which closes that peer's connection before the frame is read; only
  subscriptions that can match a topic are passed on to the sources; and an
  address that sends many that cannot is dropped (`PeerGuard`).
- `EventStream`: the subscriber side, the ZeroMQ Guide's Clone pattern:
  subscribe first, then fetch what was missed with the `events` op; a jump in
  a source's `seq` is filled the same way. Every event of each source is
  delivered once, in order, including those the SUB socket dropped at its HWM.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import zmq

from vending.errors import VendingError
from vending.events import TOPICS

from .client import Client
from .codec import DecodeError, decode, encode
from .loop import EventLoop
from .peerguard import PeerGuard
from .protocol import DEFAULT_BACKOFF

__all__ = ["MAX_SUBSCRIPTION", "SOURCES", "EventForwarder", "EventPublisher", "EventStream",
           "StreamEvent", "subscription_frame_limit"]

log = logging.getLogger(__name__)

SOURCES = ("gatekeeper", "stock-handler")
#: Events queued per subscriber before PUB drops (the subscriber then fills the gap).
PUB_HWM = 10_000
MAX_EVENT_BYTES = 256 * 1024
#: The longest subscription the events port takes (docs/protocol.md, "Events").
MAX_SUBSCRIPTION = 255
#: What a subscription costs on the wire beyond its bytes. ZMTP 3.1 (libzmq >= 4.3)
#: sends it as a SUBSCRIBE command ("\x09SUBSCRIBE" + topic); ZMTP 3.0 as a message
#: (0x01 + topic), one byte less. CURVE boxes every frame in a MESSAGE command:
#: "\x07MESSAGE", an 8-byte nonce, a 16-byte MAC and a flags byte.
_SUBSCRIBE_OVERHEAD = 10
_CURVE_OVERHEAD = 8 + 8 + 16 + 1
#: Every prefix of a topic, the empty one included: the only subscriptions that
#: can ever match an event (the topic frame is exactly the topic).
_USEFUL = frozenset(topic.encode("ascii")[:n] for topic in TOPICS for n in range(len(topic) + 1))


def subscription_frame_limit(curve: bool) -> int:
    """ZMQ_MAXMSGSIZE for an XPUB facing peers: one 255-byte subscription's frame.

    libzmq checks it against each incoming frame's header, before reading the
    body, and closes the connection of a peer whose frame is larger; so a long
    subscription never reaches the XPUB's subscription trie (whose teardown
    recursed once per byte and overflowed the stack on a 300 KB topic).
    """
    return MAX_SUBSCRIPTION + _SUBSCRIBE_OVERHEAD + (_CURVE_OVERHEAD if curve else 0)


def useful_subscription(message: bytes) -> bool:
    """An XPUB's (un)subscription notice (0x01/0x00 + prefix) that can match a topic."""
    return message[:1] in (b"\x00", b"\x01") and message[1:] in _USEFUL


def _face_peers(sock: zmq.Socket[Any], endpoint: str,
                curve: tuple[bytes, bytes] | None) -> bool:
    """Set up an XPUB about to bind `endpoint`: CURVE and the frame bound, off
    inproc. Returns whether the endpoint faces peers."""
    if endpoint.startswith("inproc://"):
        return False
    if curve is not None:
        sock.curve_server = True
        sock.curve_publickey, sock.curve_secretkey = curve
    # Not ZMQ_RCVHWM nor a small ZMQ_RCVBUF: libzmq queues an XPUB's incoming
    # subscriptions without bound whatever they say (measured: docs/design.md).
    sock.setsockopt(zmq.MAXMSGSIZE, subscription_frame_limit(curve is not None))
    return True


class EventPublisher:
    """One source's publishing socket, created, used and closed in one loop thread.

    An XPUB rather than a PUB: it hears subscriptions come and go, so while no
    one subscribes (the usual case) events are not even encoded. `bind`: bound
    at `endpoint` (a split role's `--events`); else connected to it (embedded:
    the forwarder's XSUB, which passes subscriptions up).
    """

    def __init__(self, endpoint: str, *, bind: bool,
                 curve: tuple[bytes, bytes] | None = None) -> None:
        self.endpoint = endpoint
        self._bind = bind
        self._curve = curve
        self._sock: zmq.Socket[Any] | None = None
        self._topics: set[bytes] = set()
        self.published = 0
        self.guard = PeerGuard(useful_subscription)
        #: Where it was bound (a port-0 tcp endpoint with its real port), once open.
        self.bound: str | None = None

    @property
    def wanted(self) -> bool:
        """Someone subscribes: events are worth encoding and sending."""
        return bool(self._topics)

    def open(self, ctx: zmq.Context[Any], loop: EventLoop) -> None:
        sock = self._sock = ctx.socket(zmq.XPUB)
        sock.setsockopt(zmq.SNDHWM, PUB_HWM)
        sock.setsockopt(zmq.LINGER, 0)
        if self._bind:
            if _face_peers(sock, self.endpoint, self._curve):
                self.guard.watch(sock, loop)
            sock.bind(self.endpoint)
            self.bound = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        else:
            sock.connect(self.endpoint)
        loop.add_reader(sock, self._subscriptions)

    def _subscriptions(self) -> None:
        """XPUB hands up each new topic prefix (b"\x01" + prefix) and each last
        unsubscribe (b"\x00" + prefix)."""
        assert self._sock is not None
        for _ in range(1024):
            try:
                notice = self._sock.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if not self.guard.admit(notice):
                continue  # matches no topic: no reason to encode events for it
            message = notice.bytes
            if message[:1] == b"\x01":
                self._topics.add(message[1:])
            else:
                self._topics.discard(message[1:])

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        """Send one event; never blocks (a slow subscriber loses it, and fills the gap)."""
        if self._sock is not None and self._topics:
            self._sock.send_multipart([topic.encode("ascii"), encode(body)], zmq.NOBLOCK)
            self.published += 1

    def close(self, loop: EventLoop) -> None:
        if self._sock is not None:
            self.guard.close(self._sock, loop)
            loop.remove_reader(self._sock)
            self._sock.close()
            self._sock = None
        self._topics.clear()


class EventForwarder:
    """XSUB (sources connect) -> XPUB (subscribers connect), on an existing loop."""

    def __init__(self, inlet: str, outlets: list[str],
                 curve: tuple[bytes, bytes] | None = None) -> None:
        self.inlet = inlet
        self.outlets = outlets
        self._curve = curve
        self._xsub: zmq.Socket[Any] | None = None
        self._xpub: zmq.Socket[Any] | None = None
        self.bound: list[str] = []
        self.guard = PeerGuard(useful_subscription)

    def open(self, ctx: zmq.Context[Any], loop: EventLoop) -> None:
        """Bind both sockets and forward through `loop` (call in the loop thread)."""
        xsub = self._xsub = ctx.socket(zmq.XSUB)
        xpub = self._xpub = ctx.socket(zmq.XPUB)
        for sock in (xsub, xpub):
            sock.setsockopt(zmq.LINGER, 0)
        xsub.setsockopt(zmq.RCVHWM, PUB_HWM)
        xpub.setsockopt(zmq.SNDHWM, PUB_HWM)
        xsub.bind(self.inlet)
        if any(not e.startswith("inproc://") for e in self.outlets):
            self.guard.watch(xpub, loop)
        for endpoint in self.outlets:
            _face_peers(xpub, endpoint, self._curve)
            xpub.bind(endpoint)
            self.bound.append(xpub.getsockopt(zmq.LAST_ENDPOINT).decode())
        loop.add_reader(xsub, lambda: _pass(xsub, xpub))
        # Upwards, only subscriptions that can match a topic: a peer's junk stays in
        # the XPUB's own trie (freed when it leaves) and is not copied into the
        # XSUB's and each source's.
        loop.add_reader(xpub, lambda: _pass(xpub, xsub, keep=self.guard.admit))

    def close(self, loop: EventLoop) -> None:
        if self._xpub is not None:
            self.guard.close(self._xpub, loop)
        for sock in (self._xsub, self._xpub):
            if sock is not None:
                loop.remove_reader(sock)
                sock.close()
        self._xsub = self._xpub = None


def _pass(src: zmq.Socket[Any], dst: zmq.Socket[Any], most: int = 1024,
          keep: Callable[[zmq.Frame], bool] | None = None) -> None:
    """Forward what `src` holds (data one way, subscriptions the other), what
    `keep` accepts of it."""
    for _ in range(most):
        try:
            frames = src.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return
        if keep is not None and not keep(frames[0]):
            continue
        # A subscriber past its HWM loses it; its seq gap is filled by the op.
        with contextlib.suppress(zmq.Again):
            dst.send_multipart(frames, zmq.NOBLOCK, copy=False)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event: its topic and map (`source`, `seq`, `at` and the topic's fields)."""

    topic: str
    body: dict[str, Any]

    @property
    def source(self) -> str:
        return str(self.body["source"])

    @property
    def seq(self) -> int:
        return int(self.body["seq"])


#: The `events` op: (source, since, limit) -> its reply.
Fetch = Callable[[str, int, int], dict[str, Any]]


class EventStream:
    """Every event of each source once, in order: live from a SUB socket, gaps filled.

    Its own thread owns the SUB socket and the client that fetches missed
    events with the `events` op; events are handed to `callback` in that
    thread, or kept for iteration (`get`, `for event in stream`) when no
    callback is given. `since` maps a source to the last seq already seen
    (default 0: everything still stored); `live_only=True` starts from each
    source's newest event instead. Stop it with `close()` (or `stop()`, the same),
    or use it as a context manager (`with EventStream(...) as stream:` starts it
    and closes it). The first catch-up hands the sources' stored events over
    merged by `at`, so one source's backlog does not all come before the other's.

    Args:
        events_endpoint: the PUB (a split role's `--events`: give both roles'
            as a list) or the embedded XPUB (`inproc://events`, or `serve --events`).
        front_door: the front door endpoint, for the `events` op.
        timeout, retries, backoff: the `events` op's client (`transport.Client`):
            `start` raises after at most its `worst_case_seconds` with no front door.
        context: the ZeroMQ context (an embedded system's, for inproc://).
        server_key: the server's CurveZMQ public key, for both sockets.
        door_key: the front door's key when it differs (embedded: the events
            are on inproc://, the front door may still be CURVE).
        client_key: this client's (public, secret) CurveZMQ pair, for a server
            that admits only known clients (`serve --curve-clients`).
    """

    def __init__(self, events_endpoint: str | list[str], front_door: str, *,
                 context: zmq.Context[Any] | None = None,
                 callback: Callable[[StreamEvent], None] | None = None,
                 sources: tuple[str, ...] = SOURCES, since: dict[str, int] | None = None,
                 live_only: bool = False, server_key: bytes | None = None,
                 door_key: bytes | None = None,
                 client_key: tuple[bytes, bytes] | None = None,
                 rcvhwm: int = PUB_HWM, poll_interval: float = 1.0,
                 timeout: float = 5.0, retries: int = 3,
                 backoff: float = DEFAULT_BACKOFF) -> None:
        self.endpoints = [events_endpoint] if isinstance(events_endpoint, str) \
            else list(events_endpoint)
        self.front_door = front_door
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._ctx = context or zmq.Context.instance()
        self._callback = callback
        self.sources = sources
        #: The last seq delivered, per source.
        self.last: dict[str, int] = {s: 0 for s in sources}
        self.last.update(since or {})
        self._live_only = live_only
        self._server_key = server_key
        self._door_key = door_key if door_key is not None else server_key
        self._client_key = client_key
        self._rcvhwm = rcvhwm
        self._poll_interval = poll_interval
        self._queue: list[StreamEvent] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        #: Events that came by the `events` op instead of live (dropped or missed).
        self.filled = 0
        self.delivered = 0

    # -- any thread ------------------------------------------------------
    def start(self) -> EventStream:
        """Start the thread; return once it is subscribed and has caught up once.

        Raises:
            VendingError: the front door did not answer the first `events` ops
                (`NoReply` after the client's retries).
        """
        if self._thread is not None:
            return self  # started already (`with system.subscribe() as stream`)
        self._thread = threading.Thread(target=self._run, name="event-stream")
        self._thread.start()
        self._ready.wait()
        if self.error is not None:
            self.stop()
            raise self.error
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def close(self) -> None:
        """`stop`: end the thread and close its sockets (any thread; idempotent)."""
        self.stop()

    def __enter__(self) -> EventStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, timeout: float | None = None) -> StreamEvent:
        """The next event (iteration mode).

        Raises:
            TimeoutError: none came within `timeout` seconds.
            EOFError: the stream has stopped (its `error` says why, if it failed).
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._queue or self._stop.is_set(), timeout):
                raise TimeoutError(f"no event within {timeout} s")
            if not self._queue:
                raise EOFError("the event stream has stopped")
            return self._queue.pop(0)

    def __iter__(self) -> Iterator[StreamEvent]:
        while True:
            try:
                yield self.get()
            except EOFError:
                return

    # -- the stream's thread -------------------------------------------------
    def _run(self) -> None:
        sub = self._ctx.socket(zmq.SUB)
        client = Client(self.front_door, context=self._ctx, timeout=self._timeout,
                        retries=self._retries, backoff=self._backoff,
                        server_key=self._door_key,
                        client_key=self._client_key)

        def fetch(source: str, since: int, limit: int) -> dict[str, Any]:
            return dict(client.events(source, since, limit))
        try:
            sub.setsockopt(zmq.LINGER, 0)
            sub.setsockopt(zmq.RCVHWM, self._rcvhwm)
            sub.setsockopt(zmq.MAXMSGSIZE, MAX_EVENT_BYTES)
            if self._server_key is not None:
                public, secret = self._client_key or zmq.curve_keypair()
                sub.curve_serverkey = self._server_key
                sub.curve_publickey, sub.curve_secretkey = public, secret
            sub.setsockopt(zmq.SUBSCRIBE, b"")  # first: nothing after this is missed
            for endpoint in self.endpoints:
                sub.connect(endpoint)
            if self._live_only:
                for source in self.sources:
                    self.last[source] = max(self.last[source],
                                            int(fetch(source, 0, 1).get("last_seq", 0)))
            self._catch_up_merged(fetch)
            self._ready.set()
            poller = zmq.Poller()
            poller.register(sub, zmq.POLLIN)
            while not self._stop.is_set():
                if not poller.poll(int(self._poll_interval * 1000)):
                    # Quiet: the newest events may be the ones dropped; ask.
                    for source in self.sources:
                        self._try_catch_up(fetch, source)
                    continue
                for _ in range(1024):
                    try:
                        frames = sub.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._live(fetch, frames)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller, not lost
            if not self._stop.is_set():
                self.error = exc
                if self._ready.is_set():  # else `start` raises it to the caller
                    log.error("event stream stopped: %s", exc)
        finally:
            sub.close()
            client.close()
            self._stop.set()
            self._ready.set()
            with self._cond:
                self._cond.notify_all()

    def _live(self, fetch: Fetch, frames: list[bytes]) -> None:
        if len(frames) != 2:
            return
        try:
            body = decode(frames[1], MAX_EVENT_BYTES)
            topic = frames[0].decode("ascii")
        except (DecodeError, UnicodeDecodeError):
            return
        if not isinstance(body, dict):
            return
        source, seq = body.get("source"), body.get("seq")
        if source not in self.last or not isinstance(seq, int):
            return
        if seq <= self.last[source]:
            return  # fetched already
        if seq > self.last[source] + 1:
            self._try_catch_up(fetch, source, upto=seq - 1)
        if seq == self.last[source] + 1:
            self._deliver(StreamEvent(topic, body))

    def _try_catch_up(self, fetch: Fetch, source: str, upto: int | None = None) -> None:
        """`_catch_up`, or later: a role that does not answer now is asked again when
        the stream is next quiet (what it misses meanwhile stays stored)."""
        try:
            self._catch_up(fetch, source, upto)
        except VendingError as exc:
            log.warning("events of %s cannot be fetched now: %s", source, exc)

    def _catch_up(self, fetch: Fetch, source: str, upto: int | None = None) -> None:
        """Fetch what was missed after `last[source]` (up to `upto`, else all stored)."""
        while not self._stop.is_set():
            since = self.last[source]
            if upto is not None and since >= upto:
                return
            limit = 1000 if upto is None else min(1000, upto - since)
            reply = fetch(source, since, limit)
            events = reply.get("events") or []
            for item in events:
                self._take(source, item)
            if events and len(events) == limit:
                continue
            if not events:
                self._skip_expired(source, int(reply.get("last_seq", 0)), upto)
            return

    def _catch_up_merged(self, fetch: Fetch) -> None:
        """Every source's stored events after `last`, delivered merged by `at`: a
        page of each source at a time, the oldest head first."""
        pages: dict[str, deque[dict[str, Any]]] = {s: deque() for s in self.sources}
        fetched = dict(self.last)
        done: set[str] = set()

        def refill(source: str) -> None:
            if source in done or pages[source]:
                return
            reply = fetch(source, fetched[source], 1000)
            events = reply.get("events") or []
            pages[source].extend(events)
            if events:
                fetched[source] = int(events[-1]["seq"])
            if len(events) < 1000:
                done.add(source)
            if not events:
                self._skip_expired(source, int(reply.get("last_seq", 0)), None)

        for source in self.sources:
            refill(source)
        while not self._stop.is_set():
            heads = [s for s in self.sources if pages[s]]
            if not heads:
                return
            source = min(heads, key=lambda s: float(pages[s][0].get("at", 0)))
            self._take(source, pages[source].popleft())
            refill(source)

    def _take(self, source: str, item: dict[str, Any]) -> None:
        """Deliver one fetched event unless it came already."""
        body = {k: v for k, v in item.items() if k != "topic"}
        if int(body["seq"]) <= self.last[source]:
            return
        if int(body["seq"]) != self.last[source] + 1:
            # Expired from the store (older than its keep time): skip ahead.
            log.warning("events %s %d..%d are no longer stored", source,
                        self.last[source] + 1, int(body["seq"]) - 1)
        self.filled += 1
        self._deliver(StreamEvent(str(item["topic"]), body))

    def _skip_expired(self, source: str, last_seq: int, upto: int | None) -> None:
        """No stored event after `last`, yet `last_seq` is beyond it: all expired."""
        if last_seq > self.last[source] and (upto is None or upto > self.last[source]):
            self.last[source] = last_seq if upto is None else min(upto, last_seq)

    def _deliver(self, event: StreamEvent) -> None:
        self.last[event.source] = event.seq
        self.delivered += 1
        if self._callback is not None:
            self._callback(event)
            return
        with self._cond:
            self._queue.append(event)
            self._cond.notify_all()
