"""The split layout's peer-facing sockets bound what one peer may send them: the
backends' own events XPUBs and the tcp fifos (docs/design.md, "Socket bounds").
Probed by raw ZMTP peers (tools/zmtp.py) from another loopback address."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tools.split import SplitDeployment
from tools.zmtp import ZmtpPeer
from transport.client import Client
from transport.events import EventStream
from transport.fifo import MAX_FIFO_BYTES

PASSWORD = "correct horse battery"
WAIT = 10.0


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitDeployment]:
    deployment = SplitDeployment(tmp_path_factory.mktemp("split-bounds"), front_doors=1,
                                 events=True)
    try:
        yield deployment.start()
    finally:
        deployment.kill_all()


def all_alive(split: SplitDeployment) -> bool:
    return all(p.proc is not None and p.proc.poll() is None for p in split.procs.values())


@pytest.mark.parametrize("role", ["gatekeeper", "stock-handler"])
def test_a_backend_events_port_drops_long_and_junk_subscriptions(
        split: SplitDeployment, role: str) -> None:
    endpoint = split.events_endpoints[role]
    with ZmtpPeer(endpoint, source="127.0.0.2").handshake() as probe:
        with contextlib.suppress(OSError):
            probe.subscribe(b"x" * 300_000)
        assert probe.closed_by_server(WAIT)
    with ZmtpPeer(endpoint, source="127.0.0.3").handshake() as probe:
        with contextlib.suppress(OSError):
            probe.send_frames([b"\x01" + b"%08d" % n for n in range(10_000)])
        assert probe.closed_by_server(WAIT)
    assert all_alive(split)
    # Subscribers are still served by both backends.
    with EventStream(list(split.events_endpoints.values()), split.endpoint,
                     live_only=True) as stream, Client(split.endpoint, timeout=WAIT) as sam:
        sam.register(f"sam-{role}", PASSWORD, "seller")
        sam.sell("cola", 35, 1)
        sources = {stream.get(timeout=WAIT).source for _ in range(2)}
    assert sources == {"gatekeeper", "stock-handler"}


def test_a_fifo_drops_a_frame_over_its_bound(split: SplitDeployment) -> None:
    extra = split.procs["gatekeeper"].extra
    auth_fifo = extra[extra.index("--auth-fifo") + 1]
    with ZmtpPeer(auth_fifo, socket_type="PUSH", source="127.0.0.4").handshake() as probe:
        with contextlib.suppress(OSError):
            probe.send_frame(b"\x00" * (MAX_FIFO_BYTES + 1))
        assert probe.closed_by_server(WAIT)
    assert all_alive(split)
    with Client(split.endpoint, timeout=WAIT) as ann:
        ann.register("ann", PASSWORD)
        assert ann.deposit(5) == 5


def test_useful_subscriptions_reach_the_backend(split: SplitDeployment) -> None:
    """The control: a raw peer subscribed to a real topic hears it, so the probes
    above were refused for what they sent, not for being raw."""
    with ZmtpPeer(split.events_endpoints["gatekeeper"], source="127.0.0.5") as probe:
        probe.handshake().subscribe(b"user")
        with Client(split.endpoint, timeout=WAIT) as client:
            for n in range(20):
                client.register(f"u{n}", PASSWORD)
                if probe.poll(0.5):
                    assert probe.read_frame()[1] == b"user"
                    return
    pytest.fail("no event reached the raw subscriber")
