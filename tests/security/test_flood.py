"""One connection flooding requests cannot take the front door from the others."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest
import zmq

from actors import faults
from actors.system import VendingSystem
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
    # refused at once: one session, so either cap may answer; the next test tells them apart
    assert codes.get("UNAVAILABLE", 0) > 0
    assert codes.get("ok", 0) >= 64


PASSWORD = "correct horse battery"
WAIT = 10.0
#: The front door's per-connection bound (FrontDoor max_pending_per_client).
PER_CONNECTION = 64
HELD = "gatekeeper.in_batch"


@pytest.fixture
def hold_gatekeeper() -> Iterator[Callable[[], Callable[[], None]]]:
    """`release = hold_gatekeeper()`: the gatekeeper blocks on its next message until
    `release()`; released in teardown whatever happens."""
    gates: list[threading.Event] = []

    def release() -> None:
        faults.ACTIVE.pop(HELD, None)
        for gate in gates:
            gate.set()

    def arm() -> Callable[[], None]:
        gates.append(faults.hold(HELD))
        return release

    try:
        yield arm
    finally:
        release()


# Held, the gatekeeper holds its own thread, not the front door's.
@pytest.mark.parametrize("system", [{"loops": "per-part"}], indirect=True)
def test_the_per_connection_cap_holds_with_many_sessions_on_one_connection(
        system: VendingSystem, raw_socket: Callable[..., Any],
        recv: Callable[..., dict[str, Any]], account: Callable[..., Client],
        hold_gatekeeper: Callable[[], Callable[[], None]]) -> None:
    """80 deposits from 8 sessions (10 each, far under the per-session cap of 64)
    pipelined on one DEALER while the gatekeeper is held: the connection's first 64 stay
    in flight, the last 16 are refused at once, and another connection is served."""
    ann = account("ann", "buyer")
    sessions = [ann]
    for _ in range(7):
        sessions.append(system.client(timeout=WAIT))
        sessions[-1].login("ann", PASSWORD)
    release = hold_gatekeeper()
    flood = raw_socket(zmq.DEALER)
    total = 80
    for i in range(total):
        cred = sessions[i % len(sessions)]
        flood.send_multipart([b"", msgpack.packb({
            "op": "deposit", "wsess_uid": cred.wsess_uid, "token": cred.token, "amount": 5,
            "req_id": f"d{i}"})])

    refused = [recv(flood) for _ in range(total - PER_CONNECTION)]
    assert [r["req_id"] for r in refused] == [f"d{i}" for i in range(PER_CONNECTION, total)]
    assert {r["error"] for r in refused} == {"UNAVAILABLE"}
    assert all("in flight" in r["message"] for r in refused), refused
    other = raw_socket(zmq.DEALER)
    other.send_multipart([b"", msgpack.packb({"op": "products"})])
    assert recv(other) == {"ok": True, "products": []}  # its own budget, served meanwhile
    assert not flood.poll(0)  # the 64 admitted ones are still held, none answered

    release()
    admitted = [recv(flood) for _ in range(PER_CONNECTION)]
    assert sorted(r["req_id"] for r in admitted) == sorted(f"d{i}" for i in range(PER_CONNECTION))
    assert all(r["ok"] for r in admitted), admitted
    assert ann.profile()["deposit"] == 5 * PER_CONNECTION  # exactly the admitted ones applied
