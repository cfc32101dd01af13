"""CurveZMQ on the front door: only clients that know the server's key are served."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

from actors.system import VendingSystem
from transport.client import Client
from vending.db import StorageError

WAIT = 10.0


_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
           | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


def handshake(ctx: zmq.Context[Any], endpoint: str,
              server_key: bytes | None) -> tuple[zmq.Event, dict[str, Any] | None]:
    """Connect a REQ socket (CURVE client when `server_key` is given), send a ping, and
    return the first handshake outcome its monitor reports and the reply."""
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key is not None:
        sock.curve_serverkey = server_key
        sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
    monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | _FAILED)
    try:
        sock.connect(endpoint)
        sock.send(msgpack.packb({"op": "ping"}))
        if not monitor.poll(WAIT * 1000):
            pytest.fail(f"no handshake outcome within {WAIT}s")
        event = recv_monitor_message(monitor)
        reply = None
        if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            assert sock.poll(WAIT * 1000), "handshake succeeded but no reply came"
            reply = msgpack.unpackb(sock.recv())
        return zmq.Event(event["event"]), reply
    finally:
        sock.disable_monitor()
        monitor.close(0)
        sock.close(0)


def test_only_clients_with_the_server_key_are_served(
        tmp_path: Path, make_system: Callable[..., VendingSystem],
        zctx: zmq.Context[Any]) -> None:
    public_file, secret_file = zmq.auth.create_certificates(tmp_path, "server")
    server_key = zmq.auth.load_certificate(public_file)[0]
    system = make_system(curve_secret_file=str(secret_file))
    endpoint = system.endpoints[0]

    # Refusal seen positively, as the handshake failing, not as a silence.
    # (libzmq names the detail, e.g. a mechanism mismatch, only some of the time.)
    for key in (None, zmq.curve_keypair()[0]):
        event, reply = handshake(zctx, endpoint, key)
        assert event & _FAILED and reply is None, (key, event)
    # The control: the same socket set up with the right key is served.
    event, reply = handshake(zctx, endpoint, server_key)
    assert event == zmq.EVENT_HANDSHAKE_SUCCEEDED
    assert reply is not None and reply["ok"] is True and "version" in reply

    with Client(endpoint, timeout=5, server_key=server_key) as keyed:
        keyed.register("ann", "correct horse battery")
        assert keyed.deposit(20) == 20
    assert system.client().ping()  # embedded clients are given the key


def test_a_public_key_file_is_not_a_server_key(
        tmp_path: Path, make_system: Callable[..., VendingSystem]) -> None:
    public_file, _ = zmq.auth.create_certificates(tmp_path, "server")
    with pytest.raises(StorageError, match="no secret key"):
        make_system(curve_secret_file=str(public_file))
