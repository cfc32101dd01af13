"""The events port bounds what one peer may send it (docs/design.md, "Socket bounds").

A live `vending serve --events` process is probed by raw ZMTP 3.0 peers
(tools/zmtp.py), never by a libzmq SUB with a long topic: closing such a
socket overflows the stack of the process that owns it. Each probe connects
from its own loopback address, as another host would; the honest subscriber
and the front door's client stay on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

from tools.serverproc import ANY_PORT, ServerProcess
from tools.zmtp import ZmtpPeer
from transport.client import Client
from transport.events import MAX_SUBSCRIPTION
from transport.peerguard import JUNK_PER_ADDRESS

PASSWORD = "correct horse battery"
WAIT = 10.0


class Served:
    """One server process with its front door and tcp events endpoint."""

    def __init__(self, server: ServerProcess, events: str,
                 server_key: bytes | None = None) -> None:
        self.server = server
        self.events = events
        self.server_key = server_key
        self._names = iter(range(1_000_000))

    def client(self) -> Client:
        return Client(self.server.endpoint, timeout=WAIT, server_key=self.server_key)

    def event(self) -> None:
        """Cause one event (a `user` registration) through the front door."""
        with self.client() as client:
            client.register(f"u{next(self._names)}", PASSWORD)

    def serves(self) -> bool:
        """The process is alive and its front door answers."""
        if self.server.proc is None or self.server.proc.poll() is not None:
            return False
        with self.client() as client:
            return bool(client.ping())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = ServerProcess(":memory:", extra=["--events", ANY_PORT],
                           cwd=tmp_path_factory.mktemp("events-port"))
    server.start()
    try:
        yield Served(server, server.events_endpoint())
    finally:
        server.kill()


@pytest.fixture
def zctx() -> Iterator[zmq.Context[Any]]:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def honest_sub(ctx: zmq.Context[Any], endpoint: str, topic: bytes = b"") -> zmq.Socket[Any]:
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(endpoint)
    return sub


def hears_events(served: Served, sub: zmq.Socket[Any], topic: bytes = b"user") -> bool:
    """Cause events until `sub` receives one (a SUB's subscription travels
    asynchronously: the first events may pass before it arrives)."""
    for _ in range(20):
        served.event()
        if sub.poll(500):
            frames = sub.recv_multipart()
            return frames[0] == topic and msgpack.unpackb(frames[1])["seq"] >= 1
    return False


def probe_hears_events(served: Served, probe: ZmtpPeer) -> bool:
    """The same for a raw peer subscribed to `user`: its connection is still up."""
    for _ in range(20):
        served.event()
        if probe.poll(0.5):
            _, topic = probe.read_frame()
            return topic == b"user"
    return False


@pytest.mark.parametrize("size", [300_000, 1_000_000], ids=["300KB", "1MB"])
def test_a_long_subscription_drops_that_peer_and_nothing_else(
        served: Served, zctx: zmq.Context[Any], size: int) -> None:
    sub = honest_sub(zctx, served.events)
    assert hears_events(served, sub)
    with ZmtpPeer(served.events, source="127.0.0.2").handshake() as probe:
        with contextlib.suppress(OSError):  # hung up on while still sending: the point
            probe.subscribe(b"x" * size)
            probe.send_frame(b"\x00" + b"x" * size)  # then unsubscribe, as in the report
        assert probe.closed_by_server(WAIT)
    assert served.serves()
    assert hears_events(served, sub)


def test_a_subscription_of_255_bytes_is_taken(served: Served) -> None:
    with ZmtpPeer(served.events, source="127.0.0.3").handshake() as probe:
        probe.subscribe(b"u" * MAX_SUBSCRIPTION)
        probe.subscribe(b"user")
        # Still connected: an event reaches this very connection.
        assert probe_hears_events(served, probe)
    assert served.serves()


def _disconnected(ctx: zmq.Context[Any], endpoint: str, topic: bytes) -> bool:
    """Whether the server ends a libzmq SUB's connection after it subscribes `topic`
    (libzmq >= 4.3 sends it as a ZMTP 3.1 SUBSCRIBE command)."""
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RECONNECT_IVL, 60_000)  # one connection, seen to its end
    monitor = sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
    try:
        sub.setsockopt(zmq.SUBSCRIBE, topic)
        sub.connect(endpoint)
        seen = []
        while monitor.poll(2000):
            seen.append(recv_monitor_message(monitor)["event"])
            if zmq.EVENT_DISCONNECTED in seen:
                return True
        assert zmq.EVENT_HANDSHAKE_SUCCEEDED in seen
        return False
    finally:
        sub.disable_monitor()
        monitor.close(0)
        sub.close(0)


def test_a_libzmq_sub_may_subscribe_255_bytes_but_not_256(
        served: Served, zctx: zmq.Context[Any]) -> None:
    assert not _disconnected(zctx, served.events, b"y" * MAX_SUBSCRIPTION)
    assert _disconnected(zctx, served.events, b"y" * (MAX_SUBSCRIPTION + 1))
    assert served.serves()


def test_many_subscriptions_matching_no_topic_drop_that_address(
        served: Served, zctx: zmq.Context[Any]) -> None:
    sub = honest_sub(zctx, served.events, b"user")
    assert hears_events(served, sub)
    with ZmtpPeer(served.events, source="127.0.0.4").handshake() as probe:
        with contextlib.suppress(OSError):  # hung up on while still sending
            probe.send_frames([b"\x01" + b"%08d" % n for n in range(10_000)])
        assert probe.closed_by_server(WAIT)
    # The honest subscriber from another address, on useful topics, is kept.
    assert hears_events(served, sub)
    assert served.serves()


def test_useful_subscriptions_are_never_counted_against_a_peer(served: Served) -> None:
    # Every prefix of every topic, many times over: more notices than the junk limit.
    with ZmtpPeer(served.events, source="127.0.0.5").handshake() as probe:
        frames = [marker + b"product_deleted"[:n] for n in range(16)
                  for marker in (b"\x01", b"\x00")]
        probe.send_frames(frames * (JUNK_PER_ADDRESS // len(frames) + 2))
        probe.subscribe(b"user")
        assert probe_hears_events(served, probe)


def test_curve_subscribers_fit_the_bound(tmp_path: Path, zctx: zmq.Context[Any]) -> None:
    """The frame bound leaves room for CURVE's handshake and its boxed frames."""
    public_file, secret_file = zmq.auth.create_certificates(tmp_path, "server")
    server_key = zmq.auth.load_certificate(public_file)[0]
    server = ServerProcess(":memory:", extra=["--events", ANY_PORT,
                                              "--curve-secret", str(secret_file)],
                           cwd=tmp_path).start()
    try:
        events = server.events_endpoint()
        sub = zctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.curve_serverkey = server_key
        sub.curve_publickey, sub.curve_secretkey = zmq.curve_keypair()
        sub.setsockopt(zmq.SUBSCRIBE, b"u" * MAX_SUBSCRIPTION)
        sub.setsockopt(zmq.SUBSCRIBE, b"user")
        sub.connect(events)
        keyed = Served(server, events, server_key)
        assert hears_events(keyed, sub)
    finally:
        server.kill()
