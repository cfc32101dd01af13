"""Field bounds at their edges (docs/protocol.md §6): the last value accepted, the first
refused with BAD_REQUEST, and a message that names the field."""

from __future__ import annotations

from typing import Any

import pytest

from vending import limits, parse_request
from vending.errors import BadRequest, Unauthorized

SESSION = {"wsess_uid": "s_x", "token": "t"}
BUY = {"op": "buy", **SESSION, "product_uid": "p1", "amount": 1}
SELL = {"op": "sell", **SESSION, "product_uid": "p1", "amount": 1}
AUTH = {"op": "auth", "token": "buyer", "username": "ann", "password": "x" * 8}

CASES: list[tuple[dict[str, Any], str, Any, bool]] = [
    (BUY, "amount", 1, True), (BUY, "amount", 0, False),
    (BUY, "amount", limits.UNITS_MAX, True), (BUY, "amount", limits.UNITS_MAX + 1, False),
    (BUY, "amount", True, False),
    (SELL, "amount", -limits.UNITS_MAX, True), (SELL, "amount", -limits.UNITS_MAX - 1, False),
    (SELL, "amount", limits.UNITS_MAX, True), (SELL, "amount", limits.UNITS_MAX + 1, False),
    (BUY, "product_uid", "p", True), (BUY, "product_uid", "", False),
    (BUY, "product_uid", "p" * limits.PRODUCT_UID_MAX, True),
    (BUY, "product_uid", "p" * (limits.PRODUCT_UID_MAX + 1), False),
    (BUY, "product_uid", 7, False),
    (AUTH, "password", "x" * limits.PASSWORD_MIN, True),
    (AUTH, "password", "x" * (limits.PASSWORD_MIN - 1), False),
    (AUTH, "password", "x" * limits.PASSWORD_MAX, True),
    (AUTH, "password", "x" * (limits.PASSWORD_MAX + 1), False),
    (SELL, "product_name", "n", True), (SELL, "product_name", "", False),
    (SELL, "product_name", "n" * limits.PRODUCT_NAME_MAX, True),
    (SELL, "product_name", "n" * (limits.PRODUCT_NAME_MAX + 1), False),
]


@pytest.mark.parametrize(("base", "name", "value", "ok"), CASES)
def test_bounds(base: dict[str, Any], name: str, value: Any, ok: bool) -> None:
    message = {**base, name: value}
    if ok:
        assert parse_request(message).args[name] == value
        return
    with pytest.raises(BadRequest) as refused:
        parse_request(message)
    assert name in refused.value.message, refused.value.message


def test_a_token_of_credential_max_chars_is_well_formed_one_more_is_not() -> None:
    fine = parse_request({**BUY, "token": "t" * limits.CREDENTIAL_MAX})
    assert fine.token == "t" * limits.CREDENTIAL_MAX
    with pytest.raises(Unauthorized, match="token"):
        parse_request({**BUY, "token": "t" * (limits.CREDENTIAL_MAX + 1)})


def test_a_request_that_is_not_a_map_says_so() -> None:
    with pytest.raises(BadRequest, match="map"):
        parse_request(["op", "ping"])
