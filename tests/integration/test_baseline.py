"""The bench's lean baseline (tools/baseline.py) answers as the rules do, keeps
its memory equal to its files, and a failed commit leaves nothing of its batch.

Driven in-process through `LeanServer._one` (the bytes a client sends, the reply
it gets) and `commit` (what the loop does after each batch), on real SQLite files.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tools.baseline import LeanServer
from transport.codec import encode
from vending import credentials


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(credentials, "hash_password", lambda p: "h:" + p)
    monkeypatch.setattr(credentials, "verify_password",
                        lambda stored, p: stored is not None and stored == "h:" + p)
    monkeypatch.setattr(credentials, "seal", lambda secret, p: p.encode() + b"|" + secret)
    monkeypatch.setattr(credentials, "open_seal", lambda blob, p: (
        blob.split(b"|", 1)[1] if blob.startswith(p.encode() + b"|") else None))


class Lean:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.srv = LeanServer(path)

    def batch(self, *requests: dict[str, Any]) -> list[dict[str, Any]]:
        replies = [self.srv._one(encode(r)) for r in requests]
        self.srv.commit()
        return replies

    def one(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.batch(request)[0]

    def login(self, kind: str, name: str) -> dict[str, Any]:
        reply = self.one({"op": "auth", "token": kind, "username": name,
                          "password": "password1", "req_id": f"r-{kind}-{name}"})
        assert reply["ok"], reply
        return {"wsess_uid": reply["wsess_uid"], "token": reply["token"]}


def state(srv: LeanServer) -> dict[str, Any]:
    """What a server holds in memory, comparable with a fresh load."""
    return {"users": {k: repr(v) for k, v in srv.users.items()},
            "sessions": {k: repr(v) for k, v in srv.sessions.items()},
            "products": {k: repr(v) for k, v in srv.products.items()},
            "kept": {k: repr(v) for k, v in srv.kept.items()},
            "next": (srv.next_account, srv.next_product)}


def test_a_purchase_story_and_its_errors_in_the_rules_order(tmp_path: Path) -> None:
    lean = Lean(tmp_path)
    seller, buyer = lean.login("new_seller", "sam"), lean.login("new_buyer", "bob")
    sold = lean.one({"op": "sell", **seller, "product_name": "cola", "cost": 35, "amount": 2})
    uid = sold["product"]["product_uid"]
    assert uid == "p0000000001"
    assert lean.one({"op": "buy", **seller, "product_uid": uid, "amount": 1})[
        "error"] == "BUYERS_ONLY"
    assert lean.one({"op": "buy", **buyer, "product_uid": "p9", "amount": 1})[
        "error"] == "PRODUCT_NOT_FOUND"
    assert lean.one({"op": "buy", **buyer, "product_uid": uid, "amount": 3})[
        "error"] == "INSUFFICIENT_STOCK"
    assert lean.one({"op": "buy", **buyer, "product_uid": uid, "amount": 1})[
        "error"] == "INSUFFICIENT_DEPOSIT"
    assert lean.one({"op": "deposit", **buyer, "amount": 3})["error"] == "WRONG_AMOUNT"
    assert lean.one({"op": "deposit", **buyer, "amount": 50})["deposit"] == 50
    bought = lean.one({"op": "buy", **buyer, "product_uid": uid, "amount": 1, "req_id": "b1"})
    assert (bought["spent"], bought["change"], bought["deposit"]) == (35, [10, 5], 0)
    assert lean.one({"op": "product", "product_uid": uid})["product"]["amount"] == 1
    assert lean.one({"op": "buy", **buyer, "token": "wrong", "product_uid": uid,
                     "amount": 1})["error"] == "UNAUTHORIZED"


def test_a_retried_req_id_replays_without_applying_again(tmp_path: Path) -> None:
    lean = Lean(tmp_path)
    buyer = lean.login("new_buyer", "bob")
    first = lean.one({"op": "deposit", **buyer, "amount": 20, "req_id": "d1"})
    again = lean.one({"op": "deposit", **buyer, "amount": 20, "req_id": "d1"})
    assert first == again and again["deposit"] == 20
    other = lean.one({"op": "deposit", **buyer, "amount": 10, "req_id": "d1"})
    assert other["error"] == "BAD_REQUEST"
    # A login retried under its req_id gets the first token (opened from its seal).
    retry = lean.one({"op": "auth", "token": "new_buyer", "username": "bob",
                      "password": "password1", "req_id": "r-new_buyer-bob"})
    assert retry["token"] == buyer["token"]


def test_what_a_batch_commits_is_what_a_restart_loads(tmp_path: Path) -> None:
    lean = Lean(tmp_path)
    seller, buyer = lean.login("new_seller", "sam"), lean.login("new_buyer", "bob")
    uid = lean.one({"op": "sell", **seller, "product_name": "cola", "cost": 5,
                    "amount": 9})["product"]["product_uid"]
    lean.batch({"op": "deposit", **buyer, "amount": 5, "req_id": "d"},
               {"op": "buy", **buyer, "product_uid": uid, "amount": 1, "req_id": "b"},
               {"op": "logout", **seller, "req_id": "l"})
    again = LeanServer(tmp_path)
    assert state(again) == state(lean.srv)
    conn = sqlite3.connect(tmp_path / "baseline.sqlite3")
    assert conn.execute("SELECT deposited, deposit, spent FROM users WHERE user_uid="
                        "'buyer_bob'").fetchone() == (5, 0, 5)
    topics = [t for (t,) in conn.execute("SELECT topic FROM events ORDER BY seq")]
    assert topics == ["user", "user", "deposit", "purchase"]


def test_a_deleted_users_kept_logins_stay_forgotten_after_a_restart(tmp_path: Path) -> None:
    """Kept replies are an append-only log: forgetting a scope is a row too, so a
    restart does not bring back the deleted account's login to replay."""
    lean = Lean(tmp_path)
    buyer = lean.login("new_buyer", "bob")
    assert lean.one({"op": "delete_user", **buyer, "password": "password1",
                     "req_id": "gone"})["ok"]
    again = LeanServer(tmp_path)
    assert state(again) == state(lean.srv)
    assert not any(scope == "u:buyer_bob" for scope, _ in again.kept)
    # The same name and req_id registers anew instead of replaying the old token.
    fresh = Lean(tmp_path).login("new_buyer", "bob")
    assert fresh["token"] != buyer["token"]


def test_both_owners_tables_are_in_one_file_and_events_numbered_per_source(
        tmp_path: Path) -> None:
    lean = Lean(tmp_path)
    seller, buyer = lean.login("new_seller", "sam"), lean.login("new_buyer", "bob")
    uid = lean.one({"op": "sell", **seller, "product_name": "cola", "cost": 5,
                    "amount": 9})["product"]["product_uid"]
    lean.batch({"op": "deposit", **buyer, "amount": 5},
               {"op": "buy", **buyer, "product_uid": uid, "amount": 1})
    assert sorted(p.name for p in tmp_path.glob("*.sqlite3")) == ["baseline.sqlite3"]
    # The system's durability: WAL, and every COMMIT fsynced before a reply leaves.
    assert lean.srv.conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert lean.srv.conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    conn = sqlite3.connect(tmp_path / "baseline.sqlite3")
    assert conn.execute("SELECT amount, sold FROM stock_products").fetchall() == [(8, 1)]
    stock = lean.one({"op": "events", "source": "stock-handler"})
    gate = lean.one({"op": "events", "source": "gatekeeper"})
    assert [(e["seq"], e["topic"]) for e in stock["events"]] == [(1, "product"),
                                                                  (2, "product")]
    assert [e["topic"] for e in gate["events"]] == ["user", "user", "deposit", "purchase"]
    assert (stock["last_seq"], gate["last_seq"]) == (2, 4)


def test_with_events_off_it_stores_none(tmp_path: Path) -> None:
    lean = Lean(tmp_path)
    lean.srv.store_events = False
    buyer = lean.login("new_buyer", "bob")
    assert lean.one({"op": "deposit", **buyer, "amount": 5})["deposit"] == 5
    conn = sqlite3.connect(tmp_path / "baseline.sqlite3")
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
    assert conn.execute("SELECT deposit FROM users").fetchone() == (5,)


def test_a_failed_commit_leaves_memory_equal_to_storage(tmp_path: Path) -> None:
    lean = Lean(tmp_path)
    buyer = lean.login("new_buyer", "bob")
    lean.one({"op": "deposit", **buyer, "amount": 10})
    before = state(lean.srv)

    def refuse() -> None:
        raise sqlite3.OperationalError("disk I/O error")
    lean.srv.db.before_commit = refuse
    replies = [lean.srv._one(encode({"op": "deposit", **buyer, "amount": 20}))]
    assert replies[0]["deposit"] == 30  # answered from memory, not yet sent
    with pytest.raises(sqlite3.OperationalError):
        lean.srv.commit()
    lean.srv.db.before_commit = None
    assert state(lean.srv) == before == state(LeanServer(tmp_path))


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_it_answers_a_seeded_op_sequence_as_the_rules_do(tmp_path: Path, seed: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """tools/differential.py's sequence (every op, retries under reused req_ids, wrong
    passwords, bad coins), answered by the rules in one process and by the baseline
    from the bytes a client sends (`_one`: decode, checks, answer, the req_id added)."""
    import contextlib
    import io
    import types

    from tools import differential

    class Lean:
        def __init__(self, data_dir: Path) -> None:
            self.srv = LeanServer(data_dir)
            db = types.SimpleNamespace(transaction=contextlib.nullcontext)
            self.gate = self.stock = types.SimpleNamespace(db=db)

        def answer(self, req: Any, peer: str | None) -> dict[str, Any]:
            reply = self.srv._one(encode(req.to_dict()))
            self.srv.commit()  # one batch per request, as the differential's steps
            assert reply.pop("req_id", None) == req.req_id
            return reply

    rules, lean = io.StringIO(), io.StringIO()
    differential.run(seed, 300, rules)
    monkeypatch.setattr(differential, "Rules", Lean)
    differential.run(seed, 300, lean)
    assert len(rules.getvalue().splitlines()) == 300
    assert lean.getvalue().splitlines() == rules.getvalue().splitlines()
