"""history: each account's own deposits, purchases, resets and sales (docs/protocol.md)."""

from __future__ import annotations

from typing import Any

from rules_world import Shop, error

from vending import parse_request
from vending.call import Call
from vending.history import KEEP_DAYS, KEEP_LAST
from vending.purchase import ChargeStep, reserve, settle


def kinds(reply: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in reply["entries"]]


def test_a_buyer_sees_deposits_purchases_and_resets_newest_first(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, "Coca-Cola", cost=35, amount=5)
    world.deposit(ann, 50, 20)
    world.tick(1)
    bought = world.op(ann, "buy", product_uid=uid, amount=1)
    world.deposit(ann, 10)
    world.op(ann, "reset")
    reply = world.op(ann, "history")
    assert reply["more"] is False
    assert kinds(reply) == ["reset", "deposit", "purchase", "deposit", "deposit"]
    ids = [e["id"] for e in reply["entries"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    assert reply["entries"][0] == {"id": ids[0], "kind": "reset", "at": world.now,
                                   "change": [10]}
    assert reply["entries"][2] == {
        "id": ids[2], "kind": "purchase", "at": world.now, "product_uid": uid,
        "product_name": "Coca-Cola", "amount": 1, "spent": 35, "change": bought["change"]}
    assert reply["entries"][4] == {"id": ids[4], "kind": "deposit", "at": world.now - 1,
                                   "amount": 50}


def test_a_seller_sees_sales_only(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, "cola", cost=35, amount=5)
    world.deposit(ann, 100)
    world.op(ann, "buy", product_uid=uid, amount=2)
    entries = world.op(sam, "history")["entries"]
    assert [{k: v for k, v in e.items() if k not in ("id", "at")} for e in entries] == [
        {"kind": "sale", "product_uid": uid, "product_name": "cola", "amount": 2, "spent": 70}]
    assert "purchase" not in kinds(world.op(sam, "history"))
    assert "sale" not in kinds(world.op(ann, "history"))


def test_failed_and_replayed_requests_add_nothing(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=1)
    world.op(ann, "deposit", amount=5, req_id="d1")
    world.op(ann, "deposit", amount=5, req_id="d1")  # replayed
    assert error(world.op(ann, "deposit", amount=7)) == "WRONG_AMOUNT"
    assert error(world.op(ann, "buy", product_uid=uid, amount=1)) == "INSUFFICIENT_DEPOSIT"
    assert error(world.op(ann, "buy", product_uid=uid, amount=2)) == "INSUFFICIENT_STOCK"
    assert kinds(world.op(ann, "history")) == ["deposit"]
    assert world.op(sam, "history")["entries"] == []


def test_paging_by_before_and_limit(shop: Shop) -> None:
    world, ann, _ = shop
    world.deposit(ann, *[5] * 25)
    first = world.op(ann, "history")
    assert len(first["entries"]) == 20 and first["more"] is True  # default limit 20
    rest = world.op(ann, "history", before=first["entries"][-1]["id"])
    assert len(rest["entries"]) == 5 and rest["more"] is False
    every = [e["id"] for e in first["entries"] + rest["entries"]]
    assert every == sorted(set(every), reverse=True) and len(every) == 25
    page = world.op(ann, "history", limit=5, before=every[4])
    assert [e["id"] for e in page["entries"]] == every[5:10] and page["more"] is True
    last = world.op(ann, "history", limit=5, before=every[19])
    assert [e["id"] for e in last["entries"]] == every[20:] and last["more"] is False
    assert world.op(ann, "history", before=every[-1]) == {"ok": True, "entries": [],
                                                          "more": False}


def test_each_account_sees_only_its_own(shop: Shop) -> None:
    world, ann, _ = shop
    bob = world.register("buyer", "bob")
    world.deposit(ann, 5)
    world.deposit(bob, 10)
    assert [e["amount"] for e in world.op(bob, "history")["entries"]] == [10]
    assert [e["amount"] for e in world.op(ann, "history")["entries"]] == [5]


def test_history_is_behind_the_session(shop: Shop) -> None:
    world, ann, _ = shop
    assert error(world.op({"wsess_uid": ann["wsess_uid"], "token": "forged"}, "history")) \
        == "UNAUTHORIZED"
    world.op(ann, "logout")
    assert error(world.op(ann, "history")) == "UNAUTHORIZED"


def test_events_stay_anonymous(shop: Shop) -> None:
    """History names the account; the public events still name no buyer."""
    world, ann, sam = shop
    uid = world.create(sam, cost=5, amount=1)
    world.deposit(ann, 5)
    world.op(ann, "buy", product_uid=uid, amount=1)
    for event in world.acc.events.since(0, 100):
        assert "buyer_ann" not in str(event.fields)


def test_deleted_with_the_account_and_not_reaching_a_new_one(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=5, amount=3)
    world.deposit(ann, 5)
    world.op(ann, "buy", product_uid=uid, amount=1)
    assert world.op(ann, "delete_user", password="correct horse")["ok"]
    assert world.acc.db.conn.execute("SELECT count(*) FROM history WHERE kind != 'sale'"
                                     ).fetchone()[0] == 0
    again = world.register("buyer", "ann")
    assert world.op(again, "history")["entries"] == []
    assert world.op(sam, "delete_user", password="correct horse")["ok"]
    assert world.acc.db.conn.execute("SELECT count(*) FROM history").fetchone()[0] == 0


def held(shop: Shop) -> ChargeStep:
    """ann (5 cents) has one of sam's products held: the saga's step 1 as purchase P1."""
    world, ann, sam = shop
    uid = world.create(sam, cost=5, amount=3)
    world.deposit(ann, 5)
    req = parse_request({"op": "buy", "product_uid": uid, "amount": 1, **ann})
    with world.stock.db.transaction():
        return reserve(world.stock, Call(req, pid="P1"))


def test_a_sale_of_a_deleted_seller_is_not_written(shop: Shop) -> None:
    world, _, sam = shop
    step = held(shop)
    assert world.op(sam, "delete_user", password="correct horse")["ok"]
    with world.acc.db.transaction():
        assert world.acc.charge(step).committed
    assert world.acc.db.conn.execute(
        "SELECT kind FROM history WHERE account_id=?", (step.seller_account,)).fetchall() == []


def test_a_transactions_entries_are_one_insert_and_skip_an_account_deleted_in_it(
        shop: Shop) -> None:
    """Entries wait for the end of their transaction (`Database.defer`): one INSERT for
    all of them, and an account deleted later in the same transaction gets none."""
    world, ann, _ = shop
    step = held(shop)
    db = world.acc.db
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        with db.transaction():
            assert world.acc.charge(step).committed  # ann's purchase, sam's sale
            world.acc.history.add(step.seller_account, "sale", amount=9)
            db.conn.execute("DELETE FROM users WHERE account_id=?", (step.seller_account,))
            assert not any("history" in s for s in statements)  # nothing written yet
    finally:
        db.conn.set_trace_callback(None)
    assert sum(s.startswith("INSERT OR FAIL INTO history") for s in statements) == 1
    assert kinds(world.op(ann, "history")) == ["purchase", "deposit"]
    assert db.conn.execute("SELECT count(*) FROM history WHERE account_id=?",
                           (step.seller_account,)).fetchone()[0] == 0


def test_entries_exist_exactly_when_the_purchase_is_charged(shop: Shop) -> None:
    """The entries are written with the charge (the point of no return): a purchase
    fenced off by recovery before its charge leaves none, on either side."""
    world, ann, sam = shop
    step = held(shop)
    with world.acc.db.transaction():
        assert world.acc.resolve("P1").committed is False
    with world.acc.db.transaction():
        assert world.acc.charge(step).committed is False
    with world.stock.db.transaction():
        settle(world.stock, "P1", False)
    assert kinds(world.op(ann, "history")) == ["deposit"]
    assert world.op(sam, "history")["entries"] == []


def test_kept_90_days_or_the_last_1000_whichever_keeps_more(shop: Shop) -> None:
    world, ann, _ = shop
    bob = world.register("buyer", "bob")
    for _ in range(KEEP_LAST + 5):
        world.deposit(ann, 5)
        world.op(ann, "reset")  # stays under the deposit cap
    world.deposit(bob, 5)
    world.tick(KEEP_DAYS * 86400.0 - 10)
    with world.acc.db.transaction():
        world.acc.housekeeping()

    def entries(cred: dict[str, Any]) -> int:
        return int(world.acc.db.conn.execute(
            "SELECT count(*) FROM history JOIN users USING(account_id) WHERE user_uid=?",
            (cred["user_uid"],)).fetchone()[0])

    assert entries(ann) == 2 * (KEEP_LAST + 5)  # younger than 90 days: all kept
    world.tick(20)
    ann = world.login("buyer", "ann")
    bob = world.login("buyer", "bob")
    with world.acc.db.transaction():
        world.acc.housekeeping()
    assert entries(ann) == KEEP_LAST  # older: only the last 1000
    assert entries(bob) == 1  # the last 1000 of bob's is his one
    newest = world.op(ann, "history", limit=1)["entries"][0]
    assert newest["kind"] == "reset"
