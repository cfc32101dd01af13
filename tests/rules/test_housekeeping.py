"""Housekeeping bounds storage: what is past its keeping time goes, nothing younger.

The keeping side (48 hours, docs/protocol.md §4; docs/design.md reading 4) is in
test_idempotency.py; these pin the forgetting side to its edges, one second either way.
"""

from __future__ import annotations

from rules_world import Shop, World

from vending import SessionPolicy


def rows(world: World, sql: str) -> list[tuple[object, ...]]:
    return list(world.acc.db.conn.execute(sql))


def housekeeping(world: World) -> None:
    with world.acc.db.transaction():
        world.acc.housekeeping()


def test_req_ids_and_purchases_past_the_ttl_are_forgotten_younger_ones_kept(
        shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=5, amount=5)
    world.deposit(ann, 5)
    world.op(ann, "buy", product_uid=uid, amount=1, req_id="old")
    with world.acc.db.transaction():
        world.acc.book.fence("P-old-abandoned")
    world.tick(world.acc.idem_ttl - 1)
    again = world.login("buyer", "ann")
    world.deposit(again, 5)
    world.op(again, "buy", product_uid=uid, amount=1, req_id="young")
    with world.acc.db.transaction():
        world.acc.book.fence("P-young-abandoned")
    world.tick(2)  # "old" is now ttl + 1 old, "young" 2 seconds
    housekeeping(world)
    assert rows(world, "SELECT req_id FROM idem WHERE req_id IN ('old', 'young')") \
        == [("young",)]
    assert len(rows(world, "SELECT * FROM purchases")) == 1
    assert rows(world, "SELECT purchase_id FROM aborted") == [("P-young-abandoned",)]


def test_sessions_are_forgotten_only_past_keep_ended_after_their_end() -> None:
    policy = SessionPolicy(idle=100.0, keep_ended=1000.0)
    world = World(policy=policy)
    world.register("buyer", "ann")  # idle from now on: it expires after 100 s
    ended = world.login("buyer", "ann")
    world.op(ended, "logout")
    world.tick(policy.keep_ended + policy.idle - 1)
    housekeeping(world)
    assert len(rows(world, "SELECT * FROM sessions")) == 1  # the idle one, 1 s short
    world.tick(2)
    housekeeping(world)
    assert rows(world, "SELECT * FROM sessions") == []


def test_stock_forgets_req_ids_past_the_ttl_and_keeps_younger_ones(shop: Shop) -> None:
    world, _, sam = shop
    world.op(sam, "sell", product_name="old", cost=5, amount=1, req_id="old")
    world.tick(world.stock.idem_ttl - 1)
    again = world.login("seller", "sam")
    world.op(again, "sell", product_name="young", cost=5, amount=1, req_id="young")
    world.tick(2)
    with world.stock.db.transaction():
        world.stock.housekeeping()
    kept = list(world.stock.db.conn.execute("SELECT req_id FROM idem"))
    assert kept == [("young",)]
