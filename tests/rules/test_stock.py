"""Stock: products, sellers' changes, reservations held by purchases in flight."""

from __future__ import annotations

from pathlib import Path

import pytest
from rules_world import Shop, error
from stock_helpers import product_of, products_of, reserve_at

from vending import STOCK_SCHEMA, Database, Grant, Request, Stock, parse_request
from vending.call import Call
from vending.purchase import ChargeStep, settle

CRED = {"wsess_uid": "s_x", "token": "t"}


def buy_request(uid: str, amount: int) -> Request:
    return parse_request({"op": "buy", "product_uid": uid, "amount": amount, **CRED})


def test_create_update_delete(shop: Shop) -> None:
    world, _, sam = shop
    created = world.op(sam, "sell", product_name="cola", cost=35, amount=3)
    product = created["product"]
    uid = product["product_uid"]
    assert product == {"product_uid": uid, "seller_uid": "seller_sam", "product_name": "cola",
                       "cost": 35, "amount": 3}
    assert world.product(uid) == {"ok": True, "product": product}
    updated = world.op(sam, "sell", product_uid=uid, product_name="cola zero", cost=40,
                       amount=2)["product"]
    assert updated == {**product, "product_name": "cola zero", "cost": 40, "amount": 5}
    assert world.op(sam, "sell", product_uid=uid, amount=-5)["product"]["amount"] == 0
    assert world.op(sam, "sell", product_uid=uid, cost=45)["product"] == {
        **updated, "cost": 45, "amount": 0}
    assert world.op(sam, "delete_product", product_uid=uid) == {"ok": True, "product_uid": uid}
    assert error(world.product(uid)) == "PRODUCT_NOT_FOUND"
    assert world.products() == {"ok": True, "products": []}


def test_create_with_zero_units(shop: Shop) -> None:
    world, _, sam = shop
    uid = world.create(sam, amount=0)
    assert world.units(uid) == 0


def test_product_uids_are_never_reused(shop: Shop) -> None:
    world, _, sam = shop
    first = world.create(sam)
    world.op(sam, "delete_product", product_uid=first)
    second = world.create(sam)
    assert second != first
    assert error(world.product(first)) == "PRODUCT_NOT_FOUND"


@pytest.mark.parametrize("cost", [0, -5, 7, 101, 100_005, 1_000_000])
def test_wrong_cost(shop: Shop, cost: int) -> None:
    world, _, sam = shop
    assert error(world.op(sam, "sell", product_name="x", cost=cost, amount=1)) == "WRONG_COST"
    uid = world.create(sam, cost=35)
    assert error(world.op(sam, "sell", product_uid=uid, cost=cost)) == "WRONG_COST"
    assert world.product(uid)["product"]["cost"] == 35
    assert len(world.products()["products"]) == 1


@pytest.mark.parametrize("cost", [5, 100_000])
def test_cost_bounds_accepted(shop: Shop, cost: int) -> None:
    world, _, sam = shop
    assert world.op(sam, "sell", product_name="x", cost=cost, amount=1)["product"]["cost"] == cost


def test_not_owner(shop: Shop) -> None:
    world, _, sam = shop
    uid = world.create(sam, amount=4)
    tom = world.register("seller", "tom")
    assert error(world.op(tom, "sell", product_uid=uid, amount=1)) == "NOT_OWNER"
    assert error(world.op(tom, "sell", product_uid=uid, cost=7)) == "NOT_OWNER"  # before cost
    assert error(world.op(tom, "delete_product", product_uid=uid)) == "NOT_OWNER"
    assert world.units(uid) == 4


def test_product_not_found(shop: Shop) -> None:
    world, _, sam = shop
    assert error(world.op(sam, "sell", product_uid="p404", amount=1)) == "PRODUCT_NOT_FOUND"
    assert error(world.op(sam, "sell", product_uid="p404", cost=7)) == "PRODUCT_NOT_FOUND"
    assert error(world.op(sam, "delete_product", product_uid="p404")) == "PRODUCT_NOT_FOUND"
    assert error(world.product("p404")) == "PRODUCT_NOT_FOUND"


def test_buyers_cannot_sell(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam)
    assert error(world.op(ann, "sell", product_name="x", cost=7, amount=1)) == "SELLERS_ONLY"
    assert error(world.op(ann, "sell", product_uid="p404", amount=1)) == "SELLERS_ONLY"
    assert error(world.op(ann, "delete_product", product_uid=uid)) == "SELLERS_ONLY"
    assert error(world.op({**ann, "token": "bad"}, "sell", product_uid="p404", amount=1)) \
        == "UNAUTHORIZED"


def test_taking_out_more_than_held_is_insufficient_stock(shop: Shop) -> None:
    world, _, sam = shop
    uid = world.create(sam, amount=3)
    assert error(world.op(sam, "sell", product_uid=uid, amount=-4)) == "INSUFFICIENT_STOCK"
    assert error(world.op(sam, "sell", product_uid=uid, cost=7, amount=-4)) == "WRONG_COST"
    assert world.units(uid) == 3
    assert world.op(sam, "sell", product_uid=uid, amount=-3)["product"]["amount"] == 0


def test_stock_never_above_a_million(shop: Shop) -> None:
    world, _, sam = shop
    uid = world.create(sam, amount=1_000_000)
    assert error(world.op(sam, "sell", product_uid=uid, amount=1)) == "BAD_REQUEST"
    assert world.units(uid) == 1_000_000


def test_products_ordered_and_filtered(shop: Shop) -> None:
    world, _, sam = shop
    tom = world.register("seller", "tom")
    uids = [world.create(cred, name=f"n{i}") for i, cred in enumerate([tom, sam] * 6)]
    listed = world.products()["products"]
    assert [p["product_uid"] for p in listed] == sorted(uids)
    assert len(listed) == 12
    sams = world.products("seller_sam")["products"]
    assert [p["product_uid"] for p in sams] == sorted(uids[1::2])
    assert {p["seller_uid"] for p in sams} == {"seller_sam"}
    assert world.products("seller_nobody") == {"ok": True, "products": []}
    assert world.call({"op": "products", "seller_uid": "seller_tom"})["products"] == \
        world.products("seller_tom")["products"]


def test_purge_seller_removes_only_that_sellers_products(
        shop: Shop) -> None:
    world, _, sam = shop
    tom = world.register("seller", "tom")
    keep = world.create(tom)
    world.create(sam)
    world.create(sam)
    outcome = world.session_outcome(sam, "delete_user", password="correct horse")
    assert outcome.purge is not None
    with world.stock.db.transaction():
        assert world.stock.purge_seller(outcome.purge[0]) == 2
    assert [p["product_uid"] for p in world.products()["products"]] == [keep]
    with world.stock.db.transaction():
        assert world.stock.purge_seller(outcome.purge[0]) == 0


# -- reservations ------------------------------------------------------------------

@pytest.fixture
def stock() -> tuple[Stock, str]:
    s = Stock(Database(None, STOCK_SCHEMA), clock=lambda: 1000.0)
    req = parse_request({"op": "sell", "product_name": "cola", "cost": 35, "amount": 5, **CRED})
    with s.db.transaction():
        sold = s.authorized(Call(req, who=Grant(1, "seller_sam"))).reply
        uid = sold["product"]["product_uid"]
    return s, uid


def held(step: ChargeStep) -> tuple[str, int]:
    """The product name and cost a reservation was held at (fails on a stock error)."""
    assert step.stock_error is None, step.stock_error
    return step.product_name, step.cost


def units(s: Stock, uid: str) -> int:
    return int(product_of(s, uid)["product"]["amount"])


def test_reservation_holds_units_until_settled(stock: tuple[Stock, str]) -> None:
    s, uid = stock
    with s.db.transaction():
        assert held(reserve_at(s, "P1", buy_request(uid, 3))) == ("cola", 35)
    assert units(s, uid) == 2
    assert products_of(s)["products"][0]["amount"] == 2
    with s.db.transaction():
        assert error(reserve_at(s, "P2", buy_request(uid, 3)).stock_error) == "INSUFFICIENT_STOCK"
        settle(s, "P1", False)
    assert units(s, uid) == 5
    assert s.totals()[uid] == {"added": 5, "amount": 5, "sold": 0}
    assert s.reservations() == []


def test_committed_settle_sells(stock: tuple[Stock, str]) -> None:
    s, uid = stock
    with s.db.transaction():
        reserve_at(s, "P1", buy_request(uid, 2))
        settle(s, "P1", True)
    assert units(s, uid) == 3
    assert s.totals()[uid] == {"added": 5, "amount": 3, "sold": 2}


@pytest.mark.parametrize("first,second", [(True, True), (False, False), (True, False),
                                          (False, True)])
def test_settle_twice_is_harmless(stock: tuple[Stock, str], first: bool, second: bool) -> None:
    s, uid = stock
    with s.db.transaction():
        reserve_at(s, "P1", buy_request(uid, 2))
        settle(s, "P1", first)
        settle(s, "P1", second)
        settle(s, "never-reserved", True)
    assert units(s, uid) == (3 if first else 5)
    assert s.totals()[uid]["sold"] == (2 if first else 0)


def test_reserve_delivered_twice_holds_once(stock: tuple[Stock, str]) -> None:
    s, uid = stock
    with s.db.transaction():
        reserve_at(s, "P1", buy_request(uid, 2))
        assert held(reserve_at(s, "P1", buy_request(uid, 2))) == ("cola", 35)
    assert units(s, uid) == 3
    assert s.reservations() == ["P1"]


def test_reserve_errors(stock: tuple[Stock, str]) -> None:
    s, uid = stock
    with s.db.transaction():
        assert error(reserve_at(s, "P1", buy_request("p404", 1)).stock_error) == "PRODUCT_NOT_FOUND"
        assert error(reserve_at(s, "P2", buy_request(uid, 6)).stock_error) == "INSUFFICIENT_STOCK"
        assert reserve_at(s, "P3", buy_request(uid, 5)).stock_error is None
    assert units(s, uid) == 0
    assert s.reservations() == ["P3"]


def test_held_units_cannot_be_taken_out(stock: tuple[Stock, str]) -> None:
    s, uid = stock
    who = Grant(1, "seller_sam")
    take = parse_request({"op": "sell", "product_uid": uid, "amount": -3, **CRED})
    with s.db.transaction():
        reserve_at(s, "P1", buy_request(uid, 3))
        assert error(s.authorized(Call(take, who=who)).reply) == "INSUFFICIENT_STOCK"
        take2 = parse_request({"op": "sell", "product_uid": uid, "amount": -2, **CRED})
        assert s.authorized(Call(take2, who=who)).reply["product"]["amount"] == 0
        settle(s, "P1", True)
    assert s.totals()[uid] == {"added": 3, "amount": 0, "sold": 3}


def test_reservations_survive_a_restart_of_the_object(stock: tuple[Stock, str]) -> None:
    s, uid = stock
    with s.db.transaction():
        reserve_at(s, "P1", buy_request(uid, 4))
    again = Stock(s.db, clock=lambda: 2000.0)
    assert units(again, uid) == 1
    assert again.reservations(older_than=500) == ["P1"]
    assert again.reservations(older_than=5000) == []
    with again.db.transaction():
        late = reserve_at(again, "P2", buy_request(uid, 2))
        assert error(late.stock_error) == "INSUFFICIENT_STOCK"
        settle(again, "P1", False)
    assert units(again, uid) == 5


def test_an_update_may_fill_stock_to_exactly_a_million(shop: Shop) -> None:
    world, _, sam = shop
    uid = world.create(sam, amount=999_999)
    assert world.op(sam, "sell", product_uid=uid, amount=1)["product"]["amount"] == 1_000_000
    assert error(world.op(sam, "sell", product_uid=uid, amount=1)) == "BAD_REQUEST"


def test_a_batchs_holds_are_one_insert_even_when_it_ends_an_earlier_hold(
        tmp_path: Path) -> None:
    """A hold written by an earlier commit is not waiting any more: ending it in a
    later batch writes nothing early, so that batch's holds stay one INSERT
    (vending/stock.py, `hold`: deferred to COMMIT)."""
    stock = Stock(Database(tmp_path / "stock.sqlite3", STOCK_SCHEMA), clock=lambda: 0.0)
    with stock.db.transaction():
        stock.hold("p1", "u1", 1)
    statements: list[str] = []
    stock.db.conn.set_trace_callback(statements.append)
    with stock.db.transaction():
        stock.hold("p2", "u1", 1)
        stock.release("p1", ("u1", 1), sold=False)
        stock.hold("p3", "u1", 1)
    stock.db.conn.set_trace_callback(None)
    assert sum(s.startswith("INSERT") and "reservations" in s for s in statements) == 1
    assert sorted(r[0] for r in stock.db.conn.execute(
        "SELECT purchase_id FROM reservations")) == ["p2", "p3"]
    stock.db.close()
