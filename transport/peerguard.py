"""Drop the peers of an XPUB that fill it with subscriptions no event can match.

libzmq keeps every subscription a peer sends in the XPUB's trie until that
peer leaves, and offers no way to refuse one nor to close one peer's
connection. Measured (docs/design.md, "Socket bounds"): 10,000 distinct
255-byte subscriptions from one peer cost the server 118 MiB. So the XPUB's
owner counts, per source address, the subscriptions that match no topic (an
honest subscriber sends none: the topics are a fixed list), and past
`JUNK_PER_ADDRESS` it ends that address's connections itself: the XPUB's
monitor names each accepted connection's file descriptor, and a `shutdown`
of it makes libzmq see the peer go, which frees its subscriptions.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from .loop import EventLoop

__all__ = ["JUNK_PER_ADDRESS", "PeerGuard"]

log = logging.getLogger(__name__)

#: Subscriptions matching no topic one address may send before it is dropped:
#: at most 255 bytes each, about 3 MiB of trie (docs/design.md, "Socket bounds").
JUNK_PER_ADDRESS = 256

_WATCH = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED


class PeerGuard:
    """One XPUB's connections and each address's junk count, kept in its loop's thread.

    Args:
        useful: whether an (un)subscription notice (0x01/0x00 + prefix) can match
            a topic.
        limit: junk subscriptions per address before its connections are ended.
    """

    def __init__(self, useful: Callable[[bytes], bool], limit: int = JUNK_PER_ADDRESS) -> None:
        self._useful = useful
        self._limit = limit
        self._monitor: zmq.Socket[Any] | None = None
        #: Accepted connections: file descriptor -> peer address (ip).
        self._peers: dict[int, str] = {}
        self._junk: dict[str, int] = {}
        #: Connections ended for sending junk (for tests and logs).
        self.dropped = 0

    # -- the owning loop's thread --------------------------------------------
    def watch(self, sock: zmq.Socket[Any], loop: EventLoop) -> None:
        """Follow `sock`'s connections (call before it binds, in the loop thread)."""
        monitor = self._monitor = sock.get_monitor_socket(_WATCH)
        loop.add_reader(monitor, self._events)

    def close(self, sock: zmq.Socket[Any], loop: EventLoop) -> None:
        if self._monitor is not None:
            loop.remove_reader(self._monitor)
            sock.disable_monitor()
            self._monitor.close(0)
            self._monitor = None
        self._peers.clear()
        self._junk.clear()

    def admit(self, notice: zmq.Frame) -> bool:
        """Whether to pass a subscription notice on; counts and punishes junk."""
        if self._useful(notice.bytes):
            return True
        if notice.bytes[:1] != b"\x01":
            return False  # an unsubscription frees memory: never punished
        try:
            address = notice.get("Peer-Address")
        except zmq.ZMQError:
            return False  # inproc: one of our own sockets
        if not isinstance(address, str):
            return False
        count = self._junk[address] = self._junk.get(address, 0) + 1
        if count > self._limit:
            self._drop(address)
        return False

    def _events(self) -> None:
        if self._monitor is None:
            return
        for _ in range(1024):
            try:
                event = parse_monitor_message(self._monitor.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            fd = int(event["value"])
            if event["event"] == zmq.EVENT_ACCEPTED:
                address = _peer_ip(fd)
                if address is not None:
                    self._peers[fd] = address
            else:
                self._peers.pop(fd, None)

    def _drop(self, address: str) -> None:
        """End every connection from `address` and forget its count."""
        del self._junk[address]
        self._events()  # its connection may be newer than the last monitor read
        ended = 0
        for fd, ip in list(self._peers.items()):
            # Checked again on the descriptor itself: a closed one may have been reused.
            if ip == address:
                del self._peers[fd]
                if _peer_ip(fd) == address:
                    _shutdown(fd)
                    ended += 1
        self.dropped += ended
        if ended:  # else: notices the dropped connection left queued, counted again
            log.warning("events port: dropped %d connection(s) from %s: more than %d "
                        "subscriptions matching no topic", ended, address, self._limit)


def _peer_ip(fd: int) -> str | None:
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            peer = sock.getpeername()
    except OSError:
        return None
    return str(peer[0]) if isinstance(peer, tuple) else None


def _shutdown(fd: int) -> None:
    """Shut the connection down; libzmq's I/O thread then closes its descriptor."""
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # gone already
