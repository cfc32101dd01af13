"""The values, not only the keys, of the events that name a seller or an amount
(docs/protocol.md §6a): a new seller, a purged seller's products, a deposit."""

from __future__ import annotations

from rules_world import PASSWORD, T0, World


def test_a_new_seller_is_named_and_a_new_buyer_is_not() -> None:
    world = World()
    world.register("seller", "sam")
    world.register("buyer", "ann")
    assert world.acc.events.reply(0, 10)["events"] == [
        {"topic": "user", "source": "gatekeeper", "seq": 1, "at": T0, "role": "seller",
         "user_uid": "seller_sam"},
        {"topic": "user", "source": "gatekeeper", "seq": 2, "at": T0, "role": "buyer"},
    ]


def test_a_purged_sellers_products_name_the_seller() -> None:
    world = World()
    sam = world.register("seller", "sam")
    cola, tea = world.create(sam, "cola", 35, 2), world.create(sam, "tea", 40, 1)
    assert world.op(sam, "delete_user", password=PASSWORD)["ok"]
    # the world follows a seller's deletion with the purge, as the gatekeeper does
    assert world.last is not None and world.last.purge is not None
    assert world.acc.purges.pending() == []
    deleted = [e for e in world.stock.events.reply(0, 10)["events"]
               if e["topic"] == "product_deleted"]
    assert [(e["product_uid"], e["seller_uid"]) for e in deleted] == [
        (cola, "seller_sam"), (tea, "seller_sam")]


def test_a_deposit_event_carries_the_coin() -> None:
    world = World()
    ann = world.register("buyer", "ann")
    world.deposit(ann, 20, 5)
    deposits = [e for e in world.acc.events.reply(0, 10)["events"] if e["topic"] == "deposit"]
    assert [e["amount"] for e in deposits] == [20, 5]
