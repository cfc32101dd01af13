"""`Database` (vending/db.py): explicit transactions, savepoints when nested, the
before-commit hook for writing commits only, what waits for the commit (`after_commit`,
`defer`), and a connection opened in one thread and used by another (the wiring opens
it, the owning actor uses it)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from vending.db import Database, StorageError, insert_rows

SCHEMA = "CREATE TABLE t(x INTEGER);"


def rows(db: Database) -> list[int]:
    return [r[0] for r in db.conn.execute("SELECT x FROM t ORDER BY x")]


def test_before_commit_runs_for_a_writing_commit_only() -> None:
    db = Database(None, SCHEMA)
    calls: list[bool] = []
    db.before_commit = lambda: calls.append(db.conn.in_transaction)
    with db.transaction() as conn:
        conn.execute("SELECT count(*) FROM t").fetchone()
    assert calls == []
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(1)")
    assert calls == [True]  # inside the transaction, just before COMMIT
    assert rows(db) == [1]


def test_a_failing_before_commit_rolls_the_write_back() -> None:
    db = Database(None, SCHEMA)

    def fsync_fails() -> None:
        raise OSError(5, "Input/output error")

    db.before_commit = fsync_fails
    with pytest.raises(OSError), db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(1)")
    assert not db.conn.in_transaction and rows(db) == []


def test_a_nested_failure_undoes_only_the_inner_part() -> None:
    db = Database(None, SCHEMA)
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(1)")
        with pytest.raises(ValueError), db.transaction() as inner:
            inner.execute("INSERT INTO t VALUES(2)")
            raise ValueError("inner")
        with db.transaction() as inner:
            inner.execute("INSERT INTO t VALUES(3)")
    assert rows(db) == [1, 3]
    with pytest.raises(ValueError), db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(4)")
        raise ValueError("outer")
    assert rows(db) == [1, 3] and not db.conn.in_transaction


def test_integrity_check_says_ok_for_a_sound_database() -> None:
    db = Database(None, SCHEMA)
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(1)")
    assert db.integrity_check() == "ok"


def test_opened_in_one_thread_used_in_another() -> None:
    db = Database(None, SCHEMA)
    errors: list[BaseException] = []

    def owner() -> None:
        try:
            with db.transaction() as conn:
                conn.execute("INSERT INTO t VALUES(7)")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=owner)
    thread.start()
    thread.join()
    assert errors == [] and rows(db) == [7]


def test_a_new_database_is_in_no_transaction_until_one_begins() -> None:
    db = Database(None, SCHEMA)
    assert db.in_transaction is False
    with db.transaction():
        assert db.in_transaction is True
        with db.transaction():
            assert db.in_transaction is True
    assert db.in_transaction is False


def test_after_commit_runs_once_the_transaction_commits_never_on_rollback() -> None:
    db = Database(None, SCHEMA)
    calls: list[str] = []
    db.after_commit(lambda: calls.append("outside"))
    assert calls == ["outside"]  # no transaction: at once
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(1)")
        db.after_commit(lambda: calls.append(f"committed {rows(db)}"))
        assert calls == ["outside"]
    assert calls == ["outside", "committed [1]"]
    with pytest.raises(ValueError), db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(2)")
        db.after_commit(lambda: calls.append("rolled back"))
        raise ValueError("rolled back")
    with db.transaction():
        pass
    assert calls == ["outside", "committed [1]"]


def test_a_row_deferred_outside_a_transaction_is_written_at_once() -> None:
    db = Database(None, SCHEMA)
    db.defer("INSERT INTO t(x)", (5,))
    assert rows(db) == [5] and not db.conn.in_transaction


def test_a_file_that_cannot_be_opened_is_refused_naming_it(tmp_path: Path) -> None:
    """The operator reads this line (`vending serve` prints it and exits 1)."""
    path = tmp_path / "missing" / "gatekeeper.sqlite3"
    with pytest.raises(StorageError) as info:
        Database(path, SCHEMA)
    assert str(info.value).startswith(f"{path}: ") and "unable to open" in str(info.value)


def test_each_select_has_its_own_key_set_shared_by_every_user(tmp_path: Path) -> None:
    db = Database(tmp_path / "k.sqlite3", "CREATE TABLE a(k); CREATE TABLE b(k);"
                                         " INSERT INTO a VALUES('x'); INSERT INTO b VALUES('y');")
    in_a, in_b = db.keyset("SELECT k FROM a"), db.keyset("SELECT k FROM b")
    assert in_a.may_hold("x") and not in_a.may_hold("y")
    assert in_b.may_hold("y") and not in_b.may_hold("x")
    assert db.keyset("SELECT k FROM a") is in_a
    db.close()


def test_a_multi_row_insert_runs_or_fail_inside_a_transaction_only(tmp_path: Path) -> None:
    """Inside a transaction the rows before a failing one stay until the rollback
    (OR FAIL: no statement journal); in autocommit the statement is undone whole.
    Both orders of first use, so neither statement text is taken for the other
    (the table is this test's own, so no other test filled the cache of texts)."""
    db = Database(tmp_path / "f.sqlite3",
                  "CREATE TABLE f1(x PRIMARY KEY); CREATE TABLE f2(x PRIMARY KEY);")
    for table, inside_first in (("f1", True), ("f2", False)):
        head = f"INSERT INTO {table}(x)"

        def kept(inside: bool, head: str = head, table: str = table) -> int:
            if inside:
                db.conn.execute("BEGIN")
            with pytest.raises(sqlite3.IntegrityError):
                insert_rows(db.conn, head, [(1,), (1,)])
            n = int(db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            if inside:
                db.conn.execute("ROLLBACK")
            return n

        first, second = (kept(inside_first), kept(not inside_first))
        inside, outside = (first, second) if inside_first else (second, first)
        assert (inside, outside) == (1, 0)
    db.close()
