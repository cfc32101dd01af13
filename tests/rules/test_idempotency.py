"""req_id: the first final reply is replayed, effects are applied once (docs/protocol.md §3-4)."""

from __future__ import annotations

from typing import Any

import pytest
from rules_world import PASSWORD, Shop, World, error

from vending import CryptoJob, Outcome, parse_request
from vending.call import Call


def test_deposit_retry_replays_and_deposits_once(shop: Shop) -> None:
    world, ann, _ = shop
    first = world.op(ann, "deposit", amount=50, req_id="d1")
    assert world.op(ann, "deposit", amount=50, req_id="d1") == first == {"ok": True,
                                                                         "deposit": 50}
    assert world.balance("buyer_ann") == 50
    assert world.op(ann, "deposit", amount=50, req_id="d2")["deposit"] == 100


def test_errors_are_replayed_too(shop: Shop) -> None:
    world, ann, sam = shop
    first = world.op(ann, "deposit", amount=7, req_id="d1")
    assert error(first) == "WRONG_AMOUNT"
    assert world.op(ann, "deposit", amount=7, req_id="d1") == first
    role = world.op(sam, "deposit", amount=5, req_id="s1")
    assert error(role) == "BUYERS_ONLY"
    assert world.op(sam, "deposit", amount=5, req_id="s1") == role


def test_failed_buy_is_replayed_even_after_the_cause_is_gone(
        shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=50, amount=3)
    assert error(world.op(ann, "buy", product_uid=uid, amount=1, req_id="b1")) \
        == "INSUFFICIENT_DEPOSIT"
    world.deposit(ann, 100)
    assert error(world.op(ann, "buy", product_uid=uid, amount=1, req_id="b1")) \
        == "INSUFFICIENT_DEPOSIT"
    assert world.balance("buyer_ann") == 100 and world.units(uid) == 3


def test_buy_retry_replays_without_a_second_purchase(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, cost=35, amount=3)
    world.deposit(ann, 100)
    first = world.op(ann, "buy", product_uid=uid, amount=2, req_id="b1")
    assert first["ok"] and first["change"] == [20, 10]
    world.deposit(ann, 100)
    assert world.op(ann, "buy", product_uid=uid, amount=2, req_id="b1") == first
    assert world.units(uid) == 1 and world.balance("buyer_ann") == 100
    assert world.stock.totals()[uid] == {"added": 3, "amount": 1, "sold": 2}
    assert world.stock.reservations() == []
    # still replayed when the product has since run out or gone
    world.op(sam, "delete_product", product_uid=uid)
    assert world.op(ann, "buy", product_uid=uid, amount=2, req_id="b1") == first


def test_different_request_under_a_used_req_id_is_bad_request(
        shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, amount=5)
    world.op(ann, "deposit", amount=50, req_id="r1")
    assert error(world.op(ann, "deposit", amount=20, req_id="r1")) == "BAD_REQUEST"
    assert error(world.op(ann, "reset", req_id="r1")) == "BAD_REQUEST"
    assert error(world.op(ann, "buy", product_uid=uid, amount=1, req_id="r1")) == "BAD_REQUEST"
    assert world.balance("buyer_ann") == 50 and world.units(uid) == 5
    world.op(sam, "sell", product_uid=uid, amount=1, req_id="r1")
    assert error(world.op(sam, "sell", product_uid=uid, amount=2, req_id="r1")) == "BAD_REQUEST"
    assert error(world.op(sam, "delete_product", product_uid=uid, req_id="r1")) == "BAD_REQUEST"
    assert world.units(uid) == 6


def test_the_stock_handler_refuses_a_used_req_id_on_its_own(shop: Shop) -> None:
    """Its kept replies are its own (the gatekeeper's record of the id may be gone,
    expired on its own clock): another request under the id is still BAD_REQUEST."""
    world, _, sam = shop
    uid = world.create(sam, amount=5)
    first = parse_request({"op": "sell", "product_uid": uid, "amount": 1, "req_id": "r1",
                           "wsess_uid": sam["wsess_uid"], "token": sam["token"]})
    grant = world.authorize(first)
    assert not isinstance(grant, Outcome)
    assert world.authorized(first, grant)["ok"]
    other = parse_request({**first.to_dict(), "amount": 2, "token": sam["token"]})
    assert error(world.authorized(other, grant)) == "BAD_REQUEST"
    assert world.units(uid) == 6


def test_req_ids_are_per_account(shop: Shop) -> None:
    world, ann, _ = shop
    bob = world.register("buyer", "bob")
    world.op(ann, "deposit", amount=50, req_id="r1")
    assert world.op(bob, "deposit", amount=20, req_id="r1") == {"ok": True, "deposit": 20}


def test_retry_through_a_new_session_of_the_account_replays(
        shop: Shop) -> None:
    world, ann, sam = shop
    first = world.op(ann, "deposit", amount=100, req_id="d1")
    world.op(ann, "logout")
    again = world.login("buyer", "ann")
    assert world.op(again, "deposit", amount=100, req_id="d1") == first
    assert world.balance("buyer_ann") == 100
    created = world.op(sam, "sell", product_name="tea", cost=20, amount=4, req_id="c1")
    sam2 = world.login("seller", "sam")
    assert world.op(sam2, "sell", product_name="tea", cost=20, amount=4, req_id="c1") == created
    assert len(world.products()["products"]) == 1


def test_sell_and_delete_retries_apply_once(shop: Shop) -> None:
    world, _, sam = shop
    uid = world.create(sam, amount=5)
    first = world.op(sam, "sell", product_uid=uid, amount=-2, req_id="u1")
    assert first["ok"] and first["product"]["amount"] == 3
    assert world.op(sam, "sell", product_uid=uid, amount=-2, req_id="u1") == first
    assert world.units(uid) == 3
    gone = world.op(sam, "delete_product", product_uid=uid, req_id="x1")
    assert gone == {"ok": True, "product_uid": uid}
    assert world.op(sam, "delete_product", product_uid=uid, req_id="x1") == gone
    assert error(world.op(sam, "delete_product", product_uid=uid)) == "PRODUCT_NOT_FOUND"


def test_stock_errors_are_replayed(shop: Shop) -> None:
    world, ann, sam = shop
    uid = world.create(sam, amount=1)
    first = world.op(sam, "sell", product_uid=uid, amount=-5, req_id="u1")
    assert error(first) == "INSUFFICIENT_STOCK"
    world.op(sam, "sell", product_uid=uid, amount=10)
    assert world.op(sam, "sell", product_uid=uid, amount=-5, req_id="u1") == first
    assert world.units(uid) == 11
    role = world.op(ann, "sell", product_uid=uid, amount=1, req_id="a1")
    assert error(role) == "SELLERS_ONLY"
    assert world.op(ann, "sell", product_uid=uid, amount=1, req_id="a1") == role


# -- auth -----------------------------------------------------------------------

def test_register_retry_returns_the_same_session(world: World) -> None:
    first = world.auth("new_buyer", "ann", req_id="r1")
    assert first["ok"]
    again = world.auth("new_buyer", "ann", req_id="r1")
    assert again == first
    assert world.op(again, "profile")["active_sessions"] == 0  # no second session


def test_auth_replay_with_another_password_is_a_failed_login(world: World) -> None:
    first = world.auth("new_buyer", "ann", req_id="r1")
    other = world.auth("new_buyer", "ann", "someone else", req_id="r1")
    assert error(other) == "INVALID_CREDENTIALS"
    assert first["token"] not in str(other)


def test_login_retry_returns_the_same_token(world: World) -> None:
    world.register("buyer", "ann")
    first = world.auth("buyer", "ann", req_id="l1")
    again = world.auth("buyer", "ann", req_id="l1")
    assert again["token"] == first["token"] and again["wsess_uid"] == first["wsess_uid"]
    assert error(world.auth("buyer", "ann", "wrong password", req_id="l1")) \
        == "INVALID_CREDENTIALS"
    assert world.op(first, "profile")["active_sessions"] == 1  # the register session only


def test_wrong_passwords_on_a_replay_are_throttled(world: World) -> None:
    """The probe of issue 14: a known req_id was a way to guess without limit."""
    world.register("buyer", "ann")
    first = world.auth("buyer", "ann", req_id="l1", peer="10.0.0.2")
    for i in range(10):
        reply = world.auth("buyer", "ann", f"guess number {i}", req_id="l1", peer="10.0.0.9")
        assert error(reply) == "INVALID_CREDENTIALS", (i, reply)
    right = world.auth("buyer", "ann", req_id="l1", peer="10.0.0.9")
    assert error(right) == "RATE_LIMITED" and "token" not in right
    assert world.auth("buyer", "ann", req_id="l1", peer="10.0.0.2") == first  # the owner


def test_the_throttle_is_checked_before_any_replay_work(world: World) -> None:
    world.register("buyer", "ann")
    world.auth("buyer", "ann", req_id="l1")
    for _ in range(10):
        world.auth("buyer", "ann", "wrong password")
    req = parse_request({"op": "auth", "token": "buyer", "username": "ann",
                         "password": PASSWORD, "req_id": "l1"})
    with world.acc.db.transaction():
        out = world.acc.answer(Call(req, None, "s_x"))
    assert isinstance(out, Outcome), "no argon2 job may run for a throttled replay"
    assert error(out.reply) == "RATE_LIMITED"


def test_a_failed_login_does_not_squat_its_req_id(world: World) -> None:
    world.register("buyer", "ann")
    for _ in range(3):  # each retry is judged, and counted, afresh
        assert error(world.auth("buyer", "ann", "wrong password", req_id="l1",
                                peer="10.0.0.9")) == "INVALID_CREDENTIALS"
    owner = world.auth("buyer", "ann", req_id="l1", peer="10.0.0.2")
    assert owner["ok"] and world.op(owner, "profile")["ok"]


def test_failed_retries_under_one_req_id_count_each_time(world: World) -> None:
    world.register("buyer", "ann")
    for _ in range(10):
        world.auth("buyer", "ann", "wrong password", req_id="l1")
    assert error(world.auth("buyer", "ann", req_id="l1")) == "RATE_LIMITED"


def test_a_failed_register_is_not_kept(world: World) -> None:
    world.register("buyer", "ann")
    assert error(world.auth("new_buyer", "ann", req_id="r1")) == "DUPLICATE_USERNAME"
    world.op(world.login("buyer", "ann"), "delete_user", password=PASSWORD)
    assert world.auth("new_buyer", "ann", req_id="r1")["ok"]


def test_failed_auth_replies_kept_by_older_versions_are_ignored(world: World) -> None:
    world.register("buyer", "ann")
    req = parse_request({"op": "auth", "token": "buyer", "username": "ann",
                         "password": PASSWORD, "req_id": "l1"})
    with world.acc.db.transaction():
        world.acc.replies.store.store("u:buyer_ann", "l1", req.fingerprint(),
                             {"ok": False, "error": "INVALID_CREDENTIALS", "message": "x"},
                             world.now)
    assert world.auth("buyer", "ann", req_id="l1")["ok"]


def _auth_job(world: World, kind: str, req_id: str) -> Any:
    req = parse_request({"op": "auth", "token": kind, "username": "ann", "password": PASSWORD,
                         "req_id": req_id})
    with world.acc.db.transaction():
        job = world.acc.answer(Call(req, None, f"s_{kind}_{req_id}"))
    assert isinstance(job, CryptoJob)
    return job, job.run()


def _finish(world: World, job: CryptoJob, result: Any) -> dict[str, Any]:
    with world.acc.db.transaction():
        return job.finish(result).reply


def test_two_logins_under_one_req_id_at_once_make_one_session(world: World) -> None:
    world.register("buyer", "ann")
    (a, ra), (b, rb) = _auth_job(world, "buyer", "l1"), _auth_job(world, "buyer", "l1")
    first = _finish(world, a, ra)
    assert first["ok"]
    assert error(_finish(world, b, rb)) == "UNAVAILABLE"  # not final: retried, it replays
    assert world.auth("buyer", "ann", req_id="l1") == first


def test_a_replay_whose_account_was_deleted_meanwhile_is_not_answered_from_it(
        world: World) -> None:
    old = world.auth("new_buyer", "ann", req_id="r1")
    job, result = _auth_job(world, "new_buyer", "r1")
    world.op(old, "delete_user", password=PASSWORD)
    assert error(_finish(world, job, result)) == "UNAVAILABLE"
    # Again, and this time the req_id now names a login of a new account.
    world.register("buyer", "ann")
    job, result = _auth_job(world, "buyer", "r2")
    world.op(world.login("buyer", "ann"), "delete_user", password=PASSWORD)
    world.auth("new_buyer", "ann", req_id="r2")
    assert error(_finish(world, job, result)) == "BAD_REQUEST"  # answered, never raised


def test_auth_req_id_under_another_kind_is_bad_request(world: World) -> None:
    world.auth("new_buyer", "ann", req_id="r1")
    assert error(world.auth("buyer", "ann", req_id="r1")) == "BAD_REQUEST"
    assert world.auth("new_seller", "ann", req_id="r1")["ok"]  # another user_uid


@pytest.mark.parametrize("password", [PASSWORD, "another password"])
def test_delete_user_ends_the_accounts_auth_replies(world: World, password: str) -> None:
    """docs/protocol.md §6: a username registered again is a new account that nothing
    of the old reaches."""
    old = world.auth("new_buyer", "ann", req_id="r1")
    login = world.auth("buyer", "ann", req_id="l1")
    assert world.op(old, "delete_user", password=PASSWORD)["ok"]
    new = world.auth("new_buyer", "ann", password, req_id="r1")
    assert new["ok"] and new["token"] != old["token"] and new["wsess_uid"] != old["wsess_uid"]
    assert world.op(new, "profile")["user_uid"] == "buyer_ann"
    assert error(world.op(old, "profile")) == "UNAUTHORIZED"
    again = world.auth("buyer", "ann", password, req_id="l1")
    assert again["ok"] and again["token"] != login["token"]
    assert world.op(again, "profile")["active_sessions"] == 1  # the new register session


# -- ending sessions, retried ------------------------------------------------------

def test_logout_retry_replays_although_the_session_ended(shop: Shop) -> None:
    world, ann, _ = shop
    first = world.op(ann, "logout", req_id="lo")
    assert first == {"ok": True, "ended": 1}
    assert world.op(ann, "logout", req_id="lo") == first
    assert error(world.op(ann, "logout", req_id="lo2")) == "UNAUTHORIZED"
    assert error(world.op(ann, "profile")) == "UNAUTHORIZED"


def test_logout_all_retry_replays(shop: Shop) -> None:
    world, ann, _ = shop
    world.login("buyer", "ann")
    first = world.op(ann, "logout_all", req_id="la")
    assert first == {"ok": True, "ended": 2}
    assert world.op(ann, "logout_all", req_id="la") == first


def test_delete_user_retry_replays(shop: Shop) -> None:
    world, ann, _ = shop
    world.deposit(ann, 100, 5)
    first = world.op(ann, "delete_user", password=PASSWORD, req_id="du")
    assert first == {"ok": True, "user_uid": "buyer_ann", "change": [100, 5]}
    assert world.op(ann, "delete_user", password=PASSWORD, req_id="du") == first
    assert error(world.op(ann, "delete_user", password=PASSWORD, req_id="du2")) \
        == "UNAUTHORIZED"


def test_replayed_reply_never_carries_a_fresh_effect_after_logout(
        shop: Shop) -> None:
    world, ann, _ = shop
    first = world.op(ann, "deposit", amount=20, req_id="d1")
    world.op(ann, "logout")
    # the ended session cannot deposit, with or without a known req_id
    assert error(world.op(ann, "deposit", amount=20, req_id="d2")) == "UNAUTHORIZED"
    assert first == {"ok": True, "deposit": 20}
    # a retry of a request the live session made is still its first reply
    # (docs/protocol.md §4), and
    # applies nothing: the balance shows the one deposit
    assert world.op(ann, "deposit", amount=20, req_id="d1") == first
    assert world.balance("buyer_ann") == 20


def test_logout_under_another_sessions_req_id_does_not_fake_an_end(
        shop: Shop) -> None:
    """docs/protocol.md §3-4: logout replays only for the same wsess_uid, token and req_id.

    A logout naming another session is a different request: it must either end
    that session or be refused (BAD_REQUEST), never report ok while it stays live.
    """
    world, ann, _ = shop
    other = world.login("buyer", "ann")
    assert world.op(ann, "logout", req_id="lo") == {"ok": True, "ended": 1}
    reply = world.op(other, "logout", req_id="lo")
    if reply["ok"]:
        assert error(world.op(other, "profile")) == "UNAUTHORIZED", (
            "logout replied ok but the session it names is still live")
    else:
        assert error(reply) == "BAD_REQUEST"


def test_rate_limited_is_not_kept_for_the_req_id(world: World) -> None:
    world.register("buyer", "ann")
    for _ in range(10):
        world.auth("buyer", "ann", "wrong password")
    assert error(world.auth("buyer", "ann", req_id="l1")) == "RATE_LIMITED"
    world.tick(61)
    assert world.auth("buyer", "ann", req_id="l1")["ok"]


def test_unauthorized_is_not_kept_for_the_req_id(shop: Shop) -> None:
    world, ann, _ = shop
    world.op(ann, "logout")
    assert error(world.op(ann, "deposit", amount=50, req_id="d1")) == "UNAUTHORIZED"
    again = world.login("buyer", "ann")
    assert world.op(again, "deposit", amount=50, req_id="d1") == {"ok": True, "deposit": 50}


def test_a_re_registered_account_starts_with_fresh_req_ids(
        shop: Shop) -> None:
    world, ann, _ = shop
    world.op(ann, "deposit", amount=50, req_id="d1")
    world.op(ann, "delete_user", password=PASSWORD)
    reborn = world.register("buyer", "ann")
    assert world.op(reborn, "deposit", amount=20, req_id="d1") == {"ok": True, "deposit": 20}


def test_keys_are_kept_for_at_least_24_hours(shop: Shop) -> None:
    world, ann, _ = shop
    first = world.op(ann, "deposit", amount=50, req_id="d1")
    bye = world.op(ann, "logout", req_id="lo")
    world.tick(24 * 3600 + 1)
    with world.acc.db.transaction():
        world.acc.housekeeping()
    again = world.login("buyer", "ann")
    assert world.op(again, "deposit", amount=50, req_id="d1") == first
    assert world.op(ann, "logout", req_id="lo") == bye
    assert world.balance("buyer_ann") == 50


def test_keys_survive_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from vending import GATE_SCHEMA, Database, Gate

    world = World()
    path = tmp_path / "accounts.db"
    world.acc = Gate(Database(path, GATE_SCHEMA), clock=lambda: world.now)
    ann = world.register("buyer", "ann")
    first = world.op(ann, "deposit", amount=100, req_id="d1")
    world.acc.db.close()
    world.acc = Gate(Database(path, GATE_SCHEMA), clock=lambda: world.now)
    assert world.op(ann, "deposit", amount=100, req_id="d1") == first  # session survives too
    assert world.balance("buyer_ann") == 100
    world.acc.db.close()


def test_delete_user_retry_with_the_corrected_password_is_judged_afresh(shop: Shop) -> None:
    """The wrong-password refusal applied nothing and is not kept: the fixed retry runs."""
    world, ann, _ = shop
    assert error(world.op(ann, "delete_user", password="wrong password", req_id="d1")) \
        == "INVALID_CREDENTIALS"
    deleted = world.op(ann, "delete_user", password=PASSWORD, req_id="d1")
    assert deleted["ok"] and deleted["user_uid"] == "buyer_ann"
    assert world.op(ann, "delete_user", password=PASSWORD, req_id="d1") == deleted
