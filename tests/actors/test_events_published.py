"""What the backend actors publish: a batch's events after its COMMIT, and nothing
of a batch rolled back or a request replayed (docs/protocol.md §6a). No thread: a
fake publisher stands in for the loop's PUB socket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from actor_harness import CONFIG, ENDS, Outbox, deliver
from test_backend_handlers import one, register, request

from actors import faults
from actors.gatekeeper import GatekeeperActor
from actors.wire import Status
from transport.loop import EventLoop
from vending.db import Database


class Published:
    """Stands in for the loop's `EventPublisher`: keeps (topic, map)."""

    wanted = True  # a subscriber is there

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        self.events.append((topic, body))

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        taken, self.events = self.events, []
        return taken


def buyer(gk: Any, name: str = "ann") -> dict[str, Any]:
    """A buyer registered outside any batch (its `user` event is not collected)."""
    cred = register(gk, "buyer", name)
    gk.events.take_committed()
    return cred


@pytest.fixture
def pub() -> Published:
    return Published()


@pytest.fixture
def gk(pub: Published) -> Iterator[Any]:
    actor = GatekeeperActor(EventLoop("unstarted-gatekeeper"), None, None, CONFIG,
                            lambda role: None)
    actor.open(Database(None, GatekeeperActor.schema), Outbox(), pub)
    yield actor
    actor.cleanup()


@pytest.fixture
def armed() -> Iterator[None]:
    yield
    faults.ACTIVE.pop("gatekeeper.in_batch", None)
    faults.ACTIVE.pop("gatekeeper.commit", None)


def test_a_batch_publishes_its_events_after_commit_in_order(gk: Any, pub: Published) -> None:
    ann = buyer(gk)
    seen_at_send: list[int] = []
    send = gk.push.send
    gk.push.send = lambda e, m: (seen_at_send.append(len(pub.events)), send(e, m))
    deliver(gk, request("deposit", ann, amount=5), request("deposit", ann, amount=10))
    assert pub.take() == [
        ("deposit", {"source": "gatekeeper", "seq": 2, "at": pytest.approx(0, abs=1e10),
                     "amount": 5}),
        ("deposit", {"source": "gatekeeper", "seq": 3, "at": pytest.approx(0, abs=1e10),
                     "amount": 10})]
    assert seen_at_send == [2, 2]  # published before the statuses leave, after commit


def test_a_rolled_back_batch_publishes_nothing(gk: Any, pub: Published, armed: None) -> None:
    ann = buyer(gk)
    faults.ACTIVE["gatekeeper.in_batch"] = "raise-once"
    with pytest.raises(faults.InjectedFault):
        deliver(gk, request("deposit", ann, amount=5), request("deposit", ann, amount=10))
    assert pub.take() == []
    assert {s.reply["error"] for s in gk.push.take(ENDS.status)} == {"UNAVAILABLE"}
    deliver(gk, request("deposit", ann, amount=20))   # seq goes on without a hole
    assert [(t, b["seq"], b["amount"]) for t, b in pub.take()] == [("deposit", 2, 20)]


def test_a_storage_fault_publishes_nothing_of_what_it_rolled_back(
        gk: Any, pub: Published, armed: None) -> None:
    ann = buyer(gk)
    faults.ACTIVE["gatekeeper.commit"] = "full"
    deliver(gk, request("deposit", ann, amount=5))
    deliver(gk, request("deposit", ann, amount=10))   # per-message transactions now
    assert gk.storage is not None and pub.take() == []
    del faults.ACTIVE["gatekeeper.commit"]
    deliver(gk, request("deposit", ann, amount=20))
    assert [(b["seq"], b["amount"]) for _, b in pub.take()] == [(2, 20)]


def test_a_replay_publishes_nothing(gk: Any, pub: Published) -> None:
    ann = buyer(gk)
    deliver(gk, request("deposit", ann, amount=5, req_id="r1"))
    assert len(pub.take()) == 1
    gk.push.take()
    deliver(gk, request("deposit", ann, amount=5, req_id="r1"))
    assert one(gk.push, ENDS.status, Status).reply["deposit"] == 5
    assert pub.take() == []


def test_the_events_op_answers_from_the_store(gk: Any, pub: Published) -> None:
    ann = buyer(gk)
    deliver(gk, request("deposit", ann, amount=5))
    gk.push.take()
    deliver(gk, request("events", source="gatekeeper", since=1))
    reply = one(gk.push, ENDS.status, Status).reply
    assert reply["last_seq"] == 2 and [e["topic"] for e in reply["events"]] == ["deposit"]
    deliver(gk, request("events", source="stock-handler"))   # misrouted: refused
    assert one(gk.push, ENDS.status, Status).reply["error"] == "BAD_REQUEST"
