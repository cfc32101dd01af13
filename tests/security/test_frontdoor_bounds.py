"""The front door bounds each peer's frames (docs/protocol.md, section 2).

Up to 64 KiB a request is read; from there to 1 MiB it is answered
BAD_REQUEST; over 1 MiB ZeroMQ itself drops it (ZMQ_MAXMSGSIZE) and closes
that peer's connection: no reply, nothing read, and other clients are served.
Probed by a raw ZMTP DEALER peer (tools/zmtp.py), which sees its connection
end rather than libzmq reconnecting behind its back.
"""

from __future__ import annotations

import contextlib

import msgpack
import pytest

from actors.system import VendingSystem
from tools.zmtp import ZmtpError, ZmtpPeer
from transport.frontdoor import MAX_FRAME_BYTES

WAIT = 10.0


def padded_ping(size: int) -> bytes:
    """A msgpack ping map of exactly `size` bytes."""
    body = msgpack.packb({"op": "ping", "pad": ""})
    frame = msgpack.packb({"op": "ping", "pad": "x" * (size - len(body))})
    while len(frame) > size:  # the str header grew: take the difference back
        frame = msgpack.packb({"op": "ping", "pad": "x" * (size - len(body)
                                                          - (len(frame) - size))})
    assert len(frame) == size
    return frame


def dealer(system: VendingSystem, source: str = "127.0.0.6") -> ZmtpPeer:
    return ZmtpPeer(system.endpoints[0], socket_type="DEALER", timeout=WAIT,
                    source=source).handshake()


def reply_of(peer: ZmtpPeer) -> dict[str, object]:
    """The next reply on a raw DEALER: the empty delimiter, then one map."""
    _, delimiter = peer.read_frame()
    assert delimiter == b""
    _, body = peer.read_frame()
    reply = msgpack.unpackb(body)
    assert isinstance(reply, dict)
    return reply


@pytest.mark.parametrize("size", [64 * 1024 + 1, 512 * 1024, MAX_FRAME_BYTES],
                         ids=["64KiB+1", "512KiB", "1MiB"])
def test_a_frame_up_to_1_mib_is_answered_bad_request(system: VendingSystem, size: int) -> None:
    with dealer(system) as peer:
        peer.send_frame(b"", more=True)
        peer.send_frame(padded_ping(size))
        reply = reply_of(peer)
        assert reply["ok"] is False and reply["error"] == "BAD_REQUEST", reply
        # The same connection goes on.
        peer.send_frame(b"", more=True)
        peer.send_frame(msgpack.packb({"op": "ping"}))
        assert reply_of(peer)["ok"] is True


@pytest.mark.parametrize("size", [MAX_FRAME_BYTES + 1, 4 * MAX_FRAME_BYTES],
                         ids=["1MiB+1", "4MiB"])
def test_a_frame_over_1_mib_is_dropped_with_its_connection(system: VendingSystem,
                                                           size: int) -> None:
    with dealer(system) as peer:
        peer.send_frame(b"", more=True)
        with contextlib.suppress(OSError):  # hung up on while still sending
            peer.send_frame(padded_ping(size))
        # No reply: the first thing seen is the end of the connection.
        assert peer.poll(WAIT)
        with pytest.raises(ZmtpError):
            peer.read_frame()
    assert system.door is not None and system.door.stats.bad_requests == 0
    with dealer(system, source="127.0.0.7") as other:
        other.send_frame(b"", more=True)
        other.send_frame(msgpack.packb({"op": "ping"}))
        assert reply_of(other)["ok"] is True
    assert system.client().ping()
