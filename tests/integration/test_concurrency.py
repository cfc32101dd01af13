"""Many clients at once: no oversell, all or nothing, money conserved."""

from __future__ import annotations

import threading
from typing import Any

from vending.errors import VendingError

PASSWORD = "correct horse battery"
BUYERS = 20
UNITS = 10
COST = 35


def test_twenty_buyers_race_for_the_last_ten_units(system: Any, account: Any) -> None:
    sam = account("sam", "seller")
    uid = sam.sell("last cola", COST, UNITS)["product_uid"]
    start = threading.Barrier(BUYERS)
    results: dict[int, dict[str, Any]] = {}
    failures: list[BaseException] = []

    def buyer(n: int) -> None:
        client = system.client(timeout=15, retries=3)  # its socket is made in this thread
        try:
            client.register(f"buyer{n}", PASSWORD)
            assert client.deposit(50) == 50
            start.wait(timeout=30)
            try:
                results[n] = client.buy(uid, 1)
            except VendingError as exc:
                results[n] = {"ok": False, "error": exc.code}
            results[n]["profile"] = client.profile()
            results[n]["reset"] = client.reset()
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
            failures.append(exc)
            start.abort()
        finally:
            client.close()

    threads = [threading.Thread(target=buyer, args=(n,), name=f"buyer{n}")
               for n in range(BUYERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "a buyer thread hung"
    assert not failures, failures
    assert len(results) == BUYERS

    bought = [r for r in results.values() if r["ok"]]
    refused = [r for r in results.values() if not r["ok"]]
    assert len(bought) == UNITS
    assert len(refused) == BUYERS - UNITS
    assert {r["error"] for r in refused} == {"INSUFFICIENT_STOCK"}
    for r in bought:
        assert (r["product_uid"], r["amount"], r["spent"], r["deposit"]) == (uid, 1, COST, 0)
        assert r["change"] == [10, 5]
        assert r["profile"]["deposit"] == 0
        assert r["reset"] == []
    for r in refused:
        assert r["profile"]["deposit"] == 50  # nothing happened to them
        assert r["reset"] == [50]
    # Money in == spent + change + reset coins, summed over everyone.
    money_in = 50 * BUYERS
    money_out = sum(r["spent"] + sum(r["change"]) for r in bought) + \
        sum(sum(r["reset"]) for r in results.values())
    assert money_in == money_out
    assert sam.product(uid)["amount"] == 0
    assert sam.products()[0]["amount"] == 0


def test_concurrent_deposits_on_many_sessions_of_one_account(system: Any,
                                                             account: Any) -> None:
    account("ann")
    clients = [system.client(timeout=15) for _ in range(8)]
    for client in clients:
        client.login("ann", PASSWORD)
    failures: list[BaseException] = []

    def deposit(client: Any) -> None:
        try:
            for _ in range(10):
                client.deposit(5)
        except BaseException as exc:  # noqa: BLE001 - reported in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=deposit, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    assert clients[0].profile()["deposit"] == 8 * 10 * 5
