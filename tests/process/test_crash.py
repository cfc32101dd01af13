"""SIGKILL `vending serve` under load, restart it, re-send what was lost: nothing
acknowledged is lost, nothing is applied twice, money and units are conserved.

Every check uses only what the clients themselves were told (docs/design.md, Guarantees).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from transport.client import Client
from vending.errors import Unavailable

PASSWORD = "correct horse battery"
COINS = (5, 10, 20, 50, 100)
BUYERS, SELLERS, CYCLES = 4, 2, 2


@dataclass
class Actor:
    """One account driven by one thread: its session and every request it made."""

    name: str
    role: str
    wsess_uid: str
    token: str
    product: str = ""  # a seller's own product
    acked: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def next_request(self, products: list[str]) -> dict[str, Any]:
        n = next(self.counter)
        base = {"wsess_uid": self.wsess_uid, "token": self.token, "req_id": f"{self.name}-{n}"}
        if self.role == "seller":
            return {**base, "op": "sell", "product_uid": self.product, "amount": 3}
        if n % 7 == 6:
            return {**base, "op": "reset"}
        if n % 3 == 2:
            return {**base, "op": "buy", "product_uid": products[n % len(products)],
                    "amount": 1 + n % 2}
        return {**base, "op": "deposit", "amount": COINS[n % len(COINS)]}


def drive(actor: Actor, endpoint: str, products: list[str], stop: threading.Event) -> None:
    """Send one request after another until told to stop or a reply is lost."""
    with Client(endpoint, timeout=2, retries=0) as client:
        while not stop.is_set():
            message = actor.next_request(products)
            try:
                reply = client.request(message)
            except Unavailable:
                actor.lost.append(message)  # no reply: the server died under it
                return
            if reply.get("error") == "UNAVAILABLE":
                actor.lost.append(message)  # not final: to be re-sent
                return
            actor.acked.append((message, reply))


def resend(actor: Actor, endpoint: str) -> None:
    """Re-send lost requests with their own req_id until each has a final reply."""
    with Client(endpoint, timeout=5, retries=3) as client:
        for message in actor.lost:
            deadline = time.monotonic() + 30
            while True:
                reply = client.request(message)
                if reply.get("error") != "UNAVAILABLE":
                    break
                assert time.monotonic() < deadline, f"{message['req_id']} stays UNAVAILABLE"
            actor.acked.append((message, reply))
    actor.lost.clear()


def load_then_kill(server: Any, actors: list[Actor], endpoint: str, products: list[str],
                   wait_until: Any, cycle: int) -> None:
    """Every actor drives load until 60 more replies are acknowledged, then the server
    is SIGKILLed while every thread is mid-stream."""
    stop = threading.Event()
    threads = [threading.Thread(target=drive, args=(a, endpoint, products, stop),
                                name=a.name) for a in actors]
    target = sum(len(a.acked) for a in actors) + 60
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda goal=target: sum(len(a.acked) for a in actors) >= goal,
                   timeout=30, what=f"load in cycle {cycle}")
    finally:
        server.kill()
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not any(t.is_alive() for t in threads)


@pytest.mark.slow
def test_sigkill_under_load_loses_nothing(serve: Any, tmp_path: Path, wait_until: Any) -> None:
    data = tmp_path / "data"
    server = serve(data, "--request-timeout", "3")
    endpoint = server.endpoint
    actors: list[Actor] = []
    products: list[str] = []
    initial_units = 50
    with Client(endpoint, timeout=10) as setup:
        for n in range(SELLERS):
            setup.register(f"seller{n}", PASSWORD, "seller")
            products.append(setup.sell(f"item{n}", 5 * (n + 3), initial_units)["product_uid"])
            actors.append(Actor(f"seller{n}", "seller", setup.wsess_uid or "", setup.token or "",
                                product=products[-1]))
        for n in range(BUYERS):
            setup.register(f"buyer{n}", PASSWORD)
            actors.append(Actor(f"buyer{n}", "buyer", setup.wsess_uid or "", setup.token or ""))

    for cycle in range(CYCLES):
        load_then_kill(server, actors, endpoint, products, wait_until, cycle)
        server = serve(data, "--request-timeout", "3", endpoint=endpoint)
        assert any(a.lost for a in actors), "the kill landed between requests"
        for actor in actors:
            resend(actor, endpoint)

    # -- the books, from the clients' own acknowledged records -----------------
    sold = dict.fromkeys(products, 0)
    added = dict.fromkeys(products, initial_units)
    seen_req_ids: set[str] = set()
    with Client(endpoint, timeout=10) as check:
        for actor in actors:
            for message, reply in actor.acked:
                assert message["req_id"] not in seen_req_ids
                seen_req_ids.add(message["req_id"])
                assert reply.get("req_id") == message["req_id"]
            ok = [(m, r) for m, r in actor.acked if r.get("ok")]
            if actor.role == "seller":
                for m, _ in ok:
                    added[m["product_uid"]] += m["amount"]
                continue
            deposited = sum(m["amount"] for m, _ in ok if m["op"] == "deposit")
            spent = sum(r["spent"] for m, r in ok if m["op"] == "buy")
            change = sum(sum(r["change"]) for m, r in ok if m["op"] == "buy")
            returned = sum(sum(r["change"]) for m, r in ok if m["op"] == "reset")
            for m, _ in ok:
                if m["op"] == "buy":
                    sold[m["product_uid"]] += m["amount"]
            check.wsess_uid, check.token = actor.wsess_uid, actor.token
            balance = check.profile()["deposit"]
            assert balance >= 0
            assert deposited == balance + spent + change + returned, actor.name
            assert deposited > 0
        for uid in products:
            left = check.product(uid)["amount"]
            assert left >= 0
            assert added[uid] == left + sold[uid], uid
    assert sum(sold.values()) > 0
