"""Failed logins are throttled per source address (ZeroMQ Peer-Address on tcp)."""

from __future__ import annotations

from collections.abc import Callable

from actors.system import VendingSystem
from transport.client import Client


def test_thirty_failures_from_one_address_then_rate_limited(
        tcp_endpoint: str, system: VendingSystem, account: Callable[..., Client]) -> None:
    account("victim", "buyer")
    with Client(tcp_endpoint, timeout=10) as attacker:
        # Different accounts each time, so only the address can be what is counted.
        codes = [attacker.request({"op": "auth", "token": "buyer", "username": f"nobody{i}",
                                   "password": "wrong-password"})["error"] for i in range(30)]
        assert codes == ["INVALID_CREDENTIALS"] * 30
        refused = attacker.request({"op": "auth", "token": "buyer", "username": "victim",
                                    "password": "correct horse battery"})
        assert refused["error"] == "RATE_LIMITED"
    # Over inproc there is no address: the account itself was never failed, so it logs in.
    assert system.client().login("victim", "correct horse battery")["ok"]
