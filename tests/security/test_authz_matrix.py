"""Every op x every kind of caller gives exactly the SPEC's answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from actors.system import VendingSystem

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
    "products":       dict.fromkeys(CALLERS, "ok"),
    "product":        dict.fromkeys(CALLERS, "ok"),
}


@pytest.fixture(scope="module")
def shared() -> Iterator[VendingSystem]:
    with VendingSystem(data_dir=":memory:", binds=()) as system:
        yield system


def _request(op: str, product_uid: str) -> dict[str, Any]:
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
        "products": {"op": "products"},
        "product": {"op": "product", "product_uid": product_uid},
    }[op]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("op", sorted(MATRIX))
def test_authorization(op: str, caller: str, shared: VendingSystem,
                       request: pytest.FixtureRequest) -> None:
    tag = f"{op}-{caller}".replace("_", "-")[:50]
    owner = shared.client()
    owner.register(f"o-{tag}", PASSWORD, "seller")
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

    message = _request(op, product_uid)
    if caller != "anonymous" and op not in ("products", "product"):
        message.update(wsess_uid=client.wsess_uid, token=client.token)
    reply = client.request(message)
    got = "ok" if reply["ok"] else reply["error"]
    assert got == MATRIX[op][caller], reply
