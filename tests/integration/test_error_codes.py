"""The error codes of docs/protocol.md §7, as they come over the wire for each op."""

from __future__ import annotations

from typing import Any

import pytest

from transport.client import Client

PASSWORD = "correct horse battery"


def send(client: Client, op: str, *, session: bool = True, **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"op": op, **fields}
    if session:
        message = {"wsess_uid": client.wsess_uid, "token": client.token, **message}
    return client.request(message)


def error(reply: dict[str, Any], code: str) -> str:
    """Check the failure shape and code; return the message."""
    assert reply.get("ok") is False, reply
    assert reply["error"] == code, reply
    assert set(reply) - {"req_id"} == {"ok", "error", "message"}
    assert isinstance(reply["message"], str) and reply["message"].strip()
    return str(reply["message"])


@pytest.fixture
def shop(account: Any) -> tuple[Client, Client, Client, str]:
    """Buyer ann (no deposit), sellers sam (owns a cola at 35, 2 units) and sue."""
    sam = account("sam", "seller")
    sue = account("sue", "seller")
    ann = account("ann")
    return ann, sam, sue, sam.sell("cola", 35, 2)["product_uid"]


# -- auth ----------------------------------------------------------------------

def test_register_twice_is_duplicate_username(system: Any, account: Any) -> None:
    account("ann")
    reply = send(system.client(), "auth", session=False, token="new_buyer", username="ann",
                 password="other password")
    error(reply, "DUPLICATE_USERNAME")


@pytest.mark.parametrize("username, password", [("ann", "wrong password"),
                                                ("nobody", PASSWORD)])
def test_login_failures_are_one_code(system: Any, account: Any, username: str,
                                     password: str) -> None:
    account("ann")
    reply = send(system.client(), "auth", session=False, token="buyer", username=username,
                 password=password)
    error(reply, "INVALID_CREDENTIALS")


def test_login_to_the_other_role_is_invalid_credentials(system: Any, account: Any) -> None:
    account("ann", "buyer")
    reply = send(system.client(), "auth", session=False, token="seller", username="ann",
                 password=PASSWORD)
    error(reply, "INVALID_CREDENTIALS")


@pytest.mark.parametrize("fields, named", [
    ({"token": "new_buyer", "username": "no spaces", "password": PASSWORD}, "username"),
    ({"token": "new_buyer", "username": "x" * 65, "password": PASSWORD}, "username"),
    ({"token": "new_buyer", "username": "ann", "password": "short"}, "password"),
    ({"token": "new_buyer", "username": "ann", "password": "p" * 257}, "password"),
    ({"token": "new_buyer", "username": "ann", "password": b"bytes not str"}, "password"),
    ({"token": "admin", "username": "ann", "password": PASSWORD}, "token"),
    ({"token": "new_buyer", "password": PASSWORD}, "username"),
    ({"token": "new_buyer", "username": "ann"}, "password"),
])
def test_auth_bad_request_names_the_field(system: Any, fields: dict[str, Any],
                                          named: str) -> None:
    reply = send(system.client(), "auth", session=False, **fields)
    assert named in error(reply, "BAD_REQUEST")


def test_rate_limited_after_ten_failed_logins(system: Any, account: Any) -> None:
    account("ann")
    client = system.client()
    for _ in range(10):
        reply = send(client, "auth", session=False, token="buyer", username="ann",
                     password="wrong password")
        error(reply, "INVALID_CREDENTIALS")
    # The eleventh attempt is refused even with the right password.
    reply = send(client, "auth", session=False, token="buyer", username="ann",
                 password=PASSWORD)
    error(reply, "RATE_LIMITED")
    # Another account is not affected.
    account("bob")
    assert system.client().login("bob", PASSWORD)["ok"] is True


# -- session credentials ---------------------------------------------------------

@pytest.mark.parametrize("op, fields", [
    ("deposit", {"amount": 5}), ("reset", {}), ("profile", {}), ("logout", {}),
    ("logout_all", {}), ("buy", {"product_uid": "p1", "amount": 1}),
    ("sell", {"product_name": "x", "cost": 5, "amount": 1}),
    ("delete_product", {"product_uid": "p1"}), ("delete_user", {"password": PASSWORD}),
])
def test_session_ops_without_a_usable_token_are_unauthorized(system: Any, account: Any,
                                                             op: str,
                                                             fields: dict[str, Any]) -> None:
    ann, bob = account("ann"), account("bob")
    client = system.client()
    cases = [
        {},                                                         # missing both
        {"wsess_uid": ann.wsess_uid},                               # token missing
        {"token": ann.token},                                       # wsess_uid missing
        {"wsess_uid": ann.wsess_uid, "token": ""},                  # empty
        {"wsess_uid": ann.wsess_uid, "token": "not-a-token"},       # unknown token
        {"wsess_uid": "s_unknown", "token": ann.token},             # unknown wsess
        {"wsess_uid": bob.wsess_uid, "token": ann.token},           # foreign wsess
    ]
    for creds in cases:
        error(client.request({"op": op, **fields, **creds}), "UNAUTHORIZED")
    assert ann.profile()["ok"] is True  # nothing above ended ann's session


def test_logged_out_token_is_unauthorized(account: Any) -> None:
    ann = account("ann")
    wsess, token = ann.wsess_uid, ann.token
    ann.logout()
    ann.wsess_uid, ann.token = wsess, token
    for op, fields in (("profile", {}), ("deposit", {"amount": 5}), ("logout", {})):
        error(send(ann, op, **fields), "UNAUTHORIZED")


# -- buyer ops -----------------------------------------------------------------------

def test_deposit_errors(shop: Any) -> None:
    ann, sam, _, _ = shop
    error(send(ann, "deposit", amount=3), "WRONG_AMOUNT")
    error(send(ann, "deposit", amount=0), "WRONG_AMOUNT")
    error(send(ann, "deposit", amount=-5), "WRONG_AMOUNT")
    error(send(sam, "deposit", amount=5), "BUYERS_ONLY")
    error(send(sam, "deposit", amount=3), "BUYERS_ONLY")  # role before WRONG_AMOUNT
    for bad in ("5", 5.0, True, None, [5]):
        assert "amount" in error(send(ann, "deposit", amount=bad), "BAD_REQUEST")
    assert ann.profile()["deposit"] == 0


def test_buy_errors(shop: Any) -> None:
    ann, sam, _, cola = shop
    error(send(sam, "buy", product_uid=cola, amount=1), "BUYERS_ONLY")
    error(send(ann, "buy", product_uid="p-nope", amount=1), "PRODUCT_NOT_FOUND")
    ann.deposit(100)
    error(send(ann, "buy", product_uid=cola, amount=3), "INSUFFICIENT_STOCK")
    ann.reset()
    ann.deposit(20)
    error(send(ann, "buy", product_uid=cola, amount=1), "INSUFFICIENT_DEPOSIT")
    error(send(ann, "buy", product_uid=cola, amount=3), "INSUFFICIENT_STOCK")  # stock first
    for bad in (0, -1, True, 1.0, "1"):
        assert "amount" in error(send(ann, "buy", product_uid=cola, amount=bad), "BAD_REQUEST")
    assert "product_uid" in error(send(ann, "buy", amount=1), "BAD_REQUEST")
    # Nothing changed by any of it.
    assert ann.profile()["deposit"] == 20
    assert ann.product(cola)["amount"] == 2


def test_reset_by_a_seller_is_buyers_only(shop: Any) -> None:
    _, sam, _, _ = shop
    error(send(sam, "reset"), "BUYERS_ONLY")


# -- seller ops --------------------------------------------------------------------

def test_sell_errors(shop: Any) -> None:
    ann, sam, sue, cola = shop
    error(send(ann, "sell", product_name="x", cost=5, amount=1), "SELLERS_ONLY")
    for cost in (0, -5, 7, 100_005):
        error(send(sam, "sell", product_name="x", cost=cost, amount=1), "WRONG_COST")
    error(send(sam, "sell", product_uid=cola, cost=12), "WRONG_COST")
    error(send(sue, "sell", product_uid=cola, amount=5), "NOT_OWNER")
    error(send(sue, "sell", product_uid=cola, cost=7), "NOT_OWNER")  # owner before cost
    error(send(sam, "sell", product_uid="p-nope", amount=1), "PRODUCT_NOT_FOUND")
    error(send(sam, "sell", product_uid=cola, amount=-3), "INSUFFICIENT_STOCK")
    assert "amount" in error(send(sam, "sell", product_name="x", cost=5, amount=-1),
                             "BAD_REQUEST")
    assert "cost" in error(send(sam, "sell", product_name="x", amount=1), "BAD_REQUEST")
    assert "product_name" in error(send(sam, "sell", cost=5, amount=1), "BAD_REQUEST")
    assert "product_name" in error(send(sam, "sell", product_name="", cost=5, amount=1),
                                   "BAD_REQUEST")
    assert "product_name" in error(send(sam, "sell", product_name="n" * 101, cost=5,
                                        amount=1), "BAD_REQUEST")
    error(send(sam, "sell", product_uid=cola), "BAD_REQUEST")  # names no field to change
    assert "cost" in error(send(sam, "sell", product_name="x", cost=5.0, amount=1),
                           "BAD_REQUEST")
    assert sam.products() == [sam.product(cola)]
    assert sam.product(cola)["amount"] == 2


def test_stock_never_passes_a_million_units(account: Any) -> None:
    sam = account("sam", "seller")
    uid = sam.sell("lots", 5, 1_000_000)["product_uid"]
    error(send(sam, "sell", product_uid=uid, amount=1), "BAD_REQUEST")
    error(send(sam, "sell", product_name="more", cost=5, amount=1_000_001), "BAD_REQUEST")
    assert sam.product(uid)["amount"] == 1_000_000


def test_delete_product_errors(shop: Any) -> None:
    ann, sam, sue, cola = shop
    error(send(ann, "delete_product", product_uid=cola), "SELLERS_ONLY")
    error(send(sue, "delete_product", product_uid=cola), "NOT_OWNER")
    error(send(sam, "delete_product", product_uid="p-nope"), "PRODUCT_NOT_FOUND")
    assert "product_uid" in error(send(sam, "delete_product"), "BAD_REQUEST")
    assert sam.product(cola)["amount"] == 2


# -- anyone ---------------------------------------------------------------------------

def test_product_errors(system: Any) -> None:
    client = system.client()
    error(client.request({"op": "product", "product_uid": "p-nope"}), "PRODUCT_NOT_FOUND")
    assert "product_uid" in error(client.request({"op": "product"}), "BAD_REQUEST")
    assert "product_uid" in error(client.request({"op": "product", "product_uid": 7}),
                                  "BAD_REQUEST")
    assert "seller_uid" in error(client.request({"op": "products", "seller_uid": 7}),
                                 "BAD_REQUEST")


def test_delete_user_errors(account: Any) -> None:
    ann = account("ann", deposit=10)
    error(send(ann, "delete_user", password="wrong password"), "INVALID_CREDENTIALS")
    assert "password" in error(send(ann, "delete_user"), "BAD_REQUEST")
    assert ann.profile()["deposit"] == 10


@pytest.mark.parametrize("message, named", [
    ({}, "op"), ({"op": 5}, "op"), ({"op": "steal"}, "op"),
    ({"op": "ping", "req_id": ""}, "req_id"), ({"op": "ping", "req_id": "r" * 65}, "req_id"),
    ({"op": "ping", "req_id": 12}, "req_id"),
])
def test_bad_envelope_names_the_field(system: Any, message: dict[str, Any], named: str) -> None:
    assert named in error(system.client().request(message), "BAD_REQUEST")


def test_bad_request_comes_before_unauthorized(system: Any) -> None:
    reply = system.client().request({"op": "deposit", "amount": "five"})
    assert "amount" in error(reply, "BAD_REQUEST")


# -- the new ops: change_password, history, products paging --------------------------

@pytest.mark.parametrize("fields, named", [
    ({"password": PASSWORD}, "new_password"),
    ({"new_password": "a brand new password"}, "password"),
    ({"password": PASSWORD, "new_password": "short"}, "new_password"),
    ({"password": PASSWORD, "new_password": 12345678}, "new_password"),
])
def test_change_password_bad_requests_name_the_field(shop: Any, fields: dict[str, Any],
                                                      named: str) -> None:
    ann = shop[0]
    assert named in error(send(ann, "change_password", **fields), "BAD_REQUEST")


def test_change_password_wrong_password_and_ended_session(shop: Any) -> None:
    ann = shop[0]
    error(send(ann, "change_password", password="wrong password",
               new_password="a brand new password"), "INVALID_CREDENTIALS")
    error(send(ann, "change_password", token="forged", password=PASSWORD,
               new_password="a brand new password"), "UNAUTHORIZED")


@pytest.mark.parametrize("fields, named", [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": 1.0}, "limit"),
    ({"before": 0}, "before"), ({"before": "9"}, "before"),
])
def test_history_bounds(shop: Any, fields: dict[str, Any], named: str) -> None:
    assert named in error(send(shop[0], "history", **fields), "BAD_REQUEST")


def test_history_needs_a_session(system: Any) -> None:
    error(send(system.client(), "history", session=False), "UNAUTHORIZED")


@pytest.mark.parametrize("fields, named", [
    ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"limit": True}, "limit"),
    ({"name": ""}, "name"), ({"name": b"cola"}, "name"), ({"after": 5}, "after"),
])
def test_products_paging_bounds(system: Any, fields: dict[str, Any], named: str) -> None:
    assert named in error(send(system.client(), "products", session=False, **fields),
                          "BAD_REQUEST")
