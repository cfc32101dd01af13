"""Idempotent retries by `req_id` (docs/protocol.md §3-4), through the embedded system."""

from __future__ import annotations

from typing import Any

from transport.client import Client

PASSWORD = "correct horse battery"


def send(client: Client, op: str, req_id: str, **fields: Any) -> dict[str, Any]:
    return client.request({"op": op, "wsess_uid": client.wsess_uid, "token": client.token,
                           "req_id": req_id, **fields})


def test_deposit_retry_is_applied_once_with_the_same_reply(account: Any) -> None:
    ann = account("ann")
    first = send(ann, "deposit", "dep-1", amount=50)
    again = send(ann, "deposit", "dep-1", amount=50)
    assert first == again == {"ok": True, "deposit": 50, "req_id": "dep-1"}
    assert ann.profile()["deposit"] == 50
    assert send(ann, "deposit", "dep-2", amount=50)["deposit"] == 100


def test_a_different_request_under_a_used_req_id_is_bad_request(account: Any) -> None:
    ann = account("ann")
    send(ann, "deposit", "dep-1", amount=5)
    reply = send(ann, "deposit", "dep-1", amount=10)
    assert reply["ok"] is False
    assert reply["error"] == "BAD_REQUEST"
    assert "req_id" in reply["message"]
    reply = send(ann, "reset", "dep-1")
    assert reply["error"] == "BAD_REQUEST"
    assert ann.profile()["deposit"] == 5


def test_req_ids_are_per_account(account: Any) -> None:
    ann, bob = account("ann"), account("bob")
    assert send(ann, "deposit", "same-id", amount=5)["deposit"] == 5
    assert send(bob, "deposit", "same-id", amount=20)["deposit"] == 20


def test_an_error_reply_is_replayed_too(account: Any) -> None:
    ann = account("ann")
    first = send(ann, "deposit", "bad-coin", amount=3)
    assert first["error"] == "WRONG_AMOUNT"
    assert send(ann, "deposit", "bad-coin", amount=3) == first


def test_buy_retry_takes_stock_and_money_once(account: Any) -> None:
    sam = account("sam", "seller")
    uid = sam.sell("cola", 35, 5)["product_uid"]
    ann = account("ann", deposit=100)
    first = send(ann, "buy", "buy-1", product_uid=uid, amount=2)
    assert first["ok"] is True
    ann.deposit(50)  # a later deposit must not be spent by the retry
    assert send(ann, "buy", "buy-1", product_uid=uid, amount=2) == first
    assert ann.product(uid)["amount"] == 3
    assert ann.profile()["deposit"] == 50


def test_sell_retry_creates_one_product(account: Any) -> None:
    sam = account("sam", "seller")
    first = send(sam, "sell", "sell-1", product_name="tea", cost=10, amount=3)
    assert send(sam, "sell", "sell-1", product_name="tea", cost=10, amount=3) == first
    assert len(sam.products()) == 1
    uid = first["product"]["product_uid"]
    added = send(sam, "sell", "more-1", product_uid=uid, amount=4)
    assert send(sam, "sell", "more-1", product_uid=uid, amount=4) == added
    assert sam.product(uid)["amount"] == 7


def test_reset_and_delete_product_retries_replay(account: Any) -> None:
    ann = account("ann", deposit=70)
    first = send(ann, "reset", "reset-1")
    assert first["change"] == [50, 20]
    ann.deposit(10)
    assert send(ann, "reset", "reset-1") == first
    assert ann.profile()["deposit"] == 10

    sam = account("sam", "seller")
    uid = sam.sell("tea", 10, 1)["product_uid"]
    first = send(sam, "delete_product", "del-1", product_uid=uid)
    assert first["ok"] is True
    assert send(sam, "delete_product", "del-1", product_uid=uid) == first


def test_register_retry_returns_the_first_session(system: Any) -> None:
    message = {"op": "auth", "token": "new_buyer", "username": "ann", "password": PASSWORD,
               "req_id": "reg-1"}
    first = system.client().request(message)
    again = system.client().request(message)
    assert first["ok"] is True
    assert again == first  # not DUPLICATE_USERNAME: same token, same wsess_uid
    client = system.client()
    client.wsess_uid, client.token = again["wsess_uid"], again["token"]
    assert client.profile()["user_uid"] == "buyer_ann"


def test_auth_retry_with_another_password_does_not_leak_the_token(system: Any) -> None:
    message = {"op": "auth", "token": "new_buyer", "username": "ann", "password": PASSWORD,
               "req_id": "reg-1"}
    first = system.client().request(message)
    other = system.client().request({**message, "password": "not the password"})
    assert first["ok"] is True
    assert other["ok"] is False and other["error"] == "INVALID_CREDENTIALS", other
    assert set(other) == {"ok", "error", "message", "req_id"}, other
    assert other["req_id"] == "reg-1"
    assert first["token"] not in repr(other) and first["wsess_uid"] not in repr(other)
    # the refused replay opened no session: only the registration's is live
    assert system.client().login("ann", PASSWORD)["active_sessions"] == 1


def test_logout_retry_replays_after_the_session_ended(account: Any) -> None:
    ann = account("ann")
    first = send(ann, "logout", "out-1")
    assert first == {"ok": True, "ended": 1, "req_id": "out-1"}
    assert send(ann, "logout", "out-1") == first
    assert send(ann, "logout", "out-2")["error"] == "UNAUTHORIZED"
    assert send(ann, "deposit", "dep-9", amount=5)["error"] == "UNAUTHORIZED"


def test_logout_all_and_delete_user_retries_replay(system: Any, account: Any) -> None:
    ann = account("ann")
    system.client().login("ann", PASSWORD)
    first = send(ann, "logout_all", "all-1")
    assert first["ended"] == 2
    assert send(ann, "logout_all", "all-1") == first

    bob = account("bob", deposit=25)
    first = send(bob, "delete_user", "gone-1", password=PASSWORD)
    assert first["change"] == [20, 5]
    assert send(bob, "delete_user", "gone-1", password=PASSWORD) == first
