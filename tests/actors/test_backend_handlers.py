"""The gatekeeper's and the stock handler's handlers, driven with no thread and no socket.

Each test hands an actor a fifo batch, reads what it sent from its outbox, and
hands that to the other actor, as the fifos would: the purchase saga step by
step, its recovery fence, and what a batch does on failure.
"""

from __future__ import annotations

from typing import Any

import pytest
from actor_harness import ENDS, deliver, register, request

from actors import faults
from actors.wire import (
    Authorize,
    Authorized,
    Charge,
    Charged,
    ClientRequest,
    Heartbeat,
    Resolve,
    Resolved,
    ReturnTicket,
    Status,
)
from vending.authority import Grant
from vending.purchase import ChargeStep
from vending.requests import parse_request


def one(outbox: Any, endpoint: str, kind: type) -> Any:
    sent = outbox.take(endpoint)
    assert len(sent) == 1 and isinstance(sent[0], kind), sent
    return sent[0]


@pytest.fixture
def product(gatekeeper: Any, stock_handler: Any) -> str:
    """A seller's product made the seed's way: stock handler -> "validate role" -> back."""
    sam = register(gatekeeper, "seller", "sam")
    sell = request("sell", sam, product_name="cola", cost=35, amount=3)
    deliver(stock_handler, sell)
    ask = one(stock_handler.push, ENDS.deposit, Authorize)
    assert ask.rt == sell.rt and ask.request == sell.request
    deliver(gatekeeper, ask)
    grant = one(gatekeeper.push, ENDS.post, Authorized)
    assert grant.grant is not None and grant.reply is None
    deliver(stock_handler, grant)
    status = one(stock_handler.push, ENDS.status, Status)
    assert status.rt == sell.rt and status.reply["ok"], status
    return str(status.reply["product"]["product_uid"])


def test_a_purchase_crosses_both_actors_and_settles(gatekeeper: Any, stock_handler: Any,
                                                     product: str) -> None:
    ann = register(gatekeeper, "buyer", "ann")
    deliver(gatekeeper, request("deposit", ann, amount=50))
    assert one(gatekeeper.push, ENDS.status, Status).reply == {"ok": True, "deposit": 50}

    buy = request("buy", ann, product_uid=product, amount=1)
    deliver(stock_handler, buy)                                     # 1. reserve
    charge = one(stock_handler.push, ENDS.deposit, Charge)
    step = charge.step
    assert (step.product_name, step.cost, step.stock_error) == ("cola", 35, None)
    assert stock_handler.stock.offer(product).available == 2  # held

    deliver(gatekeeper, charge)                                     # 2. charge
    charged = one(gatekeeper.push, ENDS.post, Charged)
    assert charged.committed and charged.pid == charge.step.pid
    assert gatekeeper.gate.totals()["buyer_ann"] == {
        "deposited": 50, "deposit": 0, "spent": 35, "returned": 15}

    deliver(stock_handler, charged)                                 # 3. settle
    status = one(stock_handler.push, ENDS.status, Status)
    assert status.rt == buy.rt
    assert status.reply == {"ok": True, "product_uid": product, "product_name": "cola",
                            "amount": 1, "spent": 35, "change": [10, 5], "deposit": 0}
    assert stock_handler.stock.totals()[product] == {"added": 3, "amount": 2, "sold": 1}
    assert stock_handler.stock.reservations() == []


def test_purchase_ids_are_unique_and_rise_from_a_prefix_drawn_per_start(
        gatekeeper: Any, stock_handler: Any, product: str) -> None:
    """A pid is 16 random hex digits drawn when the actor starts, then a counter: its
    rows are appended to the keys' B-trees (docs/purchase-saga.md)."""
    ann = register(gatekeeper, "buyer", "ann")
    deliver(stock_handler, *(request("buy", ann, product_uid=product, amount=1)
                             for _ in range(3)))
    pids = [c.step.pid for c in stock_handler.push.take(ENDS.deposit)]
    assert len(pids) == 3 and pids == sorted(set(pids))
    assert all(len(p) == 32 and int(p, 16) >= 0 for p in pids)
    assert {p[:16] for p in pids} == {pids[0][:16]}
    assert [int(p[16:], 16) for p in pids] == [1, 2, 3]
    stock_handler.open(stock_handler.db, stock_handler.push)  # a restart draws anew
    resolves = stock_handler.push.take(ENDS.deposit)  # recovery asks about the three
    assert sorted(r.pid for r in resolves) == pids
    deliver(stock_handler, request("buy", ann, product_uid=product, amount=1))
    again = one(stock_handler.push, ENDS.deposit, Charge).step.pid
    assert again[:16] != pids[0][:16] and int(again[16:], 16) == 1


def test_stock_error_is_decided_by_the_gatekeeper_and_moves_nothing(
        gatekeeper: Any, stock_handler: Any, product: str) -> None:
    ann = register(gatekeeper, "buyer", "ann")
    deliver(stock_handler, request("buy", ann, product_uid=product, amount=4))
    charge = one(stock_handler.push, ENDS.deposit, Charge)
    refusal = charge.step.stock_error
    assert refusal is not None and refusal["error"] == "INSUFFICIENT_STOCK"
    deliver(gatekeeper, charge)
    charged = one(gatekeeper.push, ENDS.post, Charged)
    assert not charged.committed and charged.reply["error"] == "INSUFFICIENT_STOCK"
    deliver(stock_handler, charged)
    assert one(stock_handler.push, ENDS.status, Status).reply["error"] == "INSUFFICIENT_STOCK"
    assert stock_handler.stock.totals()[product] == {"added": 3, "amount": 3, "sold": 0}


def test_resolve_fences_an_uncharged_purchase_against_a_late_charge(
        gatekeeper: Any, stock_handler: Any, product: str) -> None:
    ann = register(gatekeeper, "buyer", "ann")
    deliver(gatekeeper, request("deposit", ann, amount=100))
    gatekeeper.push.take()
    deliver(stock_handler, request("buy", ann, product_uid=product, amount=1))
    charge = one(stock_handler.push, ENDS.deposit, Charge)  # ... lost with a crash

    deliver(gatekeeper, Resolve(charge.step.pid, ENDS.post))     # recovery asks first
    assert one(gatekeeper.push, ENDS.post, Resolved) == Resolved(charge.step.pid, False)
    deliver(gatekeeper, charge)                             # the late charge
    late = one(gatekeeper.push, ENDS.post, Charged)
    assert not late.committed and late.reply["error"] == "UNAVAILABLE"
    assert gatekeeper.gate.totals()["buyer_ann"]["deposit"] == 100


def test_a_failed_batch_applies_nothing_and_answers_every_caller(
        gatekeeper: Any, armed: list[str]) -> None:
    ann = register(gatekeeper, "buyer", "ann")
    first, second = request("deposit", ann, amount=5), request("deposit", ann, amount=10)
    faults.ACTIVE["gatekeeper.in_batch"] = "raise-once"
    armed.append("gatekeeper.in_batch")
    with pytest.raises(faults.InjectedFault):
        deliver(gatekeeper, first, second)
    statuses = gatekeeper.push.take(ENDS.status)
    assert sorted(s.rt.ticket for s in statuses) == sorted([first.rt.ticket, second.rt.ticket])
    assert {s.reply["error"] for s in statuses} == {"UNAVAILABLE"}
    assert gatekeeper.gate.totals()["buyer_ann"]["deposited"] == 0


def test_the_reply_to_a_buy_leaves_before_the_settle_commits(
        gatekeeper: Any, stock_handler: Any, product: str, armed: list[str]) -> None:
    """The gatekeeper's commit is the point of no return: the settle may be lost
    with its batch (recovery redoes it from the reservation), the reply is out."""
    ann = register(gatekeeper, "buyer", "ann")
    deliver(gatekeeper, request("deposit", ann, amount=50))
    gatekeeper.push.take()
    deliver(stock_handler, request("buy", ann, product_uid=product, amount=1))
    deliver(gatekeeper, one(stock_handler.push, ENDS.deposit, Charge))
    charged = one(gatekeeper.push, ENDS.post, Charged)
    # Fails after the settle ran inside the batch: rolled back.
    stock_handler.handle = _then_fail(stock_handler.handle)
    with pytest.raises(RuntimeError):
        deliver(stock_handler, charged)
    sent = stock_handler.push.take(ENDS.status)
    assert [s.reply.get("spent") for s in sent] == [35]       # the buyer has the reply
    assert stock_handler.stock.reservations() == [charged.pid]  # settle left to recovery


def _then_fail(handle: Any) -> Any:
    def run(message: Any) -> None:
        handle(message)
        raise RuntimeError("after the handler")
    return run


def test_heartbeats_are_answered_and_stale_requests_dropped(gatekeeper: Any) -> None:
    ann = register(gatekeeper, "buyer", "ann")
    stale = request("deposit", ann, amount=5)
    stale = ClientRequest(stale.rt, stale.request, deadline=1.0)  # long past
    deliver(gatekeeper, Heartbeat(ENDS.status), stale)
    assert [(a.role, a.storage) for a in gatekeeper.push.take()] == [("gatekeeper", "ok")]
    assert gatekeeper.stale_dropped == 1
    assert gatekeeper.gate.totals()["buyer_ann"]["deposited"] == 0


def test_a_batch_of_heartbeats_alone_runs_no_statement(gatekeeper: Any,
                                                       stock_handler: Any) -> None:
    """A heartbeat's answer is the actor's own state (its storage, its last seq,
    its counted sessions): nothing to read, nothing to commit."""
    register(gatekeeper, "buyer", "ann")  # an event: the gatekeeper's seq is 1
    for actor, seq in ((gatekeeper, 1), (stock_handler, 0)):
        actor.push.take()
        statements: list[str] = []
        actor.db.conn.set_trace_callback(statements.append)
        deliver(actor, Heartbeat(ENDS.status))
        deliver(actor, Heartbeat(ENDS.status), Heartbeat(ENDS.status))
        assert [(a.role, a.storage, a.last_seq) for a in actor.push.take(ENDS.status)] == [
            (actor.role, "ok", seq)] * 3
        assert statements == [], actor.role


def test_wire_round_trip_of_every_saga_message(product: str) -> None:
    rt = ReturnTicket(ENDS.status, "s_x", 7)
    req = parse_request({"op": "buy", "product_uid": product, "amount": 2,
                         "wsess_uid": "s_x", "token": "t"})
    from actors.wire import from_wire
    refusal = {"ok": False, "error": "INSUFFICIENT_STOCK", "message": "only 1 left"}
    for message in (Charge(ChargeStep("p1", req, "cola", 35), rt, ENDS.post),
                    Charge(ChargeStep("p1", req, stock_error=refusal), rt, ENDS.post),
                    Charged("p1", rt, True, {"ok": True}), Resolve("p1", ENDS.post),
                    Resolved("p1", False), Status(rt, {"ok": True}, True),
                    Authorized(rt, req, grant=Grant(3, "seller_sam")),
                    Authorized(rt, req, reply=refusal)):
        assert from_wire(message.to_wire()) == message
        assert from_wire(message.to_wire(), trusted=True) == message


def test_a_message_with_a_field_of_the_wrong_type_is_refused_naming_it() -> None:
    from actors.wire import BadMessage, from_wire
    good = Charged("p1", ReturnTicket(ENDS.status, "s_x", 7), True, {"ok": True}).to_wire()
    for field, value in (("committed", 1), ("pid", 5), ("rt", [ENDS.status, "s_x", 7]),
                         ("reply", {"ok": False})):
        with pytest.raises(BadMessage, match=field):
            from_wire({**good, field: value})
    with pytest.raises(BadMessage, match="reply"):
        from_wire({k: v for k, v in good.items() if k != "reply"})
