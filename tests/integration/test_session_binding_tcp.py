"""Over real TCP: a token is valid only with the `wsess_uid` it was issued with, even
when that other `wsess_uid` is a live session of the same account (docs/protocol.md §5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import zmq
from session_ops import SESSION_OPS, fields_for

Call = Callable[..., dict[str, Any]]
PASSWORD = "correct horse battery"



@pytest.fixture
def call(raw_socket: Callable[..., zmq.Socket[Any]], exchange: Call) -> Call:
    sock = raw_socket(zmq.REQ)
    return lambda message: exchange(sock, message)


def _auth(call: Call, kind: str, username: str) -> dict[str, str]:
    reply = call({"op": "auth", "token": kind, "username": username, "password": PASSWORD})
    assert reply["ok"] is True, reply
    return {"wsess_uid": reply["wsess_uid"], "token": reply["token"]}


def _state(call: Call, sessions: list[dict[str, str]]) -> tuple[Any, ...]:
    products = call({"op": "products"})
    profiles = [call({"op": "profile", **s}) for s in sessions]
    return products, profiles


@pytest.mark.parametrize("op", sorted(SESSION_OPS))
def test_token_of_another_session_of_the_same_account_is_refused(call: Call, op: str) -> None:
    role = SESSION_OPS[op][0]
    ann = [_auth(call, "new_buyer", "ann"), _auth(call, "buyer", "ann")]
    sam = [_auth(call, "new_seller", "sam"), _auth(call, "seller", "sam")]
    made = call({"op": "sell", **sam[0], "product_name": "cola", "cost": 5, "amount": 3})
    product_uid = made["product"]["product_uid"]
    assert call({"op": "deposit", **ann[0], "amount": 10})["deposit"] == 10
    first, second = ann if role == "buyer" else sam
    args = fields_for(op, product_uid, PASSWORD)
    before = _state(call, [*ann, *sam])

    for token_of, wsess_of in ((first, second), (second, first)):
        reply = call({"op": op, **args, "wsess_uid": wsess_of["wsess_uid"],
                      "token": token_of["token"]})
        assert reply["ok"] is False and reply["error"] == "UNAUTHORIZED", reply

    after = _state(call, [*ann, *sam])
    assert after == before
    assert [p["active_sessions"] for p in after[1]] == [1, 1, 1, 1]
    # the same request with matching credentials is accepted: the refusal was the swap
    assert call({"op": op, **args, **second})["ok"] is True
