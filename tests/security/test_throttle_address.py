"""Failed logins over real sockets, from distinct loopback source addresses.

ZeroMQ connects from a chosen source with `tcp://SOURCE:0;HOST:PORT`, and the
front door reads the connection's `Peer-Address`: 127.0.0.2 plays the attacker,
127.0.0.3 the account's owner (docs/protocol.md §7, RATE_LIMITED; issue 14).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actors.system import VendingSystem
from transport.client import Client

PASSWORD = "correct horse battery"
WRONG = "wrong-password"
ATTACKER, OWNER = "127.0.0.2", "127.0.0.3"


@pytest.fixture
def from_address(tcp_endpoint: str) -> Iterator[Callable[[str], Client]]:
    """`from_address("127.0.0.2")` -> a Client whose connection comes from that address."""
    clients: list[Client] = []

    def make(source: str) -> Client:
        client = Client(tcp_endpoint.replace("tcp://", f"tcp://{source}:0;"), timeout=10,
                        retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def auth(client: Client, username: str, password: str, kind: str = "buyer",
         req_id: str | None = None) -> dict[str, Any]:
    message = {"op": "auth", "token": kind, "username": username, "password": password}
    if req_id is not None:
        message["req_id"] = req_id
    return client.request(message)


def codes(replies: list[dict[str, Any]]) -> list[str]:
    return ["ok" if r.get("ok") else str(r.get("error")) for r in replies]


def test_thirty_failures_from_one_address_then_rate_limited(
        tcp_endpoint: str, system: VendingSystem, account: Callable[..., Client]) -> None:
    account("victim", "buyer")
    with Client(tcp_endpoint, timeout=10) as attacker:
        # Different accounts each time, so only the address can be what is counted.
        got = codes([auth(attacker, f"nobody{i}", WRONG) for i in range(30)])
        assert got == ["INVALID_CREDENTIALS"] * 30
        assert codes([auth(attacker, "victim", PASSWORD)]) == ["RATE_LIMITED"]
    # In-process there is no address: another source, whose account was never failed.
    assert system.client().login("victim", PASSWORD)["ok"]


def test_an_attacker_does_not_lock_the_owner_out(
        from_address: Callable[[str], Client], account: Callable[..., Client]) -> None:
    account("victim", "buyer")
    attacker, owner = from_address(ATTACKER), from_address(OWNER)
    assert codes([auth(attacker, "victim", WRONG) for _ in range(10)]) \
        == ["INVALID_CREDENTIALS"] * 10
    assert codes([auth(attacker, "victim", PASSWORD) for _ in range(3)]) == ["RATE_LIMITED"] * 3
    mine = auth(owner, "victim", PASSWORD)
    assert mine["ok"] and mine["user_uid"] == "buyer_victim"


def test_a_known_req_id_is_no_way_around_the_throttle(
        from_address: Callable[[str], Client], account: Callable[..., Client]) -> None:
    """The probe of issue 14: wrong guesses replayed under the owner's login req_id."""
    account("victim", "buyer")
    attacker, owner = from_address(ATTACKER), from_address(OWNER)
    first = auth(owner, "victim", PASSWORD, req_id="login-1")
    assert first["ok"]
    guesses = [auth(attacker, "victim", f"guess-{i:04d}", req_id="login-1") for i in range(11)]
    assert codes(guesses) == ["INVALID_CREDENTIALS"] * 10 + ["RATE_LIMITED"]
    right = auth(attacker, "victim", PASSWORD, req_id="login-1")
    assert codes([right]) == ["RATE_LIMITED"] and "token" not in right
    assert auth(owner, "victim", PASSWORD, req_id="login-1") == first


def test_a_failed_login_does_not_squat_its_req_id(
        from_address: Callable[[str], Client], account: Callable[..., Client]) -> None:
    account("victim", "buyer")
    attacker, owner = from_address(ATTACKER), from_address(OWNER)
    assert codes([auth(attacker, "victim", WRONG, req_id="x")]) == ["INVALID_CREDENTIALS"]
    mine = auth(owner, "victim", PASSWORD, req_id="x")
    assert mine["ok"]
    assert owner.request({"op": "profile", "wsess_uid": mine["wsess_uid"],
                          "token": mine["token"]})["ok"]


def test_wrong_passwords_in_delete_user_are_throttled(
        from_address: Callable[[str], Client], account: Callable[..., Client]) -> None:
    victim = account("victim", "buyer")
    session = {"wsess_uid": victim.wsess_uid, "token": victim.token}
    attacker, owner = from_address(ATTACKER), from_address(OWNER)
    delete = {"op": "delete_user", **session}
    got = codes([attacker.request({**delete, "password": WRONG}) for _ in range(11)])
    assert got == ["INVALID_CREDENTIALS"] * 10 + ["RATE_LIMITED"]
    assert codes([attacker.request({**delete, "password": PASSWORD})]) == ["RATE_LIMITED"]
    assert codes([auth(attacker, "victim", PASSWORD)]) == ["RATE_LIMITED"]
    gone = owner.request({**delete, "password": PASSWORD})
    assert gone["ok"] and gone["user_uid"] == "buyer_victim"


def test_a_username_registered_again_is_a_new_account(
        from_address: Callable[[str], Client]) -> None:
    client = from_address(OWNER)
    old = auth(client, "phoenix", PASSWORD, kind="new_buyer", req_id="reg-1")
    assert old["ok"]
    assert client.request({"op": "delete_user", "password": PASSWORD, "req_id": "del-1",
                           "wsess_uid": old["wsess_uid"], "token": old["token"]})["ok"]
    new = auth(client, "phoenix", PASSWORD, kind="new_buyer", req_id="reg-1")
    assert new["ok"] and new["token"] != old["token"]
    profile = client.request({"op": "profile", "wsess_uid": new["wsess_uid"],
                              "token": new["token"]})
    assert profile["ok"] and profile["user_uid"] == "buyer_phoenix"
