"""Accounts: users, logins, deposits, sessions and their ends (docs/protocol.md §6)."""

from __future__ import annotations

import json

import pytest
from rules_world import PASSWORD, Shop, World, error

from vending import SessionPolicy
from vending.errors import Unauthorized

NOTICE = "There is already an active session using your account"


# -- register and login -------------------------------------------------------

def test_register_replies_with_a_session(world: World) -> None:
    reply = world.auth("new_buyer", "ann")
    assert reply["ok"] is True
    assert reply["user_uid"] == "buyer_ann" and reply["role"] == "buyer"
    assert reply["deposit"] == 0
    assert reply["token"] and reply["wsess_uid"]
    assert world.op(reply, "profile")["username"] == "ann"


def test_register_twice_is_duplicate_username(world: World) -> None:
    world.register("buyer", "ann")
    assert error(world.auth("new_buyer", "ann", "another pw")) == "DUPLICATE_USERNAME"


def test_login_gives_a_new_working_session(world: World) -> None:
    first = world.register("seller", "sam")
    reply = world.auth("seller", "sam")
    assert reply["ok"] and reply["user_uid"] == "seller_sam" and reply["role"] == "seller"
    assert reply["token"] != first["token"] and reply["wsess_uid"] != first["wsess_uid"]
    assert world.op(reply, "profile")["ok"]


def test_wrong_password_and_unknown_user_look_the_same(world: World) -> None:
    world.register("buyer", "ann")
    wrong = world.auth("buyer", "ann", "not the password")
    unknown = world.auth("buyer", "nobody")
    assert error(wrong) == error(unknown) == "INVALID_CREDENTIALS"
    assert wrong["message"] == unknown["message"]


def test_buyer_and_seller_of_one_name_are_separate_accounts(world: World) -> None:
    buyer = world.register("buyer", "kim", "buyer password")
    seller = world.register("seller", "kim", "seller password")
    assert buyer["user_uid"] == "buyer_kim" and seller["user_uid"] == "seller_kim"
    assert error(world.auth("buyer", "kim", "seller password")) == "INVALID_CREDENTIALS"
    assert error(world.auth("seller", "kim", "buyer password")) == "INVALID_CREDENTIALS"
    assert world.auth("buyer", "kim", "buyer password")["ok"]
    world.deposit(buyer, 50)
    assert world.op(seller, "profile")["deposit"] == 0
    assert error(world.auth("buyer", "kim", "seller password")) == "INVALID_CREDENTIALS"


def test_login_reports_other_sessions_with_a_notice(world: World) -> None:
    world.register("buyer", "ann")
    second = world.login("buyer", "ann")
    assert second["active_sessions"] == 1 and second["notice"] == NOTICE
    third = world.login("buyer", "ann")
    assert third["active_sessions"] == 2 and third["notice"] == NOTICE


def test_login_without_other_sessions_has_no_notice(world: World) -> None:
    first = world.register("buyer", "ann")
    world.op(first, "logout")
    reply = world.login("buyer", "ann")
    assert reply["active_sessions"] == 0 and "notice" not in reply


def test_no_reply_contains_a_password_or_hash(world: World) -> None:
    replies = [world.auth("new_buyer", "ann", "secret-pw-1"), world.auth("buyer", "ann",
                                                                         "secret-pw-1")]
    replies.append(world.op(replies[0], "profile"))
    replies.append(world.auth("buyer", "ann", "secret-pw-2"))
    text = json.dumps(replies)
    assert "secret-pw" not in text and "argon2" not in text and "pw_hash" not in text


# -- deposit, reset, profile ----------------------------------------------------

@pytest.mark.parametrize("coin", [5, 10, 20, 50, 100])
def test_deposit_each_coin(shop: Shop, coin: int) -> None:
    world, ann, _ = shop
    assert world.op(ann, "deposit", amount=coin) == {"ok": True, "deposit": coin}
    assert world.op(ann, "deposit", amount=coin)["deposit"] == 2 * coin


@pytest.mark.parametrize("amount", [0, -5, 1, 7, 15, 25, 200, 1000])
def test_deposit_of_a_non_coin_is_wrong_amount(shop: Shop,
                                                amount: int) -> None:
    world, ann, _ = shop
    world.deposit(ann, 20)
    assert error(world.op(ann, "deposit", amount=amount)) == "WRONG_AMOUNT"
    assert world.balance("buyer_ann") == 20


def test_deposit_is_capped_at_a_million_cents(shop: Shop) -> None:
    world, ann, _ = shop
    for _ in range(9_999):
        world.op(ann, "deposit", amount=100)
    assert world.op(ann, "deposit", amount=50)["deposit"] == 999_950
    assert error(world.op(ann, "deposit", amount=100)) == "WRONG_AMOUNT"
    assert world.op(ann, "deposit", amount=50)["deposit"] == 1_000_000
    assert error(world.op(ann, "deposit", amount=5)) == "WRONG_AMOUNT"
    assert world.balance("buyer_ann") == 1_000_000
    assert sum(world.op(ann, "reset")["change"]) == 1_000_000


def test_sellers_cannot_deposit_or_reset(shop: Shop) -> None:
    world, _, sam = shop
    assert error(world.op(sam, "deposit", amount=50)) == "BUYERS_ONLY"
    assert error(world.op(sam, "deposit", amount=7)) == "BUYERS_ONLY"  # role before amount
    assert error(world.op(sam, "reset")) == "BUYERS_ONLY"


def test_reset_returns_the_deposit_in_fewest_coins(shop: Shop) -> None:
    world, ann, _ = shop
    world.deposit(ann, 100, 50, 20, 10, 5, 20)
    assert world.op(ann, "reset") == {"ok": True, "change": [100, 100, 5], "deposit": 0}
    assert world.op(ann, "profile")["deposit"] == 0
    assert world.op(ann, "reset") == {"ok": True, "change": [], "deposit": 0}
    assert world.acc.totals()["buyer_ann"] == {"deposited": 205, "deposit": 0, "spent": 0,
                                                "returned": 205}


def test_profile(shop: Shop) -> None:
    world, ann, _ = shop
    world.deposit(ann, 20)
    assert world.op(ann, "profile") == {"ok": True, "user_uid": "buyer_ann", "username": "ann",
                                        "role": "buyer", "deposit": 20, "active_sessions": 0}
    world.login("buyer", "ann")
    assert world.op(ann, "profile")["active_sessions"] == 1


# -- ending sessions --------------------------------------------------------------

def test_logout_then_the_token_is_refused(shop: Shop) -> None:
    world, ann, _ = shop
    other = world.login("buyer", "ann")
    outcome = world.session_outcome(ann, "logout")
    assert outcome.reply == {"ok": True, "ended": 1} and outcome.ended
    with pytest.raises(Unauthorized):
        world.session_outcome(ann, "profile")
    assert error(world.op(ann, "deposit", amount=5)) == "UNAUTHORIZED"
    assert error(world.op(ann, "logout")) == "UNAUTHORIZED"
    assert world.op(other, "profile")["ok"]  # only that session ended


def test_logout_all_ends_every_session_of_the_account(shop: Shop) -> None:
    world, ann, sam = shop
    sessions = [ann, world.login("buyer", "ann"), world.login("buyer", "ann")]
    world.op(sessions[2], "logout")
    assert world.op(sessions[0], "logout_all") == {"ok": True, "ended": 2}
    for cred in sessions:
        assert error(world.op(cred, "profile")) == "UNAUTHORIZED"
    assert world.op(sam, "profile")["ok"]  # another account keeps its session
    assert world.login("buyer", "ann")["active_sessions"] == 0


def test_token_with_another_wsess_uid_is_refused(shop: Shop) -> None:
    world, ann, sam = shop
    swapped = {"wsess_uid": sam["wsess_uid"], "token": ann["token"]}
    assert error(world.op(swapped, "profile")) == "UNAUTHORIZED"
    assert error(world.op({"wsess_uid": "s_nope", "token": ann["token"]}, "profile")) \
        == "UNAUTHORIZED"
    assert error(world.op({**ann, "token": ann["token"] + "x"}, "profile")) == "UNAUTHORIZED"
    assert error(world.op(ann, "profile", token="x" * 600)) == "UNAUTHORIZED"


def test_idle_session_expires() -> None:
    world = World(policy=SessionPolicy(idle=100.0))
    ann = world.register("buyer", "ann")
    world.tick(90)
    assert world.op(ann, "profile")["ok"]  # use keeps it alive
    world.tick(90)
    assert world.op(ann, "profile")["ok"]
    world.tick(101)
    assert error(world.op(ann, "profile")) == "UNAUTHORIZED"
    assert error(world.op(ann, "deposit", amount=5)) == "UNAUTHORIZED"
    assert world.login("buyer", "ann")["active_sessions"] == 0


def test_default_idle_timeout_is_1800_seconds(world: World) -> None:
    ann = world.register("buyer", "ann")
    world.tick(1799)
    assert world.op(ann, "profile")["ok"]
    world.tick(1801)
    assert error(world.op(ann, "profile")) == "UNAUTHORIZED"


def test_session_has_a_maximum_age() -> None:
    world = World(policy=SessionPolicy(idle=100.0, max_age=500.0))
    ann = world.register("buyer", "ann")
    for _ in range(49):
        world.tick(10)
        assert world.op(ann, "profile")["ok"]
    world.tick(11)
    assert error(world.op(ann, "profile")) == "UNAUTHORIZED"


def test_sessions_per_account_are_bounded_least_recently_used_first() -> None:
    world = World(policy=SessionPolicy(per_account=2))
    s1 = world.register("buyer", "ann")
    world.tick(10)
    s2 = world.login("buyer", "ann")
    assert s2["active_sessions"] == 1
    world.tick(10)
    assert world.op(s1, "profile")["ok"]  # s1 is now more recently used than s2
    world.tick(10)
    s3 = world.login("buyer", "ann")
    assert s3["active_sessions"] == 1  # never more than the bound allows
    assert error(world.op(s2, "profile")) == "UNAUTHORIZED"
    assert world.op(s1, "profile")["ok"] and world.op(s3, "profile")["ok"]
    world.tick(10)
    world.login("buyer", "ann")
    assert error(world.op(s1, "profile")) == "UNAUTHORIZED"
    assert world.op(s3, "profile")["active_sessions"] == 1


# -- delete_user ---------------------------------------------------------------------

def test_delete_user_with_wrong_password(shop: Shop) -> None:
    world, ann, _ = shop
    world.deposit(ann, 50)
    assert error(world.op(ann, "delete_user", password="wrong password")) \
        == "INVALID_CREDENTIALS"
    assert world.op(ann, "profile")["deposit"] == 50


def test_delete_buyer_returns_the_deposit_and_frees_the_name(
        shop: Shop) -> None:
    world, ann, sam = shop
    other = world.login("buyer", "ann")
    world.deposit(ann, 100, 50, 20, 5)
    outcome = world.session_outcome(ann, "delete_user", password=PASSWORD)
    assert outcome.reply == {"ok": True, "user_uid": "buyer_ann", "change": [100, 50, 20, 5]}
    assert outcome.ended and outcome.purge is None
    for cred in (ann, other):
        assert error(world.op(cred, "profile")) == "UNAUTHORIZED"
    assert error(world.auth("buyer", "ann")) == "INVALID_CREDENTIALS"
    again = world.auth("new_buyer", "ann", "a new password")
    assert again["ok"] and again["deposit"] == 0
    assert world.op(again, "profile")["deposit"] == 0
    assert error(world.op(ann, "profile")) == "UNAUTHORIZED"  # old tokens stay dead
    assert world.op(sam, "profile")["ok"]


def test_delete_seller_asks_for_a_purge(shop: Shop) -> None:
    world, _, sam = shop
    outcome = world.session_outcome(sam, "delete_user", password=PASSWORD)
    assert outcome.reply["ok"] and outcome.reply["user_uid"] == "seller_sam"
    assert outcome.reply["change"] == []
    assert outcome.purge is not None and outcome.purge[1] == "seller_sam"
    assert world.acc.purges.pending() == [outcome.purge]
    world.acc.purges.done(outcome.purge[0])
    assert world.acc.purges.pending() == []
    assert world.register("seller", "sam")["user_uid"] == "seller_sam"


def test_delete_user_after_logout_is_refused(shop: Shop) -> None:
    world, ann, _ = shop
    world.op(ann, "logout")
    assert error(world.op(ann, "delete_user", password=PASSWORD)) == "UNAUTHORIZED"
    assert world.login("buyer", "ann")["ok"]
