"""Tier 2: the new ops through the backend actors' handlers, with their fifo messages
(history of both sides of a purchase, change_password's argon2 round trip,
what a heartbeat answer tells the front door's `health`)."""

from __future__ import annotations

from typing import Any

from actor_harness import ENDS, PASSWORD, ManualPool, build, deliver, register, request, run_told
from clocks import HandClock
from test_backend_handlers import one
from test_backend_handlers import product as product  # the fixture, for this module

from actors import faults
from actors.env import Env
from actors.gatekeeper import COUNT_SESSIONS_EVERY, GatekeeperActor
from actors.wire import Alive, Charge, Charged, Heartbeat, ReturnTicket, Status, from_wire
from vending.purchase import ChargeStep
from vending.requests import parse_request


def kinds(gatekeeper: Any, cred: dict[str, Any]) -> list[str]:
    deliver(gatekeeper, request("history", cred))
    reply = one(gatekeeper.push, ENDS.status, Status).reply
    assert reply["ok"], reply
    return [e["kind"] for e in reply["entries"]]


def test_the_charge_carries_the_seller_and_writes_both_histories(
        gatekeeper: Any, stock_handler: Any, product: str) -> None:
    seller = gatekeeper.db.conn.execute(
        "SELECT account_id FROM users WHERE user_uid='seller_sam'").fetchone()[0]
    ann = register(gatekeeper, "buyer", "ann")
    deliver(gatekeeper, request("deposit", ann, amount=50))
    gatekeeper.push.take()
    deliver(stock_handler, request("buy", ann, product_uid=product, amount=1))
    charge = one(stock_handler.push, ENDS.deposit, Charge)
    assert charge.step.seller_account == seller
    deliver(gatekeeper, charge)
    assert one(gatekeeper.push, ENDS.post, Charged).committed
    assert kinds(gatekeeper, ann) == ["purchase", "deposit"]
    sales = gatekeeper.gate.history.page(seller, None, 10)["entries"]
    assert [(e["kind"], e["product_uid"], e["spent"]) for e in sales] == [("sale", product, 35)]


def test_a_charge_from_an_older_peer_without_seller_still_reads() -> None:
    rt = ReturnTicket(ENDS.status, "s_x", 7)
    req = parse_request({"op": "buy", "product_uid": "p0000000001", "amount": 1,
                         "wsess_uid": "s_x", "token": "t"})
    with_seller = Charge(ChargeStep("p1", req, "cola", 35, seller_account=4), rt, ENDS.post)
    wire = with_seller.to_wire()
    assert from_wire(wire) == with_seller
    del wire["step"]["seller_account"]  # as a peer before history sends it
    assert from_wire(wire).step.seller_account == 0  # no sale entry


def test_change_password_runs_its_argon2_work_off_the_batch() -> None:
    pool = ManualPool()
    gatekeeper = build(GatekeeperActor, env=Env(password_pool=lambda workers: pool))
    try:
        ann = register(gatekeeper, "buyer", "ann")
        change = request("change_password", ann, password=PASSWORD,
                         new_password="a new password")
        deliver(gatekeeper, change)
        assert gatekeeper.push.take() == [], "no reply before the password work"
        assert len(pool.waiting) == 1
        pool.run_next()  # the worker thread's part: check the old one, hash the new one
        assert run_told(gatekeeper) == 1  # its CryptoDone, finished in a transaction
        status = one(gatekeeper.push, ENDS.status, Status)
        assert status.rt == change.rt and status.reply == {"ok": True, "ended": 0}
        assert status.ended is False  # the caller's session stays
    finally:
        gatekeeper.cleanup()


def test_a_heartbeat_answer_tells_storage_seq_and_sessions(armed: list[str]) -> None:
    clock = HandClock()
    gatekeeper = build(GatekeeperActor, env=Env(clock=clock))
    try:
        _heartbeat_answers(gatekeeper, clock, armed)
    finally:
        gatekeeper.cleanup()


def _heartbeat_answers(gatekeeper: Any, clock: HandClock, armed: list[str]) -> None:
    ann = register(gatekeeper, "buyer", "ann")
    register(gatekeeper, "buyer", "bob")
    deliver(gatekeeper, Heartbeat(ENDS.status))
    # Live sessions are counted when a heartbeat asks, every COUNT_SESSIONS_EVERY
    # seconds at most: none at the start's count.
    assert gatekeeper.push.take() == [Alive("gatekeeper", "ok", 2, 0)]
    clock.now += COUNT_SESSIONS_EVERY
    deliver(gatekeeper, Heartbeat(ENDS.status))
    assert gatekeeper.push.take() == [Alive("gatekeeper", "ok", 2, 2)]
    faults.ACTIVE["gatekeeper.commit"] = "ioerror"
    armed.append("gatekeeper.commit")
    deliver(gatekeeper, request("deposit", ann, amount=5))  # refused by the storage
    gatekeeper.push.take()
    deliver(gatekeeper, Heartbeat(ENDS.status))
    assert gatekeeper.push.take() == [Alive("gatekeeper", "failing", 2, 2)]
    faults.ACTIVE.pop("gatekeeper.commit")
    deliver(gatekeeper, request("deposit", ann, amount=5))
    gatekeeper.push.take()
    deliver(gatekeeper, Heartbeat(ENDS.status))
    assert gatekeeper.push.take() == [Alive("gatekeeper", "ok", 3, 2)]


def test_an_alive_from_an_older_peer_reads_as_untold() -> None:
    assert from_wire({"k": "alive", "role": "stock-handler"}) == Alive("stock-handler")
