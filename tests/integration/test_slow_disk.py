"""A slow disk: every writing commit stalls (injected at the commit point,
actors/faults.py `<role>.commit=delay:SECONDS`, as a slow fsync would).

Requests keep their deadline (past it: UNAVAILABLE, and work found stale in a
fifo is dropped, not applied), the server keeps serving meanwhile, and nothing
acknowledged is lost. How much throughput falls is measured by
`vending bench`, not here.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors import faults
from actors.system import VendingSystem
from tools.ledger import Ledger
from transport.client import Client

POINT = "gatekeeper.commit"


@pytest.fixture
def slow_disk() -> Iterator[Callable[[float], None]]:
    """`slow_disk(0.1)`: every writing commit of the gatekeeper and stock handler
    stalls that long; `slow_disk(0)` lifts it. Always lifted in teardown."""
    def set_delay(seconds: float) -> None:
        for role in ("gatekeeper", "stock-handler"):
            if seconds:
                faults.ACTIVE[f"{role}.commit"] = f"delay:{seconds}"
            else:
                faults.ACTIVE.pop(f"{role}.commit", None)
    faults.HITS.clear()
    try:
        yield set_delay
    finally:
        set_delay(0)


def deposit(client: Client, amount: int, req_id: str) -> dict[str, Any]:
    return client.request({"op": "deposit", "wsess_uid": client.wsess_uid,
                           "token": client.token, "amount": amount, "req_id": req_id})


def test_requests_past_their_deadline_get_unavailable_and_stale_work_is_dropped(
        make_system: Callable[..., VendingSystem], tmp_path: Path,
        account: Callable[..., Client], slow_disk: Callable[[float], None],
        wait_until: Callable[..., Any]) -> None:
    # A thread per part: the stalled commit holds the gatekeeper's thread only, so the
    # front door keeps its deadlines and the stock handler serves (with `loops="one"`,
    # the default, the stall holds the whole process: the next test).
    system = make_system(data_dir=str(tmp_path), request_timeout=1.0, loops="per-part")
    ann = account("ann", on=system, retries=0)
    bob = account("bob", on=system, retries=0)
    sam = account("sam", "seller", on=system)
    uid = sam.sell("cola", 35, 3)["product_uid"]
    slow_disk(1.5)  # longer than the 1 s deadline

    first: dict[str, Any] = {}
    sender = threading.Thread(target=lambda: first.update(deposit(ann, 5, "ann-slow")))
    sender.start()
    # ann's deposit is written and its commit is stalling: bob's now waits in the fifo
    # past its deadline.
    wait_until(lambda: faults.HITS.get(POINT, 0) >= 1, what="ann's commit to stall")
    late = deposit(bob, 10, "bob-stale")
    assert late["error"] == "UNAVAILABLE" and "not answered in time" in late["message"], late
    # The server keeps serving what does not need the stalled disk. (Through bob's
    # client: ann's may still be waiting in the sender thread, and a client is used
    # by one thread at a time.)
    assert bob.ping()
    assert [p["product_uid"] for p in bob.products()] == [uid]
    sender.join()
    assert first["error"] == "UNAVAILABLE", first  # answered at its deadline
    assert "not answered in time" in first["message"]

    slow_disk(0)
    # ann's commit went through after her deadline: the retry replays it, once.
    assert deposit(ann, 5, "ann-slow")["deposit"] == 5
    assert ann.profile()["deposit"] == 5
    # bob's was found stale in the fifo and dropped: nothing of it applied ...
    assert bob.profile()["deposit"] == 0
    # ... so its retry applies it now, once.
    assert deposit(bob, 10, "bob-stale")["deposit"] == 10
    assert deposit(bob, 10, "bob-stale")["deposit"] == 10
    assert bob.profile()["deposit"] == 10
    assert system.supervisor is not None and system.supervisor.restart_count == 0


def test_a_slow_disk_slows_writes_but_loses_nothing(
        make_system: Callable[..., VendingSystem], tmp_path: Path,
        account: Callable[..., Client], slow_disk: Callable[[float], None]) -> None:
    """Eight buyers and a seller writing at once on a 100 ms commit: every request
    answered within its deadline (batching shares the stall), all acknowledged
    effects survive a restart, and money and stock are conserved."""
    system = make_system(data_dir=str(tmp_path))
    sam = account("sam", "seller", on=system)
    uid = sam.sell("cola", 5, 1000)["product_uid"]
    buyers = [account(f"b{i}", on=system, retries=0) for i in range(8)]
    ledger = Ledger()
    ledger.added[uid] = 1000
    replies: list[dict[str, Any]] = []
    lock = threading.Lock()
    slow_disk(0.1)

    def shop(name: str, client: Client) -> None:
        for n in range(6):
            message = {"op": "deposit", "amount": 10} if n % 2 == 0 else \
                {"op": "buy", "product_uid": uid, "amount": 1}
            message.update(wsess_uid=client.wsess_uid, token=client.token,
                           req_id=uuid.uuid4().hex)
            reply = client.request(message)
            ledger.record(name, message, reply)
            with lock:
                replies.append(reply)

    workers = [threading.Thread(target=shop, args=(f"b{i}", c)) for i, c in enumerate(buyers)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(replies) == 48
    assert [r for r in replies if not r["ok"]] == []
    assert faults.HITS.get(POINT, 0) >= 1  # the delay was really in the way
    slow_disk(0)

    sessions = {f"b{i}": {"wsess_uid": c.wsess_uid or "", "token": c.token or ""}
                for i, c in enumerate(buyers)}
    system.stop()
    again = make_system(data_dir=str(tmp_path))
    with again.client(retries=0) as client:
        assert ledger.problems(client, sessions) == []
