"""delete_user in its two halves (docs/protocol.md §6): the argon2 check runs between
them, so the second half judges again what may have changed meanwhile."""

from __future__ import annotations

from typing import Any

from rules_world import PASSWORD, Shop, World, error

from vending import CryptoJob, parse_request
from vending.call import Call


def first_half(world: World, cred: dict[str, Any], **fields: Any) -> CryptoJob:
    req = parse_request({"op": "delete_user", "wsess_uid": cred["wsess_uid"],
                         "token": cred["token"], "password": PASSWORD, **fields})
    with world.acc.db.transaction():
        job = world.acc.answer(Call(req))
    assert isinstance(job, CryptoJob)
    return job


def test_wrong_password_is_refused_and_keeps_the_account(shop: Shop) -> None:
    world, ann, _ = shop
    world.deposit(ann, 20)
    assert error(world.op(ann, "delete_user", password="not the password")) \
        == "INVALID_CREDENTIALS"
    assert world.op(ann, "profile")["deposit"] == 20
    assert world.login("buyer", "ann")["deposit"] == 20


def test_logout_all_and_delete_user_tell_the_shell_the_session_ended(shop: Shop) -> None:
    world, ann, sam = shop
    outcome = world.session_outcome(ann, "logout_all")
    assert outcome.reply == {"ok": True, "ended": 1} and outcome.ended is True
    deleted = world.second_half(first_half(world, sam))
    assert deleted.reply == {"ok": True, "user_uid": "seller_sam", "change": []}
    assert deleted.ended is True and deleted.purge is not None


def test_the_same_delete_twice_in_flight_applies_once(shop: Shop) -> None:
    world, ann, _ = shop
    world.deposit(ann, 50, 5)
    one, two = first_half(world, ann, req_id="bye"), first_half(world, ann, req_id="bye")
    first = world.second_half(one)
    assert first.reply == {"ok": True, "user_uid": "buyer_ann", "change": [50, 5]}
    again = world.second_half(two)
    assert again.reply == first.reply and again.ended is True
    assert "buyer_ann" not in world.acc.totals()


def test_a_session_ended_between_the_halves_is_unauthorized(shop: Shop) -> None:
    world, ann, _ = shop
    job = first_half(world, ann)
    assert world.op(ann, "logout") == {"ok": True, "ended": 1}
    outcome = world.second_half(job)
    assert error(outcome.reply) == "UNAUTHORIZED" and outcome.ended is False
    assert world.login("buyer", "ann")["ok"] is True  # the account is still there
