"""One connection flooding requests cannot take the front door from the others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import zmq

from transport.client import Client


def test_a_flooding_connection_is_capped_and_others_are_served(
        raw_socket: Callable[..., Any], tcp_endpoint: str,
        account: Callable[..., Client]) -> None:
    ann = account("ann", "buyer")
    flood = raw_socket(zmq.DEALER)
    request = msgpack.packb({"op": "profile", "wsess_uid": ann.wsess_uid, "token": ann.token})
    for _ in range(2000):
        flood.send_multipart([b"", request])
    with Client(tcp_endpoint, timeout=10, retries=0) as other:
        other.register("bob", "correct horse battery")
        assert other.deposit(5) == 5  # served while the flood is in flight
    codes: dict[str, int] = {}
    while len(codes) < 2 or sum(codes.values()) < 2000:
        if not flood.poll(10_000):
            break
        reply = msgpack.unpackb(flood.recv_multipart()[-1])
        key = "ok" if reply["ok"] else reply["error"]
        codes[key] = codes.get(key, 0) + 1
    assert sum(codes.values()) == 2000  # every request answered, none lost or hung
    assert codes.get("UNAVAILABLE", 0) > 0  # past the per-connection cap: refused at once
    assert codes.get("ok", 0) >= 64
