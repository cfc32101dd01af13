"""Tier 2: the new ops through the backend actors' handlers, with their fifo messages
(history of both sides of a purchase, change_password's argon2 round trip,
what a heartbeat answer tells the front door's `health`)."""

from __future__ import annotations

from typing import Any

from actor_harness import ENDS, PASSWORD, ManualPool, build, deliver, register, request, run_told
from test_backend_handlers import one

from actors import faults
from actors.gatekeeper import COUNT_SESSIONS_EVERY, GatekeeperActor
from actors.messages import Tick
from actors.wire import Alive, Charge, Charged, Heartbeat, ReturnTicket, Status, from_wire
from vending.requests import parse_request


def kinds(gatekeeper: Any, cred: dict[str, Any]) -> list[str]:
    deliver(gatekeeper, request("history", cred))
    reply = one(gatekeeper.push, ENDS.status, Status).reply
    assert reply["ok"], reply
    return [e["kind"] for e in reply["entries"]]


def test_the_charge_carries_the_seller_and_writes_both_histories(
        gatekeeper: Any, stock_handler: Any) -> None:
    sam = register(gatekeeper, "seller", "sam")
    ann = register(gatekeeper, "buyer", "ann")
    # the product made by the stock handler's rules directly: only the charge matters here
    from vending.authority import Authorized
    sell = parse_request({"op": "sell", "product_name": "cola", "cost": 35, "amount": 3, **{
        k: sam[k] for k in ("wsess_uid", "token")}})
    with stock_handler.db.transaction():
        account = gatekeeper.accounts.sessions.find(sam["wsess_uid"], sam["token"], 0.0)
        uid = stock_handler.stock.sell(sell, Authorized(account.account_id, "seller_sam"))[
            "product"]["product_uid"]
    deliver(gatekeeper, request("deposit", ann, amount=50))
    gatekeeper.push.take()
    deliver(stock_handler, request("buy", ann, product_uid=uid, amount=1))
    charge = one(stock_handler.push, ENDS.deposit, Charge)
    assert charge.seller_account == account.account_id
    deliver(gatekeeper, charge)
    assert one(gatekeeper.push, ENDS.post, Charged).committed
    assert kinds(gatekeeper, ann) == ["purchase", "deposit"]
    assert kinds(gatekeeper, sam) == ["sale"]


def test_a_charge_from_an_older_peer_without_seller_still_reads() -> None:
    rt = ReturnTicket(ENDS.status, "s_x", 7)
    req = parse_request({"op": "buy", "product_uid": "p0000000001", "amount": 1,
                         "wsess_uid": "s_x", "token": "t"})
    with_seller = Charge("p1", rt, req, ENDS.post, "cola", 35, seller_account=4)
    assert from_wire(with_seller.to_wire()) == with_seller
    old = Charge("p1", rt, req, ENDS.post, "cola", 35).to_wire()
    assert "seller" not in old and from_wire(old).seller_account == 0  # no sale entry


def test_change_password_runs_its_argon2_work_off_the_batch() -> None:
    gatekeeper = build(GatekeeperActor)
    gatekeeper._pool.shutdown()
    pool = gatekeeper._pool = ManualPool()
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


def test_a_heartbeat_answer_tells_storage_seq_and_sessions(gatekeeper: Any,
                                                          armed: list[str]) -> None:
    ann = register(gatekeeper, "buyer", "ann")
    register(gatekeeper, "buyer", "bob")
    deliver(gatekeeper, Heartbeat(ENDS.status))
    # Live sessions are counted at upkeep, every COUNT_SESSIONS_EVERY ticks: none yet.
    assert gatekeeper.push.take() == [Alive("gatekeeper", "ok", 2, 0)]
    for _ in range(COUNT_SESSIONS_EVERY):
        gatekeeper.on_receive(Tick())
    gatekeeper.push.take()
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
    assert from_wire({"k": "alive", "role": "x", "storage": "weird"}).storage == "failing"
