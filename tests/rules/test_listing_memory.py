"""The full products listing is served from memory between writes (vending/stock.py
`_every_product`): whatever changes the table or the units held shows at the next
listing, and a rolled-back change never does."""

from __future__ import annotations

from typing import Any

import pytest
from rules_world import Shop
from test_saga_steps import buy

from vending.call import Call
from vending.purchase import reserve, settle


def listed(shop: Shop) -> dict[str, tuple[str, int]]:
    reply = shop[0].op(None, "products")
    return {p["product_uid"]: (p["product_name"], p["amount"]) for p in reply["products"]}


def test_a_write_of_any_kind_shows_at_the_next_listing(shop: Shop) -> None:
    world, _, sam = shop
    tea = world.create(sam, "tea", cost=5, amount=3)
    assert listed(shop) == {tea: ("tea", 3)}
    cola = world.create(sam, "cola", cost=5, amount=1)
    assert listed(shop) == {tea: ("tea", 3), cola: ("cola", 1)}
    assert world.op(sam, "sell", product_uid=tea, amount=2, product_name="green tea")["ok"]
    assert listed(shop) == {tea: ("green tea", 5), cola: ("cola", 1)}
    assert world.op(sam, "delete_product", product_uid=cola)["ok"]
    assert listed(shop) == {tea: ("green tea", 5)}


def test_units_held_and_sold_show_at_the_next_listing(shop: Shop) -> None:
    world, ann, sam = shop
    tea = world.create(sam, "tea", cost=5, amount=3)
    assert listed(shop) == {tea: ("tea", 3)}
    with world.stock.db.transaction():
        reserve(world.stock, Call(buy(ann, tea, 2), pid="P1"))
    assert listed(shop) == {tea: ("tea", 1)}  # held: not shown
    with world.stock.db.transaction():
        settle(world.stock, "P1", committed=True)
    assert listed(shop) == {tea: ("tea", 1)}  # sold
    assert world.stock.db.conn.execute("SELECT amount FROM products").fetchone()[0] == 1


def test_a_change_rolled_back_after_a_listing_is_never_listed(shop: Shop) -> None:
    world, _, sam = shop
    tea = world.create(sam, "tea", cost=5, amount=3)
    stock, conn = world.stock, world.stock.db.conn
    with pytest.raises(RuntimeError), stock.db.transaction():
        conn.execute("UPDATE products SET product_name='gone', amount=0, added=added-3"
                     " WHERE product_uid=?", (tea,))
        inside: Any = stock.listing()[0]
        assert [(p["product_name"], p["amount"]) for p in inside] == [("gone", 0)]
        raise RuntimeError("storage failed before COMMIT")
    assert listed(shop) == {tea: ("tea", 3)}


def test_a_listing_is_the_tables_rows_whoever_wrote_them(shop: Shop) -> None:
    world, _, sam = shop
    tea = world.create(sam, "tea", cost=5, amount=3)
    assert listed(shop) == {tea: ("tea", 3)}
    with world.stock.db.transaction() as conn:  # not through any rule
        conn.execute("UPDATE products SET product_name='chai' WHERE product_uid=?", (tea,))
    assert listed(shop) == {tea: ("chai", 3)}


def test_a_full_listing_asked_again_with_nothing_written_runs_no_sql(shop: Shop) -> None:
    """What the memory is for (every client's browse is a full listing): read once
    from the file, then, with nothing written since, answered with no statement,
    filtered by name or not."""
    world, _, sam = shop
    tea = world.create(sam, "tea", cost=5, amount=3)
    stock = world.stock
    statements: list[str] = []
    stock.db.conn.set_trace_callback(statements.append)
    try:
        assert [p["product_uid"] for p in stock.listing()[0]] == [tea]
        assert len(statements) == 1, statements
        assert [p["product_uid"] for p in stock.listing()[0]] == [tea]
        assert [p["product_uid"] for p in stock.listing(name="TE")[0]] == [tea]
        assert len(statements) == 1, statements
    finally:
        stock.db.conn.set_trace_callback(None)


def test_a_listing_shows_each_product_as_the_product_op_does(shop: Shop) -> None:
    """Every field of each listed product, whichever way the listing is read (from
    memory, or by seller, page or name from the file), units held not shown."""
    world, ann, sam = shop
    tea = world.create(sam, "tea", cost=5, amount=3)
    cola = world.create(sam, "cola", cost=35, amount=2)
    with world.stock.db.transaction():
        reserve(world.stock, Call(buy(ann, tea, 1), pid="P1"))
    shown = {"product_uid": tea, "seller_uid": sam["user_uid"], "product_name": "tea",
             "cost": 5, "amount": 2}
    assert world.product(tea)["product"] == shown
    assert [p["product_uid"] for p in world.op(None, "products")["products"]] == [tea, cola]
    for fields in ({}, {"seller_uid": sam["user_uid"]}, {"limit": 5}, {"after": "p"},
                   {"name": "TEA"}):
        listed = world.op(None, "products", **fields)["products"]
        assert listed == [world.product(p["product_uid"])["product"] for p in listed]
        assert shown in listed, fields
