"""Replies: the one replay-refuse-run policy every op goes through (vending/idempotency.py)."""

from __future__ import annotations

from typing import Any

import pytest

from vending import Database, Outcome, Request, parse_request
from vending.errors import (
    BadRequest,
    ClientError,
    InvalidCredentials,
    NotOwner,
    RateLimited,
    Unauthorized,
    WrongAmount,
)
from vending.idempotency import CLAIMED, NOT_KEPT, SCHEMA, Replay, Replies

CRED = {"wsess_uid": "s1", "token": "t", "req_id": "r1"}
REQ = parse_request({"op": "reset", **CRED})


def run(rule: Any, req: Request = REQ, **kw: Any) -> tuple[dict[str, Any], Any]:
    replies = Replies(Database(None, SCHEMA), lambda: 0.0)
    out = replies.run("a:1", req, lambda: Outcome(rule()), **kw)
    return out.reply, replies.store.lookup("a:1", req.req_id, req.fingerprint())


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


def test_an_ops_row_may_name_more_codes_not_kept() -> None:
    delete = parse_request({"op": "delete_user", "password": "x" * 12, **CRED})
    reply, rec = run(raising(InvalidCredentials("x")), delete)
    assert reply["error"] == "INVALID_CREDENTIALS" and rec is None


def test_a_token_is_answered_but_never_kept_in_clear() -> None:
    reply, rec = run(lambda: {"ok": True, "token": "secret"}, sealed=b"sealed")
    assert reply == {"ok": True, "token": "secret"}
    assert rec.reply == {"ok": True} and rec.sealed == b"sealed"


def test_the_rules_own_text_of_its_reply_is_kept_as_is_and_a_tokens_never() -> None:
    # A purchase encodes its reply once, for its record, and hands that text over
    # (`Outcome.text`): kept verbatim, not encoded again. A reply with a token is kept
    # without it, so a text of the whole reply is never kept.
    replies = Replies(Database(None, SCHEMA), lambda: 0.0)
    reply = {"ok": True, "spent": 5}
    replies.run("a:1", REQ, lambda: Outcome(reply, text='{"ok":true,"spent":5 }'))
    stored = replies.store._db.conn.execute("SELECT reply FROM idem").fetchone()[0]
    assert stored == '{"ok":true,"spent":5 }'
    login = parse_request({"op": "reset", **CRED, "req_id": "r2"})
    replies.run("a:1", login, lambda: Outcome({"ok": True, "token": "t"},
                                              text='{"ok":true,"token":"t"}'))
    rows = replies.store._db.conn.execute("SELECT reply FROM idem WHERE req_id='r2'")
    assert rows.fetchone()[0] == '{"ok":true}'


def test_read_only_ops_keep_nothing_and_look_nothing_up() -> None:
    profile = parse_request({"op": "profile", **CRED})
    reply, rec = run(lambda: {"ok": True}, profile)
    assert reply == {"ok": True} and rec is None
    replies = Replies(Database(None, SCHEMA), lambda: 0.0)
    replies.run("a:1", REQ, lambda: Outcome({"ok": True}))
    same_id = parse_request({"op": "profile", **CRED})  # a req_id reset used: ignored
    assert replies.check("a:1", same_id) is None


def test_only_successful_logins_are_kept_and_replayed() -> None:
    login = parse_request({"op": "auth", "token": "buyer", "username": "ann",
                           "password": "x" * 12, "req_id": "l1"})
    reply, rec = run(raising(InvalidCredentials("x")), login)
    assert reply["error"] == "INVALID_CREDENTIALS" and rec is None
    reply, rec = run(lambda: {"ok": False, "error": "X", "message": "x"}, login)
    assert rec is None
    replies = Replies(Database(None, SCHEMA), lambda: 0.0)
    replies.store.store("u:buyer_ann", "l1", login.fingerprint(), {"ok": False}, 0.0)
    assert replies.check("u:buyer_ann", login) is None  # kept by an earlier version: runs
    replies.run("u:buyer_ann", login, lambda: Outcome({"ok": True, "token": "t"}), b"s")
    assert replies.check("u:buyer_ann", login) == Replay({"ok": True}, b"s")


def test_check_answers_replay_claimed_or_run_and_refuses_another_request() -> None:
    replies = Replies(Database(None, SCHEMA), lambda: 0.0)
    assert replies.check("a:1", REQ) is None
    replies.claim("a:1", REQ)
    assert replies.check("a:1", REQ) is CLAIMED and replies.kept("a:1", REQ) is None
    replies.run("a:1", REQ, lambda: Outcome({"ok": True, "change": []}))
    assert replies.check("a:1", REQ) == Replay({"ok": True, "change": []})
    other = parse_request({"op": "deposit", "amount": 5, **CRED})
    with pytest.raises(BadRequest):
        replies.check("a:1", other)


def test_a_reply_kept_earlier_in_the_same_transaction_is_found() -> None:
    """Kept replies are written at COMMIT (`Database.defer`), so only the shared key
    set (`Database.keyset`) knows the id until then: a retry in the same batch must
    still be a replay, not a second run."""
    db = Database(None, SCHEMA)
    store = Replies(db, lambda: 0.0).store
    with db.transaction():
        store.store("a:1", "r1", REQ.fingerprint(), {"ok": True, "deposit": 5}, 0.0)
        rec = store.lookup("a:1", "r1", REQ.fingerprint())
        assert rec is not None and rec.reply == {"ok": True, "deposit": 5}
        with pytest.raises(BadRequest):
            store.lookup("a:1", "r1", "another request")


def test_a_new_req_id_is_answered_from_memory_with_no_sql() -> None:
    """What the key set is for (vending/db.py `KeySet`): nearly every req_id is new."""
    db = Database(None, SCHEMA)
    store = Replies(db, lambda: 0.0).store
    store.store("a:1", "r1", REQ.fingerprint(), {"ok": True}, 0.0)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    assert store.lookup("a:1", "r2", REQ.fingerprint()) is None
    assert store.lookup("a:1", None, REQ.fingerprint()) is None
    assert statements == []
