"""The audit trail's rules (vending/events.py, docs/protocol.md §6a): what each effect
stores, with which fields, and that nothing else does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rules_world import PASSWORD, T0, World

from vending.errors import BadRequest
from vending.events import KEEP, TOPICS
from vending.requests import parse_request


def stored(world: World) -> list[dict[str, Any]]:
    """Both sources' stored events, as the `events` op answers them."""
    return [*world.acc.events.reply(0, 1000)["events"],
            *world.stock.events.reply(0, 1000)["events"]]


def topics(world: World, source: str) -> list[str]:
    log = world.acc.events if source == "gatekeeper" else world.stock.events
    return [e["topic"] for e in log.reply(0, 1000)["events"]]


def _every_topic(world: World) -> None:
    """One of each effect: registers, sells, updates, buys, resets, deletes."""
    ann, sam = world.register("buyer", "ann"), world.register("seller", "sam")
    cola = world.create(sam, "cola", 35, 3)
    world.op(sam, "sell", product_uid=cola, amount=2)
    world.deposit(ann, 50)
    assert world.op(ann, "buy", product_uid=cola, amount=1)["ok"]
    world.deposit(ann, 20)
    assert world.op(ann, "reset")["ok"]
    tea = world.create(sam, "tea", 40, 1)
    assert world.op(sam, "delete_product", product_uid=tea)["ok"]
    world.deposit(ann, 5)
    assert world.op(ann, "delete_user", password=PASSWORD)["ok"]
    world.create(sam, "gum", 5, 9)
    assert world.op(sam, "delete_user", password=PASSWORD)["ok"]  # and its purge


def test_every_topic_has_exactly_its_fields() -> None:
    world = World()
    _every_topic(world)
    seen = {e["topic"] for e in stored(world)}
    assert seen == set(TOPICS)
    for event in stored(world):
        fields = set(event) - {"topic", "source", "seq", "at"}
        extra = {"user_uid"} if event["topic"] in ("user", "user_deleted") \
            and event["role"] == "seller" else set()
        assert fields == TOPICS[event["topic"]] | extra, event
        assert isinstance(event["at"], float) and event["at"] == T0


def test_the_events_say_what_happened() -> None:
    world = World()
    _every_topic(world)
    assert topics(world, "gatekeeper") == ["user", "user", "deposit", "purchase", "deposit",
                                           "reset", "deposit", "user_deleted", "user_deleted"]
    assert topics(world, "stock-handler") == ["product", "product", "product", "product",
                                              "product_deleted", "product", "product_deleted",
                                              "product_deleted"]
    gk = world.acc.events.reply(0, 1000)["events"]
    assert gk[3] == {"topic": "purchase", "source": "gatekeeper", "seq": 4, "at": T0,
                     "product_uid": "p0000000001", "amount": 1, "spent": 35,
                     "change": [10, 5]}
    assert gk[5]["change"] == [20] and gk[7] == {
        "topic": "user_deleted", "source": "gatekeeper", "seq": 8, "at": T0, "role": "buyer",
        "change": [5]}
    assert gk[8]["user_uid"] == "seller_sam" and gk[8]["change"] == []
    sh = world.stock.events.reply(0, 1000)["events"]
    assert [(e.get("kind"), e.get("product", {}).get("amount")) for e in sh[:4]] == [
        ("created", 3), ("updated", 5), ("sold", 4), ("created", 1)]
    assert sh[4] == {"topic": "product_deleted", "source": "stock-handler", "seq": 5, "at": T0,
                     "product_uid": "p0000000002", "seller_uid": "seller_sam"}
    # the deleted seller's purge: one event per product left
    assert [e["product_uid"] for e in sh[6:]] == ["p0000000001", "p0000000003"]


def test_no_event_names_a_buyer_or_carries_a_secret() -> None:
    world = World()
    _every_topic(world)
    creds = world.acc.db.conn.execute("SELECT wsess_uid FROM sessions").fetchall()
    hashes = [r[0] for r in world.acc.db.conn.execute("SELECT pw_hash FROM users")]
    text = json.dumps(stored(world))
    for secret in ["buyer_ann", "ann", PASSWORD, "token", "wsess", "pw_hash",
                   *(c[0] for c in creds), *hashes]:
        assert secret not in text, secret


def test_refusals_and_replays_store_nothing() -> None:
    world = World()
    ann, sam = world.register("buyer", "ann"), world.register("seller", "sam")
    cola = world.create(sam, "cola", 35, 1)
    before = len(stored(world))
    for reply in (world.op(ann, "deposit", amount=3),                       # WRONG_AMOUNT
                  world.op(ann, "buy", product_uid=cola, amount=1),          # no deposit
                  world.op(sam, "deposit", amount=5),                        # BUYERS_ONLY
                  world.op(sam, "sell", product_uid=cola, amount=-2),        # no stock
                  world.auth("new_buyer", "ann")):                            # DUPLICATE
        assert not reply["ok"], reply
    assert len(stored(world)) == before
    assert world.op(ann, "deposit", amount=50, req_id="d1")["ok"]
    assert world.op(ann, "buy", product_uid=cola, amount=1, req_id="b1")["ok"]
    after = len(stored(world))
    assert world.op(ann, "deposit", amount=50, req_id="d1")["deposit"] == 50   # replays
    assert world.op(ann, "buy", product_uid=cola, amount=1, req_id="b1")["ok"]
    assert len(stored(world)) == after


def test_seq_has_no_holes_after_a_rollback_and_never_goes_back() -> None:
    world = World()
    ann = world.register("buyer", "ann")
    log = world.acc.events
    with pytest.raises(RuntimeError), world.acc.db.transaction():
        log.emit("deposit", amount=5)
        raise RuntimeError("rolled back")
    world.deposit(ann, 5)
    assert [e.seq for e in log.since(0, 10)] == [1, 2]
    world.tick(KEEP + 1)
    with world.acc.db.transaction():
        assert log.housekeeping() == 2
    assert log.since(0, 10) == [] and log.last_seq() == 2
    world.deposit(world.login("buyer", "ann"), 5)
    assert [e.seq for e in log.since(0, 10)] == [3]


def test_since_and_limit_page_through_the_store() -> None:
    world = World()
    ann = world.register("buyer", "ann")
    world.deposit(ann, *[5] * 9)
    log = world.acc.events
    assert [e.seq for e in log.since(3, 4)] == [4, 5, 6, 7]
    assert log.reply(10, 100) == {"ok": True, "events": [], "last_seq": 10}


@pytest.mark.parametrize("fields,name", [
    ({}, "source"), ({"source": "frontdoor"}, "source"), ({"source": b"gatekeeper"}, "source"),
    ({"source": "gatekeeper", "since": -1}, "since"),
    ({"source": "gatekeeper", "since": 1.0}, "since"),
    ({"source": "gatekeeper", "since": True}, "since"),
    ({"source": "gatekeeper", "since": 2**63}, "since"),
    ({"source": "gatekeeper", "limit": 0}, "limit"),
    ({"source": "gatekeeper", "limit": 1001}, "limit"),
])
def test_the_events_op_checks_its_fields(fields: dict[str, Any], name: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_request({"op": "events", **fields})
    assert name in info.value.message


def test_the_events_op_needs_no_session() -> None:
    req = parse_request({"op": "events", "source": "stock-handler", "since": 7, "limit": 1000})
    assert dict(req.args) == {"source": "stock-handler", "since": 7, "limit": 1000}


def test_the_events_op_answers_from_since_up_to_limit() -> None:
    """Through the op's rule (vending/events.py `read`), not the log's own API."""
    world = World()
    ann = world.register("buyer", "ann")
    world.deposit(ann, *[5] * 9)
    reply = world.call({"op": "events", "source": "gatekeeper", "since": 3, "limit": 4})
    assert [e["seq"] for e in reply["events"]] == [4, 5, 6, 7]
    every = world.call({"op": "events", "source": "gatekeeper"})  # from the start, 100
    assert [e["seq"] for e in every["events"]] == list(range(1, reply["last_seq"] + 1))
