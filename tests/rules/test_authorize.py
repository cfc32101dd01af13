"""`Gate.authorize`, asked by the stock handler before a stock op on the `authorize`
path, and the `ended` flag the shell reads off a replayed session op."""

from __future__ import annotations

from typing import Any

import pytest
from rules_world import Shop, World, error

from vending import Grant, Outcome, parse_request
from vending.callers import may_call
from vending.errors import BadRequest, BuyersOnly, SellersOnly
from vending.ops import TABLE


def ask(world: World, cred: dict[str, Any], **fields: Any) -> Grant | Outcome:
    req = parse_request({"op": "sell", "wsess_uid": cred["wsess_uid"], "token": cred["token"],
                         "product_name": "cola", "cost": 5, "amount": 1, **fields})
    return world.authorize(req)


def test_the_wrong_role_gets_its_own_code_and_a_sentence(shop: Shop) -> None:
    world, ann, sam = shop
    refused = ask(world, ann)
    assert isinstance(refused, Outcome) and error(refused.reply) == "SELLERS_ONLY"
    assert isinstance(ask(world, sam), Grant)


@pytest.mark.parametrize("op", sorted(TABLE))
def test_who_may_call_an_op_is_its_rows_caller(op: str) -> None:
    row = TABLE[op]
    for role in ("buyer", "seller"):
        if row.caller in ("anyone", "session", role):
            may_call(row, role)
        else:
            with pytest.raises(BuyersOnly if row.caller == "buyer" else SellersOnly) as refused:
                may_call(row, role)
            assert refused.value.message == f"only {row.caller}s can {row.verb}"


def test_a_claimed_req_id_may_still_be_answered_after_the_session_ended(shop: Shop) -> None:
    """A stock op whose reply the stock handler had not stored yet when the session
    ended: its retry is let through to be answered from the stock handler's record,
    while a new req_id from the ended session is refused."""
    world, _, sam = shop
    first = ask(world, sam, req_id="s1")
    assert isinstance(first, Grant)
    assert first == Grant(first.account_id, "seller_sam", replay_only=False)
    assert world.op(sam, "logout") == {"ok": True, "ended": 1}
    again = ask(world, sam, req_id="s1")
    assert again == Grant(first.account_id, "seller_sam", replay_only=True)
    fresh = ask(world, sam, req_id="s2")
    assert isinstance(fresh, Outcome) and error(fresh.reply) == "UNAUTHORIZED"


def test_a_replayed_reply_says_whether_the_session_is_over(shop: Shop) -> None:
    world, ann, _ = shop
    first = world.session_outcome(ann, "deposit", amount=5, req_id="d")
    replay = world.session_outcome(ann, "deposit", amount=5, req_id="d")
    assert replay.reply == first.reply and replay.ended is False  # still live
    bye = world.session_outcome(ann, "logout", req_id="out")
    again = world.session_outcome(ann, "logout", req_id="out")
    assert again.reply == bye.reply and again.ended is True
    late = world.session_outcome(ann, "deposit", amount=5, req_id="d")
    assert late.reply == first.reply and late.ended is True  # replayed, session over


def test_a_sell_update_naming_nothing_says_which_fields_it_may_name() -> None:
    with pytest.raises(BadRequest) as refused:
        parse_request({"op": "sell", "wsess_uid": "s", "token": "t", "product_uid": "p1"})
    assert "product_name" in refused.value.message and "amount" in refused.value.message
