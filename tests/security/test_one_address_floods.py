"""One address flooding, another using the service, over real sockets (issue 21;
docs/design.md, "Fairness"). Distinct loopback source addresses play the two, as
in test_throttle_address.py: 127.0.0.2 floods, 127.0.0.3 is the normal user.

No timings are asserted here (the `vending abuse` command measures them): what
the normal user is answered is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import zmq
from test_throttle_address import PASSWORD, WRONG, auth, codes, from_address

from transport.client import Client

__all__ = ["from_address"]  # the fixture, shared with test_throttle_address.py

FLOOD, USER, STRANGER = "127.0.0.2", "127.0.0.3", "127.0.0.4"


def from_(source: str, endpoint: str) -> str:
    return endpoint.replace("tcp://", f"tcp://{source}:0;")


def send_all(socks: list[zmq.Socket[Any]], message: dict[str, Any], each: int) -> None:
    body = msgpack.packb(message, use_bin_type=True)
    for sock in socks:
        for _ in range(each):
            sock.send_multipart([b"", body])


def replies(socks: list[zmq.Socket[Any]], each: int,
            recv: Callable[[zmq.Socket[Any]], dict[str, Any]]) -> list[str]:
    return codes([recv(sock) for sock in socks for _ in range(each)])


def test_a_registration_flood_never_refuses_another_addresss_logins(
        tcp_endpoint: str, raw_socket: Callable[..., zmq.Socket[Any]],
        from_address: Callable[[str], Client], account: Callable[..., Client],
        recv: Callable[..., dict[str, Any]]) -> None:
    account("owner", "buyer")
    flood = [raw_socket(zmq.DEALER, from_(FLOOD, tcp_endpoint)) for _ in range(2)]
    send_all(flood, {"op": "auth", "token": "new_buyer", "username": "owner",
                     "password": PASSWORD}, 60)
    owner = from_address(USER)
    mine = codes([auth(owner, "owner", PASSWORD) for _ in range(10)])
    got = replies(flood, 60, recv)
    assert mine == ["ok"] * 10
    assert set(got) <= {"DUPLICATE_USERNAME", "RATE_LIMITED"}, got
    assert got.count("DUPLICATE_USERNAME") <= 30, "30 registrations a minute from one address"
    assert got.count("RATE_LIMITED") >= 90


def test_an_events_flood_never_refuses_another_addresss_deposits(
        tcp_endpoint: str, raw_socket: Callable[..., zmq.Socket[Any]],
        from_address: Callable[[str], Client], recv: Callable[..., dict[str, Any]]) -> None:
    buyer = from_address(USER)
    buyer.register("buyer1", PASSWORD)
    for _ in range(50):
        buyer.deposit(5)  # something for the reads to read
    flood = [raw_socket(zmq.DEALER, from_(FLOOD, tcp_endpoint)) for _ in range(4)]
    send_all(flood, {"op": "events", "source": "gatekeeper", "since": 0, "limit": 1000}, 60)
    deposits = [buyer.request({"op": "deposit", "amount": 5, "wsess_uid": buyer.wsess_uid,
                               "token": buyer.token}) for _ in range(20)]
    got = replies(flood, 60, recv)
    assert codes(deposits) == ["ok"] * 20
    assert set(got) <= {"ok", "RATE_LIMITED"}, "reads past the address's share: RATE_LIMITED"


def test_a_spray_from_twenty_addresses_spares_the_owner_at_a_known_address(
        from_address: Callable[[str], Client], account: Callable[..., Client]) -> None:
    account("victim", "buyer")
    owner = from_address(USER)
    assert auth(owner, "victim", PASSWORD)["ok"]  # USER is known from now on
    sprayers = [from_address(f"127.0.0.{10 + i}") for i in range(20)]
    for _ in range(5):  # 100 failures, 5 per address: only the account-wide key fills
        assert codes([auth(s, "victim", WRONG) for s in sprayers]) \
            == ["INVALID_CREDENTIALS"] * 20
    assert codes([auth(from_address(STRANGER), "victim", PASSWORD)]) == ["RATE_LIMITED"]
    mine = codes([auth(owner, "victim", PASSWORD) for _ in range(10)])
    assert mine.count("ok") >= 9, mine
    assert codes([auth(sprayers[0], "victim", PASSWORD)]) == ["RATE_LIMITED"]
