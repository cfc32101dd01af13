"""The purchase saga's step results carry their purchase id and a real bool on every
path (vending/purchase.py): the shell routes step 3 by `ChargeResult.pid` and sends
`committed` on the wire, refusals included."""

from __future__ import annotations

from typing import Any

from rules_world import Shop, World, error

from vending import parse_request
from vending.call import Call
from vending.purchase import ChargeResult, ChargeStep, reserve, settle

#: A batch's purchases rows: one INSERT (OR FAIL: vending/db.py, `insert_rows`).
_PURCHASE_ROWS = ("INSERT INTO purchases", "INSERT OR FAIL INTO purchases")


def buy(cred: dict[str, Any], uid: str, amount: int = 1, **extra: Any) -> Any:
    return parse_request({"op": "buy", "product_uid": uid, "amount": amount,
                          "wsess_uid": cred["wsess_uid"], "token": cred["token"], **extra})


def steps(world: World, pid: str, req: Any) -> tuple[ChargeStep, ChargeResult]:
    with world.stock.db.transaction():
        step = reserve(world.stock, Call(req, pid=pid))
    with world.acc.db.transaction():
        charged = world.acc.charge(step)
    return step, charged


def test_stock_errors_keep_the_purchase_id(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=1)
    world.deposit(ann, 100)
    step, charged = steps(world, "P1", buy(ann, "p0000000099"))
    assert step.pid == "P1" and error(step.stock_error) == "PRODUCT_NOT_FOUND"
    assert charged.pid == "P1" and charged.committed is False
    assert error(charged.reply) == "PRODUCT_NOT_FOUND"
    step, charged = steps(world, "P2", buy(ann, uid, 2))
    assert step.pid == "P2" and error(step.stock_error) == "INSUFFICIENT_STOCK"
    assert charged == ChargeResult("P2", False, charged.reply)
    assert error(charged.reply) == "INSUFFICIENT_STOCK"


def test_refusals_before_the_rule_keep_the_purchase_id_and_a_false(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=5)
    world.deposit(ann, 100)
    # a session error (UNAUTHORIZED) is answered before any rule runs
    bad = buy({"wsess_uid": ann["wsess_uid"], "token": "not the token"}, uid)
    _, charged = steps(world, "P1", bad)
    assert charged == ChargeResult("P1", False, charged.reply)
    assert charged.committed is False and error(charged.reply) == "UNAUTHORIZED"
    # a seller is refused inside the rule
    _, charged = steps(world, "P2", buy(sam, uid))
    assert charged == ChargeResult("P2", False, charged.reply)
    assert charged.committed is False and error(charged.reply) == "BUYERS_ONLY"
    # a req_id already answered is replayed under the new purchase id, not charged again
    _, first = steps(world, "P3", buy(ann, uid, req_id="b1"))
    assert first.pid == "P3" and first.committed is True
    _, replay = steps(world, "P4", buy(ann, uid, req_id="b1"))
    assert replay == ChargeResult("P4", False, first.reply)
    assert replay.committed is False


def test_a_fenced_purchase_keeps_its_id(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=5)
    world.deposit(ann, 100)
    with world.acc.db.transaction():
        world.acc.book.fence("P1")
    _, charged = steps(world, "P1", buy(ann, uid))
    assert charged == ChargeResult("P1", False, charged.reply)
    assert charged.committed is False and error(charged.reply) == "UNAVAILABLE"
    assert world.balance("buyer_ann") == 100


def test_a_transactions_charges_and_ended_holds_are_one_statement_each(shop: Shop) -> None:
    """`purchases` rows and released `reservations` wait for the end of their
    transaction (`Database.defer`): one INSERT and one DELETE for all of them, and a
    charged purchase is found (`resolve`) before its row is written."""
    world, ann, sam = shop
    bob = world.register("buyer", "bob")
    uid = world.create(sam, cost=5, amount=5)
    world.deposit(ann, 5)
    world.deposit(bob, 5)
    with world.stock.db.transaction():
        held = [reserve(world.stock, Call(buy(c, uid), pid=p)) for c, p in ((ann, "P1"),
                                                                           (bob, "P2"))]
    said: list[str] = []
    for db in (world.acc.db, world.stock.db):
        db.conn.set_trace_callback(said.append)
    try:
        with world.acc.db.transaction():
            assert all(world.acc.charge(step).committed for step in held)
            assert not any(s.startswith(_PURCHASE_ROWS) for s in said)  # not yet
            assert world.acc.resolve("P1").committed  # but found: no fence
        with world.stock.db.transaction():
            for step in held:
                settle(world.stock, step.pid, True)
            assert world.stock.reservations() == []
    finally:
        for db in (world.acc.db, world.stock.db):
            db.conn.set_trace_callback(None)
    assert sum(s.startswith(_PURCHASE_ROWS) for s in said) == 1
    assert sum(s.startswith("DELETE FROM reservations") for s in said) == 1
    assert world.stock.totals()[uid] == {"added": 5, "amount": 3, "sold": 2}
    assert world.acc.db.conn.execute("SELECT count(*) FROM aborted").fetchone()[0] == 0
