"""Buying: the saga's outcome, error precedence (docs/protocol.md §7), all or nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rules_world import Shop, World, encodes_seen, error

from vending import idempotency, jsontext, parse_request
from vending.call import Call
from vending.purchase import ChargeStep, Resolution, reserve, settle


def state(world: World) -> tuple[Any, Any, list[str]]:
    return world.acc.totals(), world.stock.totals(), world.stock.reservations()


def test_buy_spends_and_returns_change(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, name="cola", cost=35, amount=3)
    world.deposit(ann, 100, 50)
    assert world.op(ann, "buy", product_uid=uid, amount=3) == {
        "ok": True, "product_uid": uid, "product_name": "cola", "amount": 3, "spent": 105,
        "change": [20, 20, 5], "deposit": 0}
    assert world.acc.totals()["buyer_ann"] == {"deposited": 150, "deposit": 0, "spent": 105,
                                                "returned": 45}
    assert world.stock.totals()[uid] == {"added": 3, "amount": 0, "sold": 3}
    assert world.op(ann, "profile")["deposit"] == 0
    assert world.stock.reservations() == []


def test_exact_deposit_gives_no_change(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=3)
    world.deposit(ann, 100, 5)  # exactly cost * amount = 105
    assert world.op(ann, "buy", product_uid=uid, amount=3) == {
        "ok": True, "product_uid": uid, "product_name": "cola", "amount": 3, "spent": 105,
        "change": [], "deposit": 0}
    assert world.acc.totals()["buyer_ann"] == {"deposited": 105, "deposit": 0, "spent": 105,
                                                "returned": 0}
    assert world.stock.totals()[uid] == {"added": 3, "amount": 0, "sold": 3}


def test_deposit_five_cents_short_is_refused_and_moves_nothing(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=3)
    world.deposit(ann, 100)  # cost * amount - 5
    before = state(world)
    reply = world.op(ann, "buy", product_uid=uid, amount=3)
    assert error(reply) == "INSUFFICIENT_DEPOSIT"
    assert state(world) == before
    assert world.balance("buyer_ann") == 100 and world.units(uid) == 3
    world.deposit(ann, 5)  # the missing coin is all it took
    assert world.op(ann, "buy", product_uid=uid, amount=3)["change"] == []


# -- precedence ------------------------------------------------------------------------

def test_unauthorized_beats_product_not_found(shop: Shop) -> None:
    world, ann, _ = shop
    bad = {**ann, "token": "not-the-token"}
    assert error(world.op(bad, "buy", product_uid="p404", amount=1)) == "UNAUTHORIZED"
    assert error(world.op(ann, "buy", product_uid="p404", amount=1, token="")) == "UNAUTHORIZED"
    world.op(ann, "logout")
    assert error(world.op(ann, "buy", product_uid="p404", amount=1)) == "UNAUTHORIZED"


def test_bad_request_beats_unauthorized(shop: Shop) -> None:
    world, ann, _ = shop
    assert error(world.op(ann, "buy", product_uid="p404", amount=0, token="")) == "BAD_REQUEST"


def test_seller_buying_is_buyers_only_even_for_a_missing_product(
        shop: Shop) -> None:
    world, _, sam = shop
    uid = world.create(sam, amount=1)
    assert error(world.op(sam, "buy", product_uid="p404", amount=1)) == "BUYERS_ONLY"
    assert error(world.op(sam, "buy", product_uid=uid, amount=5)) == "BUYERS_ONLY"
    assert error(world.op(sam, "buy", product_uid=uid, amount=1)) == "BUYERS_ONLY"
    assert world.units(uid) == 1 and world.stock.reservations() == []


def test_missing_product_beats_stock_and_deposit(shop: Shop) -> None:
    world, ann, _ = shop
    assert error(world.op(ann, "buy", product_uid="p404", amount=1_000_000)) \
        == "PRODUCT_NOT_FOUND"


def test_insufficient_stock_beats_insufficient_deposit(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=100, amount=2)
    assert error(world.op(ann, "buy", product_uid=uid, amount=3)) == "INSUFFICIENT_STOCK"
    assert error(world.op(ann, "buy", product_uid=uid, amount=2)) == "INSUFFICIENT_DEPOSIT"


# -- all or nothing -----------------------------------------------------------------------

@pytest.mark.parametrize("case,code", [
    ("stock", "INSUFFICIENT_STOCK"), ("deposit", "INSUFFICIENT_DEPOSIT"),
    ("missing", "PRODUCT_NOT_FOUND"), ("seller", "BUYERS_ONLY"), ("token", "UNAUTHORIZED"),
    ("deleted", "PRODUCT_NOT_FOUND"), ("sold_out", "INSUFFICIENT_STOCK"),
])
def test_failed_buy_changes_nothing(shop: Shop, case: str,
                                    code: str) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=4)
    other = world.create(sam, cost=5, amount=1)
    world.deposit(ann, 100, 20)
    cred, units, target = ann, 1, uid
    if case == "stock":
        units = 5
    elif case == "deposit":
        units = 4
    elif case == "missing":
        target = "p404"
    elif case == "seller":
        cred = sam
    elif case == "token":
        cred = {**ann, "wsess_uid": sam["wsess_uid"]}
    elif case == "deleted":
        world.op(sam, "delete_product", product_uid=uid)
    elif case == "sold_out":
        world.op(sam, "sell", product_uid=uid, amount=-4)
    before = state(world)
    assert error(world.op(cred, "buy", product_uid=target, amount=units)) == code
    assert state(world) == before
    assert world.balance("buyer_ann") == 120
    # the failed attempt held nothing back: everything can still be bought
    assert world.op(ann, "buy", product_uid=other, amount=1)["ok"]


def test_units_held_by_a_failed_charge_come_back(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=2)
    assert error(world.op(ann, "buy", product_uid=uid, amount=2)) == "INSUFFICIENT_DEPOSIT"
    assert world.units(uid) == 2
    world.deposit(ann, 50, 20)
    assert world.op(ann, "buy", product_uid=uid, amount=2)["ok"]
    assert world.units(uid) == 0


def test_purchase_id_delivered_twice_charges_once(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=5)
    world.deposit(ann, 100)
    req = parse_request({"op": "buy", "product_uid": uid, "amount": 1, **ann})
    with world.stock.db.transaction():
        step = reserve(world.stock, Call(req, pid="P1"))
    assert step == ChargeStep("P1", req, "cola", 35, seller_account=world.acc.sessions.find(
        sam["wsess_uid"], sam["token"], world.now).account_id)
    with world.acc.db.transaction():
        first = world.acc.charge(step)
    world.deposit(ann, 100)
    with world.acc.db.transaction():
        assert world.acc.charge(step) == first
    assert first.committed is True and first.reply["spent"] == 35
    with world.stock.db.transaction():
        settle(world.stock, "P1", True)
        settle(world.stock, "P1", True)
    assert world.acc.totals()["buyer_ann"]["spent"] == 35
    assert world.stock.totals()[uid] == {"added": 5, "amount": 4, "sold": 1}


# -- recovery: resolve ------------------------------------------------------------------

def test_resolve_true_for_a_charged_purchase(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=5)
    world.deposit(ann, 50)
    world.call({"op": "buy", "product_uid": uid, "amount": 1, **ann}, purchase_id="P1")
    with world.acc.db.transaction():
        assert world.acc.resolve("P1") == Resolution("P1", committed=True)
        assert world.acc.resolve("P1") == Resolution("P1", committed=True)


def test_resolve_fences_an_uncharged_purchase(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=5)
    world.deposit(ann, 50)
    req = parse_request({"op": "buy", "product_uid": uid, "amount": 1, "req_id": "b1", **ann})
    with world.stock.db.transaction():
        step = reserve(world.stock, Call(req, pid="P1"))
    # the gatekeeper never saw step 2; recovery asks, and fences the id off
    with world.acc.db.transaction():
        assert world.acc.resolve("P1") == Resolution("P1", committed=False)
    with world.stock.db.transaction():
        settle(world.stock, "P1", False)
    # a late step 2 for the fenced id is refused and debits nothing
    with world.acc.db.transaction():
        late = world.acc.charge(step)
    assert error(late.reply) == "UNAVAILABLE" and late.committed is False
    assert world.acc.totals()["buyer_ann"] == {"deposited": 50, "deposit": 50, "spent": 0,
                                                "returned": 0}
    with world.acc.db.transaction():
        assert world.acc.resolve("P1").committed is False
    assert world.units(uid) == 5
    # UNAVAILABLE is not final: a retry with the same req_id is tried afresh
    retry = world.call(req.to_dict(), purchase_id="P2")
    assert retry["ok"] and retry["spent"] == 35
    assert world.units(uid) == 4


def test_a_purchases_reply_is_encoded_once_for_its_record_and_its_kept_reply(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    world, ann, sam = shop
    uid = world.create(sam, name="cola", cost=35, amount=3)
    world.deposit(ann, 50)
    encoded = encodes_seen(monkeypatch, idempotency, "compact", jsontext.compact)
    reply = world.op(ann, "buy", product_uid=uid, amount=1, req_id="buy-1")
    assert reply["ok"] and encoded == []  # the kept reply is the purchase's own text
    db = world.acc.db.conn
    kept = db.execute("SELECT reply FROM idem WHERE req_id='buy-1'").fetchone()[0]
    recorded = db.execute("SELECT reply FROM purchases").fetchone()[0]
    assert kept == recorded and json.loads(kept) == reply
