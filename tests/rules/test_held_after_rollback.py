"""Held units are counted from the reservations table again after a rollback
(vending/stock.py `reload_held`; the simulation found the bug, seed 67)."""

from __future__ import annotations

import pytest
from rules_world import Shop
from test_saga_steps import buy

from vending.call import Call
from vending.purchase import reserve, settle


def test_a_release_rolled_back_keeps_its_units_held(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=5, amount=1)
    with world.stock.db.transaction():
        reserve(world.stock, Call(buy(ann, uid), pid="P1"))
    assert world.stock.offer(uid).available == 0
    with pytest.raises(RuntimeError), world.stock.db.transaction():
        settle(world.stock, "P1", committed=False)  # the units would be free again...
        raise RuntimeError("storage failed before COMMIT")
    world.stock.reload_held()  # ...but the release rolled back: what the shell does then
    assert world.stock.offer(uid).available == 0
    assert world.stock.reservations() == ["P1"]


def test_every_hold_of_a_product_is_counted_again(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=5, amount=10)
    for pid, units in (("P1", 2), ("P2", 3)):
        with world.stock.db.transaction():
            reserve(world.stock, Call(buy(ann, uid, units), pid=pid))
    with pytest.raises(RuntimeError), world.stock.db.transaction():
        raise RuntimeError("any rollback reads the holds again")
    assert world.stock.offer(uid).available == 5
