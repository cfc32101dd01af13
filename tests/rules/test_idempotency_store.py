"""IdempotencyStore.run_once: the one keep-or-not policy both owners use."""

from __future__ import annotations

from typing import Any

import pytest

from vending import Database, parse_request
from vending.errors import (
    BadRequest,
    ClientError,
    InvalidCredentials,
    NotOwner,
    RateLimited,
    Unauthorized,
    WrongAmount,
)
from vending.idempotency import NOT_KEPT, SCHEMA, IdempotencyStore

REQ = parse_request({"op": "reset", "wsess_uid": "s1", "token": "t", "req_id": "r1"})


def run(rule: Any, **kw: Any) -> tuple[dict[str, Any], Any]:
    store = IdempotencyStore(Database(None, SCHEMA))
    reply = store.run_once("a:1", REQ, rule, 0.0, **kw)
    return reply, store.lookup("a:1", REQ.req_id, REQ.fingerprint())


def raising(exc: ClientError) -> Any:
    def rule() -> dict[str, Any]:
        raise exc
    return rule


def test_a_returned_reply_is_kept_even_a_refusal() -> None:
    refusal = BadRequest("amount would take stock above 1000").to_reply()
    reply, rec = run(lambda: refusal)
    assert reply == refusal and rec.reply == refusal


@pytest.mark.parametrize("exc", [Unauthorized("x"), RateLimited("x"), BadRequest("x")])
def test_raised_refusals_that_may_pass_later_are_not_kept(exc: ClientError) -> None:
    assert exc.code in NOT_KEPT
    reply, rec = run(raising(exc))
    assert reply["error"] == exc.code and rec is None


@pytest.mark.parametrize("exc", [WrongAmount("x"), NotOwner("x"), InvalidCredentials("x")])
def test_other_raised_refusals_are_final_and_kept(exc: ClientError) -> None:
    reply, rec = run(raising(exc))
    assert rec.reply == reply and reply["error"] == exc.code


def test_the_caller_may_name_more_codes_not_kept() -> None:
    reply, rec = run(raising(InvalidCredentials("x")), unkept=("INVALID_CREDENTIALS",))
    assert reply["error"] == "INVALID_CREDENTIALS" and rec is None


def test_a_token_is_answered_but_never_kept_in_clear() -> None:
    reply, rec = run(lambda: {"ok": True, "token": "secret"}, sealed=b"sealed")
    assert reply == {"ok": True, "token": "secret"}
    assert rec.reply == {"ok": True} and rec.sealed == b"sealed"
