"""change_password (docs/protocol.md): the current password is required and a wrong
one is a failed login; the new one follows the password rule; the account's other
sessions end and the caller's stays; idempotent under req_id; no event."""

from __future__ import annotations

from typing import Any

from rules_world import PASSWORD, Shop, World, error

from vending import CryptoJob, Outcome, parse_request
from vending.call import Call

NEW = "a new long password"
WRONG = "not the password"


def change(world: World, cred: dict[str, Any], password: str = PASSWORD, new: str = NEW,
           **fields: Any) -> dict[str, Any]:
    return world.op(cred, "change_password", password=password, new_password=new, **fields)


def first_half(world: World, cred: dict[str, Any], password: str = PASSWORD) -> CryptoJob:
    req = parse_request({"op": "change_password", "password": password, "new_password": NEW,
                         "wsess_uid": cred["wsess_uid"], "token": cred["token"]})
    with world.acc.db.transaction():
        job = world.acc.answer(Call(req))
    assert isinstance(job, CryptoJob)
    return job


def test_the_new_password_opens_the_account_and_the_old_one_no_longer(shop: Shop) -> None:
    world, ann, _ = shop
    assert change(world, ann) == {"ok": True, "ended": 0}
    assert error(world.auth("buyer", "ann", PASSWORD)) == "INVALID_CREDENTIALS"
    assert world.login("buyer", "ann", NEW)["user_uid"] == "buyer_ann"


def test_other_sessions_end_and_the_callers_stays(shop: Shop) -> None:
    world, ann, sam = shop
    others = [world.login("buyer", "ann") for _ in range(3)]
    assert change(world, ann)["ended"] == 3
    for other in others:
        assert error(world.op(other, "profile")) == "UNAUTHORIZED"
    assert world.op(ann, "profile")["active_sessions"] == 0
    assert world.op(sam, "profile")["ok"], "another account's sessions are untouched"


def test_a_wrong_current_password_changes_nothing(shop: Shop) -> None:
    world, ann, _ = shop
    other = world.login("buyer", "ann")
    assert error(change(world, ann, WRONG)) == "INVALID_CREDENTIALS"
    assert world.op(other, "profile")["ok"]
    assert world.login("buyer", "ann", PASSWORD)["ok"]


def test_wrong_passwords_count_as_failed_logins(world: World) -> None:
    ann = world.register("buyer", "ann")
    for i in range(10):
        assert error(world.op(ann, "change_password", password=WRONG, new_password=NEW,
                              peer="10.0.0.9")) == "INVALID_CREDENTIALS", i
    assert error(world.op(ann, "change_password", password=PASSWORD, new_password=NEW,
                          peer="10.0.0.9")) == "RATE_LIMITED"
    assert error(world.auth("buyer", "ann", peer="10.0.0.9")) == "RATE_LIMITED"
    assert world.op(ann, "change_password", password=PASSWORD, new_password=NEW,
                    peer="10.0.0.2")["ok"], "another address is not locked out"


def test_no_password_work_runs_while_the_address_is_blocked(world: World) -> None:
    ann = world.register("buyer", "ann")
    for _ in range(10):
        world.auth("buyer", "ann", WRONG, peer="10.0.0.9")
    req = parse_request({"op": "change_password", "password": PASSWORD, "new_password": NEW,
                         "wsess_uid": ann["wsess_uid"], "token": ann["token"]})
    with world.acc.db.transaction():
        out = world.acc.answer(Call(req, peer="10.0.0.9"))
    assert isinstance(out, Outcome) and error(out.reply) == "RATE_LIMITED"


def test_a_right_password_clears_its_address_count(world: World) -> None:
    ann = world.register("buyer", "ann")
    for _ in range(9):
        world.auth("buyer", "ann", WRONG, peer="10.0.0.9")
    assert world.op(ann, "change_password", password=PASSWORD, new_password=NEW,
                    peer="10.0.0.9")["ok"]
    for _ in range(9):
        world.auth("buyer", "ann", WRONG, peer="10.0.0.9")
    assert world.auth("buyer", "ann", NEW, peer="10.0.0.9")["ok"]


def test_the_new_password_follows_the_password_rule(shop: Shop) -> None:
    world, ann, _ = shop
    assert error(change(world, ann, new="short")) == "BAD_REQUEST"
    assert error(change(world, ann, new="x" * 257)) == "BAD_REQUEST"
    assert change(world, ann, new="x" * 8)["ok"]


def test_idempotent_under_req_id(shop: Shop) -> None:
    world, ann, _ = shop
    other = world.login("buyer", "ann")
    first = change(world, ann, req_id="cp1")
    assert first == {"ok": True, "ended": 1}
    later = world.login("buyer", "ann", NEW)
    # The retry replays the first reply: it changes nothing, ends nothing.
    assert change(world, ann, req_id="cp1") == first
    assert world.op(later, "profile")["ok"]
    assert error(world.op(other, "profile")) == "UNAUTHORIZED"
    assert error(world.op(ann, "deposit", amount=5, req_id="cp1")) == "BAD_REQUEST"


def test_a_wrong_password_is_not_kept_so_the_corrected_retry_runs(shop: Shop) -> None:
    world, ann, _ = shop
    assert error(change(world, ann, WRONG, req_id="cp1")) == "INVALID_CREDENTIALS"
    assert change(world, ann, req_id="cp1")["ok"]
    assert world.login("buyer", "ann", NEW)["ok"]


def test_kept_logins_no_longer_replay_under_the_old_password(world: World) -> None:
    first = world.auth("new_buyer", "ann", req_id="reg1")
    assert first["ok"]
    assert change(world, first)["ok"]
    # The kept registration is forgotten: the same req_id is judged afresh.
    assert error(world.auth("new_buyer", "ann", req_id="reg1")) == "DUPLICATE_USERNAME"


def test_no_event_is_published(shop: Shop) -> None:
    world, ann, _ = shop
    before = world.acc.events.last_seq()
    world.login("buyer", "ann")
    assert change(world, ann)["ended"] == 1
    assert world.acc.events.last_seq() == before



def test_a_change_that_raced_another_is_refused(shop: Shop) -> None:
    """Between the halves the password changed: the check was against a stale hash."""
    world, ann, _ = shop
    job = first_half(world, ann)
    assert change(world, ann)["ok"]  # another change lands first
    out = world.second_half(job)
    assert error(out.reply) == "INVALID_CREDENTIALS"
    assert world.login("buyer", "ann", NEW)["ok"]


def test_a_session_ended_between_the_halves_is_unauthorized(shop: Shop) -> None:
    world, ann, _ = shop
    job = first_half(world, ann)
    world.op(ann, "logout")
    assert error(world.second_half(job).reply) == "UNAUTHORIZED"
    assert world.login("buyer", "ann", PASSWORD)["ok"], "nothing changed"


def test_sellers_change_their_passwords_too(shop: Shop) -> None:
    world, _, sam = shop
    assert change(world, sam)["ok"]
    assert world.login("seller", "sam", NEW)["ok"]
    assert world.login("buyer", "ann", PASSWORD)["ok"], "the buyer account is another one"
