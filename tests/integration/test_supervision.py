"""A failing actor: its callers get UNAVAILABLE, the supervisor restarts it,
service resumes, and a retry with the same req_id is applied once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actors import faults


@pytest.fixture
def fault() -> Iterator[Callable[[str], None]]:
    """`fault("stock-handler.in_batch")` arms a raise-once fault point; always disarmed."""
    armed: list[str] = []

    def arm(point: str) -> None:
        faults.ACTIVE[point] = "raise-once"
        armed.append(point)

    try:
        yield arm
    finally:
        for point in armed:
            faults.ACTIVE.pop(point, None)


def restarted(system: Any, count: int, wait_until: Any) -> None:
    wait_until(lambda: system.supervisor.restart_count == count,
               what=f"{count} supervisor restart(s)")


def test_failing_stock_handler_answers_unavailable_and_comes_back(
        system: Any, account: Any, fault: Any, wait_until: Any) -> None:
    sam = account("sam", "seller")
    sam.sell("cola", 35, 4)
    client = system.client(timeout=15, retries=0)
    fault("stock-handler.in_batch")
    reply = client.request({"op": "products"})  # a reply, not a client-side timeout
    assert reply["ok"] is False
    assert reply["error"] == "UNAVAILABLE"
    restarted(system, 1, wait_until)
    reply = client.request({"op": "products"})
    assert reply["ok"] is True, reply
    assert system.supervisor.restart_count == 1


def test_buy_retry_after_a_stock_handler_failure_is_applied_once(
        make_system: Any, tmp_path: Any, account: Any, fault: Any, wait_until: Any) -> None:
    system = make_system(data_dir=str(tmp_path))
    sam = account("sam", "seller", on=system)
    uid = sam.sell("cola", 35, 4)["product_uid"]
    ann = account("ann", deposit=50, on=system, timeout=15, retries=0)
    buy = {"op": "buy", "wsess_uid": ann.wsess_uid, "token": ann.token, "product_uid": uid,
           "amount": 1, "req_id": "buy-after-crash"}
    fault("stock-handler.in_batch")
    assert ann.request(buy)["error"] == "UNAVAILABLE"
    restarted(system, 1, wait_until)
    reply = ann.request(buy)
    assert reply["ok"] is True, reply
    assert (reply["spent"], reply["change"]) == (35, [10, 5])
    assert ann.request(buy) == reply
    assert ann.product(uid)["amount"] == 3
    assert ann.profile()["deposit"] == 0


def test_deposit_retry_after_a_gatekeeper_failure_is_applied_once(
        make_system: Any, tmp_path: Any, account: Any, fault: Any, wait_until: Any) -> None:
    system = make_system(data_dir=str(tmp_path))
    ann = account("ann", deposit=10, on=system, timeout=15, retries=0)
    deposit = {"op": "deposit", "wsess_uid": ann.wsess_uid, "token": ann.token, "amount": 20,
               "req_id": "dep-after-crash"}
    fault("gatekeeper.in_batch")
    assert ann.request(deposit)["error"] == "UNAVAILABLE"
    restarted(system, 1, wait_until)
    reply = ann.request(deposit)
    assert reply == {"ok": True, "deposit": 30, "req_id": "dep-after-crash"}
    assert ann.request(deposit) == reply
    assert ann.profile()["deposit"] == 30


def test_in_memory_state_survives_an_actor_restart(system: Any, account: Any, fault: Any,
                                                   wait_until: Any) -> None:
    """`--data-dir :memory:` keeps nothing on disk, but a restarted actor must not
    forget every product and account of the running system."""
    sam = account("sam", "seller")
    cola = sam.sell("cola", 35, 4)
    ann = account("ann", deposit=50, timeout=15, retries=0)
    fault("stock-handler.in_batch")
    assert ann.request({"op": "products"})["error"] == "UNAVAILABLE"
    restarted(system, 1, wait_until)
    fault("gatekeeper.in_batch")
    profile = {"op": "profile", "wsess_uid": ann.wsess_uid, "token": ann.token}
    assert ann.request(profile)["error"] == "UNAVAILABLE"
    restarted(system, 2, wait_until)
    assert ann.request({"op": "products"}) == {"ok": True, "products": [cola]}
    reply = ann.request(profile)
    assert reply["ok"] is True, reply
    assert reply["deposit"] == 50
