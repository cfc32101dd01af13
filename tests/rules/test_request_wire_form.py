"""`Request.to_dict`: the checked request as a map again (the actors send it on), which
parses back to the same request, req_id included only when there is one; and the
router's fresh `wsess_uid`s (vending/credentials.py)."""

from __future__ import annotations

import re

import pytest

from vending import parse_request
from vending.credentials import new_wsess_uid

MESSAGES = [
    {"op": "buy", "wsess_uid": "s_1", "token": "t", "product_uid": "p0000000001",
     "amount": 2, "req_id": "b-1"},
    {"op": "buy", "wsess_uid": "s_1", "token": "t", "product_uid": "p0000000001", "amount": 2},
    {"op": "deposit", "wsess_uid": "s_1", "token": "t", "amount": 5, "req_id": "d"},
    {"op": "products"},
]


@pytest.mark.parametrize("message", MESSAGES)
def test_to_dict_gives_back_the_checked_message(message: dict[str, object]) -> None:
    req = parse_request(message)
    assert req.to_dict() == message
    again = parse_request(req.to_dict())
    assert again == req and again.fingerprint() == req.fingerprint()


def test_no_req_id_key_without_a_req_id() -> None:
    out = parse_request(MESSAGES[1]).to_dict()
    assert "req_id" not in out and "REQ_ID" not in out
    assert parse_request(MESSAGES[0]).to_dict()["req_id"] == "b-1"


def test_a_wsess_uid_is_fresh_url_safe_text() -> None:
    # docs/protocol.md fixes no format; it is a str, never repeats, and holds at least 16 random
    # bytes (22 url-safe characters) so it cannot be guessed.
    uids = {new_wsess_uid() for _ in range(50)}
    assert len(uids) == 50
    for uid in uids:
        assert isinstance(uid, str) and re.fullmatch(r"[A-Za-z0-9_-]{22,}", uid), uid
