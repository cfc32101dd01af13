"""Kept replies as a log (vending/idempotency.py): appended by id, found by id from
memory, on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from vending import GATE_SCHEMA, STOCK_SCHEMA, Database
from vending import idempotency as idem_module
from vending.errors import BadRequest
from vending.idempotency import IdempotencyStore
from vending.schema import Schema

REPLY: dict[str, Any] = {"ok": True, "deposit": 5}


def store(db: Database, scope: str, req_id: str, reply: dict[str, Any] | None = REPLY,
          fp: str = "fp") -> None:
    with db.transaction():
        IdempotencyStore(db).store(scope, req_id, fp, reply, 1.0)


def test_kept_replies_are_found_again_after_the_file_is_reopened(tmp_path: Path) -> None:
    db = Database(tmp_path / "g.sqlite3", GATE_SCHEMA)
    for n in range(50):
        store(db, f"a:{n % 7}", f"r{n}", {"ok": True, "n": n})
    db.close()
    db = Database(tmp_path / "g.sqlite3", GATE_SCHEMA)
    kept = IdempotencyStore(db)
    with db.transaction():
        assert kept.lookup("a:3", "r10", "fp").reply == {"ok": True, "n": 10}  # type: ignore[union-attr]
        assert kept.lookup("a:4", "r10", "fp") is None  # another account's scope
        assert kept.lookup("a:3", "r11", "fp") is None
        with pytest.raises(BadRequest):
            kept.lookup("a:3", "r10", "other fp")
    ids = [r[0] for r in db.conn.execute("SELECT id FROM idem ORDER BY rowid")]
    assert ids == list(range(1, 51))  # appended in order


def test_a_rolled_back_reply_is_not_found_and_its_key_may_be_kept_later(tmp_path: Path) -> None:
    db = Database(tmp_path / "g.sqlite3", GATE_SCHEMA)
    kept = IdempotencyStore(db)
    store(db, "a:1", "first")
    with pytest.raises(RuntimeError), db.transaction():
        kept.store("a:1", "lost", "fp", REPLY, 1.0)
        raise RuntimeError("rolled back")
    with db.transaction():
        kept.store("a:2", "next", "fp", {"ok": True, "next": 1}, 1.0)
    with db.transaction():
        assert kept.lookup("a:1", "lost", "fp") is None
        assert kept.lookup("a:2", "next", "fp").reply == {"ok": True, "next": 1}  # type: ignore[union-attr]
        kept.store("a:1", "lost", "fp", {"ok": True, "again": 1}, 1.0)
    with db.transaction():
        assert kept.lookup("a:1", "lost", "fp").reply == {"ok": True, "again": 1}  # type: ignore[union-attr]
        assert kept.lookup("a:1", "first", "fp").reply == REPLY  # type: ignore[union-attr]
    # Ids are never given twice: the rolled-back one is a gap.
    assert [r[0] for r in db.conn.execute("SELECT id FROM idem ORDER BY id")] == [1, 3, 4]


def test_keys_sharing_a_hash_each_find_their_own_reply(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idem_module, "_hashed", lambda text: 7)
    db = Database(tmp_path / "g.sqlite3", GATE_SCHEMA)
    for n in range(5):
        store(db, "a:1", f"r{n}", {"ok": True, "n": n})
    for kept in (IdempotencyStore(db), IdempotencyStore(Database(db.path, GATE_SCHEMA))):
        with kept._db.transaction():
            found = [kept.lookup("a:1", f"r{n}", "fp") for n in range(5)]
            assert [r.reply for r in found if r is not None] == [
                {"ok": True, "n": n} for n in range(5)]
            assert kept.lookup("a:1", "new", "fp") is None


def test_a_key_kept_again_keeps_one_row_whose_reply_is_replaced_only_for_its_request(
        tmp_path: Path) -> None:
    db = Database(tmp_path / "g.sqlite3", GATE_SCHEMA)
    kept = IdempotencyStore(db)
    store(db, "a:1", "r", None)  # claimed: another owner keeps the reply
    store(db, "a:1", "r", REPLY)
    store(db, "a:1", "r", {"ok": True, "other": 1}, fp="another request's")
    with db.transaction():
        assert kept.lookup("a:1", "r", "fp").reply == REPLY  # type: ignore[union-attr]
    assert db.conn.execute("SELECT count(*) FROM idem").fetchone() == (1,)


def test_forget_deletes_one_auth_scope_through_its_partial_index(tmp_path: Path) -> None:
    db = Database(tmp_path / "g.sqlite3", GATE_SCHEMA)
    kept = IdempotencyStore(db)
    for scope in ("u:ann", "u:bob", "a:1"):
        store(db, scope, "r")
    with db.transaction():
        assert kept.forget("u:ann") == 1
        assert kept.lookup("u:ann", "r", "fp") is None
        assert kept.lookup("u:bob", "r", "fp") is not None
        assert kept.forget("a:1") == 1  # not an auth scope: by a scan
    plan = " ".join(str(r) for r in db.conn.execute(
        "EXPLAIN QUERY PLAN " + idem_module._FORGET_AUTH, ("u:ann",)))
    assert "idem_auth" in plan, plan


@pytest.mark.parametrize("schema", [GATE_SCHEMA, STOCK_SCHEMA], ids=lambda s: s.name)
def test_version_1_kept_replies_are_rebuilt_as_the_log_and_still_replayed(
        tmp_path: Path, schema: Schema) -> None:
    path = tmp_path / "f.sqlite3"
    before = Schema(schema.name, schema.base, schema.migrations[:-1])
    Database(path, before).close()
    conn = sqlite3.connect(path)
    conn.executemany("INSERT INTO idem(scope, req_id, fp, reply, sealed, created)"
                     " VALUES(?, ?, 'fp', ?, NULL, ?)",
                     [("a:1", "late", '{"ok":true,"n":2}', 20.0),
                      ("a:1", "early", '{"ok":true,"n":1}', 10.0)])
    conn.commit()
    conn.close()
    db = Database(path, schema)
    kept = IdempotencyStore(db)
    with db.transaction():
        assert kept.lookup("a:1", "early", "fp").reply == {"ok": True, "n": 1}  # type: ignore[union-attr]
        assert kept.lookup("a:1", "late", "fp").reply == {"ok": True, "n": 2}  # type: ignore[union-attr]
    assert db.conn.execute("SELECT req_id FROM idem ORDER BY id").fetchall() == [
        ("early",), ("late",)]  # oldest first
    assert db.conn.execute("SELECT type FROM sqlite_master WHERE name='idem_created'"
                           ).fetchall() == [("view",)]


def test_expiry_by_id_never_deletes_a_young_reply_if_the_clock_stepped_back(
        tmp_path: Path) -> None:
    """Old rows are found by id, with no index on `created`: those before the first
    young one. A row of a clock that stepped back waits, a young one never goes."""
    db = Database(tmp_path / "g.sqlite3", GATE_SCHEMA)
    kept = IdempotencyStore(db)
    with db.transaction():
        for n, created in enumerate((10.0, 11.0, 150.0, 12.0, 160.0)):  # ids 1..5
            kept.store("a:1", f"r{n}", "fp", REPLY, created)
    with db.transaction():
        assert kept.expire(100.0) == 2  # r0, r1; r3 waits behind r2
    with db.transaction():
        assert [n for n in range(5) if kept.lookup("a:1", f"r{n}", "fp")] == [2, 3, 4]
        assert kept.expire(155.0) == 2  # r2, and r3 with it
        assert kept.expire(1000.0) == 1
    assert db.conn.execute("SELECT count(*) FROM idem").fetchone() == (0,)
    with db.transaction():
        kept.store("a:1", "again", "fp", REPLY, 1000.0)
    with db.transaction():
        assert kept.lookup("a:1", "r0", "fp") is None
        assert kept.lookup("a:1", "again", "fp") is not None


def test_keys_read_at_a_start_are_the_keys_stored_whatever_their_text(tmp_path: Path) -> None:
    """A start reads every key as one text a row (`_ALL_KEYS`); a lookup makes the same
    text of its two parts (`_key`), non-ASCII and the joining character included.
    Two keys whose texts are alike share a hash: each still finds its own reply."""
    keys = [("a:1", "r\u00e9\u4e2d\U0001f600"), ("a:1", "x\x1fy"), ("a:1\x1fx", "y"),
            ("u:9", "")]
    db = Database(tmp_path / "g.sqlite3", GATE_SCHEMA)
    for n, (scope, req_id) in enumerate(keys):
        store(db, scope, req_id, {"ok": True, "n": n})
    db.close()
    db = Database(tmp_path / "g.sqlite3", GATE_SCHEMA)
    kept = IdempotencyStore(db)
    with db.transaction():
        assert [kept.lookup(scope, req_id, "fp").reply  # type: ignore[union-attr]
                for scope, req_id in keys] == [{"ok": True, "n": n} for n in range(4)]
        assert kept.lookup("a:1", "x", "fp") is None
        assert kept.lookup("a:2", "x\x1fy", "fp") is None
