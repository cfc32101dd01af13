"""`error_for_code` (vending/errors.py): the client side rebuilds the error a reply names
(transport/protocol.py raises it), with the reply's message; unknown codes are INTERNAL."""

from __future__ import annotations

import pytest

from vending.errors import (
    CODES,
    BadRequest,
    ClientError,
    InsufficientDeposit,
    Internal,
    RateLimited,
    ServerError,
    Unavailable,
    VendingError,
    error_for_code,
)


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_code_comes_back_as_its_own_class_with_the_message(code: str) -> None:
    err = error_for_code(code, f"why {code}")
    assert type(err) is CODES[code]
    assert err.code == code
    assert err.message == f"why {code}"
    assert err.to_reply() == {"ok": False, "error": code, "message": f"why {code}"}


def test_the_class_decides_client_or_server_fault() -> None:
    assert isinstance(error_for_code("INSUFFICIENT_DEPOSIT", "m"), InsufficientDeposit)
    assert isinstance(error_for_code("RATE_LIMITED", "m"), RateLimited)
    assert isinstance(error_for_code("BAD_REQUEST", "m"), BadRequest)
    assert isinstance(error_for_code("BAD_REQUEST", "m"), ClientError)
    assert isinstance(error_for_code("UNAVAILABLE", "m"), Unavailable)
    assert isinstance(error_for_code("UNAVAILABLE", "m"), ServerError)


@pytest.mark.parametrize("code", ["NO_SUCH_CODE", "", "bad_request", "None"])
def test_an_unknown_code_is_internal_and_keeps_the_message(code: str) -> None:
    err = error_for_code(code, "the server said so")
    assert type(err) is Internal and isinstance(err, VendingError)
    assert err.code == "INTERNAL" and err.message == "the server said so"


def test_an_empty_message_falls_back_to_the_code() -> None:
    err = error_for_code("NOT_OWNER", "")
    assert err.message == "NOT_OWNER" and str(err) == "NOT_OWNER"


def test_an_error_made_without_a_message_says_its_code() -> None:
    for cls in (Internal, Unavailable, BadRequest):
        err = cls()
        assert err.message == cls.code and str(err) == cls.code
        assert err.to_reply() == {"ok": False, "error": cls.code, "message": cls.code}
