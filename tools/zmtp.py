"""A raw ZMTP 3.0 peer over a plain TCP socket: hostile frames libzmq would not send.

A libzmq SUB socket cannot be used to probe the events port with a long topic:
closing it recurses over its own subscription trie and overflows the probing
process's stack. This peer speaks the wire by hand (ZMTP 3.0, rfc.zeromq.org
spec 23, NULL mechanism), so it can send any frame and notice when the server
hangs up. Used by the socket-bounds tests and by operators' abuse runs.
"""

from __future__ import annotations

import select
import socket
import struct
import time

__all__ = ["ZmtpError", "ZmtpPeer", "parse_tcp"]

_SIGNATURE = b"\xff" + b"\x00" * 8 + b"\x7f"
#: Frame flags (ZMTP 3.0 section "Framing").
_MORE, _LONG, _COMMAND = 0x01, 0x02, 0x04


class ZmtpError(Exception):
    """The server did not speak ZMTP 3 as expected (or hung up during the handshake)."""


def parse_tcp(endpoint: str) -> tuple[str, int]:
    """("127.0.0.1", 5556) from "tcp://127.0.0.1:5556"."""
    if not endpoint.startswith("tcp://"):
        raise ValueError(f"not a tcp:// endpoint: {endpoint}")
    host, _, port = endpoint[len("tcp://"):].rpartition(":")
    return host.strip("[]"), int(port)


def _frame(body: bytes, flags: int = 0) -> bytes:
    if len(body) > 255:
        return struct.pack(">BQ", flags | _LONG, len(body)) + body
    return struct.pack(">BB", flags, len(body)) + body


def _ready(socket_type: str) -> bytes:
    """The READY command with one property, Socket-Type."""
    name, value = b"Socket-Type", socket_type.encode("ascii")
    body = b"\x05READY" + bytes([len(name)]) + name + struct.pack(">I", len(value)) + value
    return _frame(body, _COMMAND)


class ZmtpPeer:
    """One raw connection, used from one thread.

    Args:
        endpoint: the server's tcp:// endpoint.
        socket_type: what this peer says it is in READY (e.g. "SUB", "DEALER").
        timeout: seconds for each blocking read or write.
        source: the local address to connect from (e.g. "127.0.0.2": another
            loopback address looks like another host to the server).
    """

    def __init__(self, endpoint: str, socket_type: str = "SUB", timeout: float = 5.0,
                 source: str | None = None) -> None:
        self.endpoint = endpoint
        self.socket_type = socket_type
        self._sock = socket.create_connection(
            parse_tcp(endpoint), timeout=timeout,
            source_address=(source, 0) if source is not None else None)
        #: The server's READY properties, once `handshake` has read them.
        self.server_ready: bytes = b""

    def handshake(self) -> ZmtpPeer:
        """Greeting both ways (version 3.0, NULL, as-server 0), then READY both ways.

        Raises:
            ZmtpError: the server hung up or sent something else.
        """
        greeting = _SIGNATURE + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" \
            + b"\x00" * 31
        self._sock.sendall(greeting)
        theirs = self._read_exactly(64)
        if theirs[:1] != b"\xff" or theirs[9:10] != b"\x7f" or theirs[10] < 3:
            raise ZmtpError(f"not a ZMTP 3 greeting: {theirs[:12]!r}")
        mechanism = theirs[12:32].rstrip(b"\x00")
        if mechanism != b"NULL":
            raise ZmtpError(f"the server wants mechanism {mechanism!r}")
        self._sock.sendall(_ready(self.socket_type))
        flags, body = self.read_frame()
        if not flags & _COMMAND or not body.startswith(b"\x05READY"):
            raise ZmtpError(f"expected READY, got flags {flags:#x} body {body[:16]!r}")
        self.server_ready = body
        return self

    def send_frame(self, body: bytes, more: bool = False) -> None:
        """One message frame (not a command). OSError if the server hung up."""
        self._sock.sendall(_frame(body, _MORE if more else 0))

    def subscribe(self, topic: bytes) -> None:
        """ZMTP 3.0's subscription: a message whose body is 0x01 then the topic."""
        self.send_frame(b"\x01" + topic)

    def send_frames(self, bodies: list[bytes]) -> None:
        """Many single-frame messages in one write (fast floods)."""
        self._sock.sendall(b"".join(_frame(body) for body in bodies))

    def read_frame(self) -> tuple[int, bytes]:
        """(flags, body) of the next frame. ZmtpError if the server hung up."""
        flags = self._read_exactly(1)[0]
        if flags & _LONG:
            size = struct.unpack(">Q", self._read_exactly(8))[0]
        else:
            size = self._read_exactly(1)[0]
        return flags, self._read_exactly(size)

    def poll(self, timeout: float) -> bool:
        """Whether something (a frame, or the server hanging up) can be read now."""
        return bool(select.select([self._sock], [], [], timeout)[0])

    def closed_by_server(self, timeout: float = 5.0) -> bool:
        """Whether the server ends this connection within `timeout` seconds.

        Reads (and discards) whatever it sends meanwhile; True on EOF or reset.
        """
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self._sock.settimeout(left)
            try:
                if not self._sock.recv(65536):
                    return True
            except TimeoutError:
                return False
            except OSError:
                return True  # reset
        return False

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> ZmtpPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_exactly(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            try:
                chunk = self._sock.recv(min(left, 1 << 20))
            except OSError as exc:
                raise ZmtpError(f"connection lost: {exc}") from None
            if not chunk:
                raise ZmtpError("the server closed the connection")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
