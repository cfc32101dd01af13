"""Every op x every kind of caller gives exactly the answer docs/protocol.md §6-7 gives.

Callers set up in-process; the request under test goes over tcp from a loopback
address of its own, so the login throttle's address counts of one test never
reach another.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from actors.system import VendingSystem
from transport.client import Client

PASSWORD = "correct horse battery"
CALLERS = ["anonymous", "buyer", "seller_owner", "other_seller", "ended_session"]

# op -> expected code per caller ("ok" for success)
MATRIX: dict[str, dict[str, str]] = {
    "deposit":        dict(anonymous="UNAUTHORIZED", buyer="ok", seller_owner="BUYERS_ONLY",
                           other_seller="BUYERS_ONLY", ended_session="UNAUTHORIZED"),
    "buy":            dict(anonymous="UNAUTHORIZED", buyer="ok", seller_owner="BUYERS_ONLY",
                           other_seller="BUYERS_ONLY", ended_session="UNAUTHORIZED"),
    "reset":          dict(anonymous="UNAUTHORIZED", buyer="ok", seller_owner="BUYERS_ONLY",
                           other_seller="BUYERS_ONLY", ended_session="UNAUTHORIZED"),
    "sell_create":    dict(anonymous="UNAUTHORIZED", buyer="SELLERS_ONLY", seller_owner="ok",
                           other_seller="ok", ended_session="UNAUTHORIZED"),
    "sell_update":    dict(anonymous="UNAUTHORIZED", buyer="SELLERS_ONLY", seller_owner="ok",
                           other_seller="NOT_OWNER", ended_session="UNAUTHORIZED"),
    "delete_product": dict(anonymous="UNAUTHORIZED", buyer="SELLERS_ONLY", seller_owner="ok",
                           other_seller="NOT_OWNER", ended_session="UNAUTHORIZED"),
    "profile":        dict(anonymous="UNAUTHORIZED", buyer="ok", seller_owner="ok",
                           other_seller="ok", ended_session="UNAUTHORIZED"),
    "logout":         dict(anonymous="UNAUTHORIZED", buyer="ok", seller_owner="ok",
                           other_seller="ok", ended_session="UNAUTHORIZED"),
    "logout_all":     dict(anonymous="UNAUTHORIZED", buyer="ok", seller_owner="ok",
                           other_seller="ok", ended_session="UNAUTHORIZED"),
    "delete_user":    dict(anonymous="UNAUTHORIZED", buyer="ok", seller_owner="ok",
                           other_seller="ok", ended_session="UNAUTHORIZED"),
    "delete_user_wrong_password": dict(
        anonymous="UNAUTHORIZED", buyer="INVALID_CREDENTIALS",
        seller_owner="INVALID_CREDENTIALS", other_seller="INVALID_CREDENTIALS",
        ended_session="UNAUTHORIZED"),
    # after 10 wrong passwords from the caller's address, the right one
    "delete_user_throttled": dict(anonymous="UNAUTHORIZED", buyer="RATE_LIMITED",
                                  seller_owner="RATE_LIMITED", other_seller="RATE_LIMITED",
                                  ended_session="UNAUTHORIZED"),
    # the owner's registration req_id, replayed with another password
    "auth_replay_wrong_password": dict.fromkeys(CALLERS, "INVALID_CREDENTIALS"),
    "sell_create_control_name": dict.fromkeys(CALLERS, "BAD_REQUEST"),
    "sell_update_bidi_name": dict.fromkeys(CALLERS, "BAD_REQUEST"),
    "products":       dict.fromkeys(CALLERS, "ok"),
    "product":        dict.fromkeys(CALLERS, "ok"),
    "products_page":  dict.fromkeys(CALLERS, "ok"),
    "health":         dict.fromkeys(CALLERS, "ok"),
    "history":        dict(anonymous="UNAUTHORIZED", buyer="ok", seller_owner="ok",
                           other_seller="ok", ended_session="UNAUTHORIZED"),
    "change_password": dict(anonymous="UNAUTHORIZED", buyer="ok", seller_owner="ok",
                            other_seller="ok", ended_session="UNAUTHORIZED"),
    "change_password_wrong_password": dict(
        anonymous="UNAUTHORIZED", buyer="INVALID_CREDENTIALS",
        seller_owner="INVALID_CREDENTIALS", other_seller="INVALID_CREDENTIALS",
        ended_session="UNAUTHORIZED"),
    # after 10 wrong passwords from the caller's address, the right one
    "change_password_throttled": dict(anonymous="UNAUTHORIZED", buyer="RATE_LIMITED",
                                      seller_owner="RATE_LIMITED", other_seller="RATE_LIMITED",
                                      ended_session="UNAUTHORIZED"),
    "change_password_short_new": dict(anonymous="BAD_REQUEST", buyer="BAD_REQUEST",
                                      seller_owner="BAD_REQUEST", other_seller="BAD_REQUEST",
                                      ended_session="BAD_REQUEST"),
}


WRONG = "not the password"
NEW = "a brand new password"
_sources = (f"127.0.1.{i}" for i in itertools.count(1))


@pytest.fixture(scope="module")
def shared() -> Iterator[VendingSystem]:
    with VendingSystem(data_dir=":memory:", binds=("tcp://127.0.0.1:0",)) as system:
        yield system


def _request(op: str, product_uid: str, tag: str) -> dict[str, Any]:
    return {
        "deposit": {"op": "deposit", "amount": 50},
        "buy": {"op": "buy", "product_uid": product_uid, "amount": 1},
        "reset": {"op": "reset"},
        "sell_create": {"op": "sell", "product_name": "tea", "cost": 10, "amount": 1},
        "sell_update": {"op": "sell", "product_uid": product_uid, "amount": 1},
        "delete_product": {"op": "delete_product", "product_uid": product_uid},
        "profile": {"op": "profile"},
        "logout": {"op": "logout"},
        "logout_all": {"op": "logout_all"},
        "delete_user": {"op": "delete_user", "password": PASSWORD},
        "delete_user_wrong_password": {"op": "delete_user", "password": WRONG},
        "delete_user_throttled": {"op": "delete_user", "password": PASSWORD},
        "auth_replay_wrong_password": {"op": "auth", "token": "new_seller",
                                       "username": f"o-{tag}", "password": WRONG,
                                       "req_id": f"reg-{tag}"},
        "sell_create_control_name": {"op": "sell", "product_name": "co\x1b[2Jla", "cost": 10,
                                     "amount": 1},
        "sell_update_bidi_name": {"op": "sell", "product_uid": product_uid,
                                  "product_name": "tea\u202eaet"},
        "products": {"op": "products"},
        "product": {"op": "product", "product_uid": product_uid},
        "products_page": {"op": "products", "name": "COLA", "limit": 1, "after": "p"},
        "health": {"op": "health"},
        "history": {"op": "history", "limit": 5},
        "change_password": {"op": "change_password", "password": PASSWORD,
                            "new_password": NEW},
        "change_password_wrong_password": {"op": "change_password", "password": WRONG,
                                           "new_password": NEW},
        "change_password_throttled": {"op": "change_password", "password": PASSWORD,
                                      "new_password": NEW},
        "change_password_short_new": {"op": "change_password", "password": PASSWORD,
                                      "new_password": "short"},
    }[op]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("op", sorted(MATRIX))
def test_authorization(op: str, caller: str, shared: VendingSystem,
                       request: pytest.FixtureRequest) -> None:
    tag = f"{op}-{caller}".replace("_", "-")[:50]
    owner = shared.client()
    owner.register(f"o-{tag}", PASSWORD, "seller", req_id=f"reg-{tag}")
    product_uid = owner.sell("cola", 35, 5)["product_uid"]

    client = shared.client()
    if caller == "buyer":
        client.register(f"b-{tag}", PASSWORD, "buyer")
        client.deposit(50)
    elif caller == "seller_owner":
        client = owner
    elif caller == "other_seller":
        client.register(f"x-{tag}", PASSWORD, "seller")
    elif caller == "ended_session":
        client.register(f"e-{tag}", PASSWORD, "buyer")
        creds = (client.wsess_uid, client.token)
        client.logout()
        client.wsess_uid, client.token = creds

    message = _request(op, product_uid, tag)
    if caller != "anonymous" and message["op"] not in ("products", "product", "auth", "health"):
        message.update(wsess_uid=client.wsess_uid, token=client.token)
    tcp = shared.endpoints[0].replace("tcp://", f"tcp://{next(_sources)}:0;")
    with Client(tcp, timeout=10, retries=0) as remote:
        if op in ("delete_user_throttled", "change_password_throttled"):
            for _ in range(10):
                assert not remote.request({**message, "password": WRONG})["ok"]
        reply = remote.request(message)
    got = "ok" if reply["ok"] else reply["error"]
    assert got == MATRIX[op][caller], reply
