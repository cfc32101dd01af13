"""Every op of docs/protocol.md §6 through the embedded system: the success replies,
field for field, and `req_id` echoed back."""

from __future__ import annotations

from typing import Any

import pytest

import vending
from transport.client import Client

PASSWORD = "correct horse battery"
PRODUCT_KEYS = {"product_uid", "seller_uid", "product_name", "cost", "amount"}
NOTICE = "There is already an active session using your account"


def send(client: Client, op: str, req_id: str | None = None, *, session: bool = True,
         **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"op": op, **fields}
    if session:
        message.update(wsess_uid=client.wsess_uid, token=client.token)
    if req_id is not None:
        message["req_id"] = req_id
    return client.request(message)


def keys(reply: dict[str, Any]) -> set[str]:
    return set(reply) - {"req_id"}


@pytest.fixture
def shop(account: Any) -> tuple[Client, Client, dict[str, Any]]:
    """A buyer `ann` with 100 cents, a seller `sam` with 10 colas at 35."""
    sam = account("sam", "seller")
    ann = account("ann", "buyer", deposit=100)
    cola = sam.sell("cola", 35, 10)
    return ann, sam, dict(cola)


def test_register_reply_fields(system: Any) -> None:
    client = system.client()
    reply = client.request({"op": "auth", "token": "new_buyer", "username": "ann",
                            "password": PASSWORD, "req_id": "reg-1"})
    assert set(reply) == {"ok", "token", "wsess_uid", "user_uid", "role", "deposit", "req_id"}
    assert reply["ok"] is True
    assert reply["req_id"] == "reg-1"
    assert (reply["user_uid"], reply["role"], reply["deposit"]) == ("buyer_ann", "buyer", 0)
    assert isinstance(reply["token"], str) and reply["token"]
    assert isinstance(reply["wsess_uid"], str) and reply["wsess_uid"]


def test_same_username_may_hold_a_buyer_and_a_seller(system: Any) -> None:
    buyer, seller = system.client(), system.client()
    assert buyer.register("kim", PASSWORD, "buyer")["user_uid"] == "buyer_kim"
    assert seller.register("kim", "another password", "seller")["user_uid"] == "seller_kim"
    assert seller.login("kim", "another password", "seller")["role"] == "seller"


def test_login_reply_fields_and_active_session_notice(system: Any, account: Any) -> None:
    first = account("ann")
    second = system.client()
    reply = second.request({"op": "auth", "token": "buyer", "username": "ann",
                            "password": PASSWORD, "req_id": "login-1"})
    assert set(reply) == {"ok", "token", "wsess_uid", "user_uid", "role", "deposit",
                          "active_sessions", "notice", "req_id"}
    assert reply["active_sessions"] == 1
    assert reply["notice"] == NOTICE
    assert reply["wsess_uid"] != first.wsess_uid
    assert reply["token"] != first.token
    first.logout()
    second.wsess_uid, second.token = reply["wsess_uid"], reply["token"]
    second.logout()
    alone = system.client().login("ann", PASSWORD)
    assert alone["active_sessions"] == 0
    assert "notice" not in alone


def test_deposit_reply_fields(account: Any, system: Any) -> None:
    ann = account("ann")
    reply = send(ann, "deposit", "dep-1", amount=20)
    assert reply == {"ok": True, "deposit": 20, "req_id": "dep-1"}
    assert send(ann, "deposit", "dep-2", amount=5)["deposit"] == 25


@pytest.mark.parametrize("coin", [5, 10, 20, 50, 100])
def test_every_coin_is_accepted(account: Any, coin: int) -> None:
    assert account("ann").deposit(coin) == coin


def test_buy_reply_fields_and_change_in_fewest_coins(shop: Any) -> None:
    ann, _, cola = shop
    reply = send(ann, "buy", "buy-1", product_uid=cola["product_uid"], amount=2)
    assert reply == {"ok": True, "product_uid": cola["product_uid"], "product_name": "cola",
                     "amount": 2, "spent": 70, "change": [20, 10], "deposit": 0,
                     "req_id": "buy-1"}
    assert ann.profile()["deposit"] == 0
    assert ann.product(cola["product_uid"])["amount"] == 8


def test_sell_create_and_update_reply_fields(account: Any) -> None:
    sam = account("sam", "seller")
    created = send(sam, "sell", "sell-1", product_name="tea", cost=50, amount=3)
    assert keys(created) == {"ok", "product"}
    assert created["req_id"] == "sell-1"
    product = created["product"]
    assert set(product) == PRODUCT_KEYS
    assert (product["seller_uid"], product["product_name"], product["cost"],
            product["amount"]) == ("seller_sam", "tea", 50, 3)
    uid = product["product_uid"]

    updated = send(sam, "sell", "sell-2", product_uid=uid, product_name="green tea", cost=55,
                   amount=4)
    assert keys(updated) == {"ok", "product"}
    assert updated["product"] == {"product_uid": uid, "seller_uid": "seller_sam",
                                  "product_name": "green tea", "cost": 55, "amount": 7}
    taken = send(sam, "sell", "sell-3", product_uid=uid, amount=-7)["product"]
    assert taken["amount"] == 0
    assert send(sam, "sell", "sell-4", product_uid=uid, cost=60)["product"]["cost"] == 60


def test_sell_create_with_zero_units(account: Any) -> None:
    product = account("sam", "seller").sell("later", 5, 0)
    assert product["amount"] == 0


def test_delete_product_reply_fields(shop: Any) -> None:
    ann, sam, cola = shop
    reply = send(sam, "delete_product", "del-1", product_uid=cola["product_uid"])
    assert reply == {"ok": True, "product_uid": cola["product_uid"], "req_id": "del-1"}
    assert ann.products() == []


def test_reset_reply_fields(account: Any) -> None:
    ann = account("ann", deposit=185)
    reply = send(ann, "reset", "reset-1")
    assert reply == {"ok": True, "change": [100, 50, 20, 10, 5], "deposit": 0,
                     "req_id": "reset-1"}
    assert ann.profile()["deposit"] == 0
    assert send(ann, "reset", "reset-2")["change"] == []


def test_products_reply_ordered_by_product_uid_and_filtered(system: Any, account: Any) -> None:
    sam, sue = account("sam", "seller"), account("sue", "seller")
    made = [sam.sell("a", 5, 1), sue.sell("b", 10, 2), sam.sell("c", 15, 3)]
    anyone = system.client()
    reply = anyone.request({"op": "products"})
    assert set(reply) == {"ok", "products"}
    uids = [p["product_uid"] for p in reply["products"]]
    assert uids == sorted(p["product_uid"] for p in made)
    assert all(set(p) == PRODUCT_KEYS for p in reply["products"])
    mine = anyone.request({"op": "products", "seller_uid": "seller_sam"})["products"]
    assert [p["product_name"] for p in mine] == ["a", "c"]
    assert anyone.request({"op": "products", "seller_uid": "seller_nobody"})["products"] == []


def test_product_reply_fields(shop: Any, system: Any) -> None:
    _, _, cola = shop
    reply = system.client().request({"op": "product", "product_uid": cola["product_uid"],
                                     "req_id": "p-1"})
    assert reply == {"ok": True, "product": cola, "req_id": "p-1"}


def test_profile_reply_fields(system: Any, account: Any) -> None:
    ann = account("ann", deposit=15)
    reply = send(ann, "profile", "prof-1")
    assert reply == {"ok": True, "user_uid": "buyer_ann", "username": "ann", "role": "buyer",
                     "deposit": 15, "active_sessions": 0, "req_id": "prof-1"}
    system.client().login("ann", PASSWORD)
    assert ann.profile()["active_sessions"] == 1


def test_logout_reply_fields(account: Any) -> None:
    ann = account("ann")
    assert send(ann, "logout", "out-1") == {"ok": True, "ended": 1, "req_id": "out-1"}


def test_logout_all_counts_every_session_including_the_callers(system: Any,
                                                               account: Any) -> None:
    ann = account("ann")
    other = system.client()
    other.login("ann", PASSWORD)
    system.client().login("ann", PASSWORD)
    assert send(ann, "logout_all", "all-1") == {"ok": True, "ended": 3, "req_id": "all-1"}
    assert send(other, "profile")["error"] == "UNAUTHORIZED"


def test_delete_buyer_returns_deposit_and_frees_the_username(system: Any, account: Any) -> None:
    ann = account("ann", deposit=75)
    reply = send(ann, "delete_user", "gone-1", password=PASSWORD)
    assert reply == {"ok": True, "user_uid": "buyer_ann", "change": [50, 20, 5],
                     "req_id": "gone-1"}
    assert send(ann, "profile")["error"] == "UNAUTHORIZED"
    again = system.client().register("ann", "a new password")
    assert again["deposit"] == 0


def test_delete_seller_removes_their_products(system: Any, account: Any) -> None:
    sam, sue = account("sam", "seller"), account("sue", "seller")
    sam.sell("a", 5, 1)
    kept = sue.sell("b", 5, 1)
    reply = send(sam, "delete_user", "gone-2", password=PASSWORD)
    assert reply == {"ok": True, "user_uid": "seller_sam", "change": [], "req_id": "gone-2"}
    assert system.client().products() == [kept]


def test_ping_reply_fields(system: Any) -> None:
    client = system.client()
    assert client.request({"op": "ping"}) == {"ok": True, "version": vending.__version__}
    assert client.request({"op": "ping", "req_id": "hello"}) == {
        "ok": True, "version": vending.__version__, "req_id": "hello"}


def test_read_only_ops_echo_req_id(shop: Any) -> None:
    ann, _, cola = shop
    for message in ({"op": "products"}, {"op": "product", "product_uid": cola["product_uid"]},
                    {"op": "profile", "wsess_uid": ann.wsess_uid, "token": ann.token}):
        assert ann.request({**message, "req_id": "r-" + message["op"]})["req_id"] == \
            "r-" + message["op"]
