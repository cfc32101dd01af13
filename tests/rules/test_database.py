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


def test_a_savepoint_in_a_savepoint_ends_into_the_one_around_it() -> None:
    """Three deep: the innermost's RELEASE leaves its parent a savepoint, whose
    failure then undoes both and leaves the transaction open."""
    db = Database(None, SCHEMA)
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(1)")
        with pytest.raises(ValueError), db.transaction() as middle:
            middle.execute("INSERT INTO t VALUES(2)")
            with db.transaction() as inner:
                inner.execute("INSERT INTO t VALUES(3)")
            raise ValueError("middle")
        assert db.in_transaction and rows(db) == [1]
        conn.execute("INSERT INTO t VALUES(4)")
    assert rows(db) == [1, 4] and not db.conn.in_transaction


def test_a_rollback_that_fails_too_does_not_hide_the_error_that_caused_it() -> None:
    """A commit failing (here its fsync), then its ROLLBACK failing as well (here
    interrupted by SQLite's progress handler): the fsync's error is raised."""
    db = Database(None, SCHEMA)

    def fsync_fails_then_every_statement() -> None:
        db.conn.set_progress_handler(lambda: 1, 1)  # interrupts the next statement
        raise OSError(5, "Input/output error")

    db.before_commit = fsync_fails_then_every_statement
    with pytest.raises(OSError, match="Input/output error"), db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(1)")
    assert db.conn.in_transaction and not db.in_transaction  # the ROLLBACK did fail
    db.conn.set_progress_handler(None, 1)
    db.conn.execute("ROLLBACK")
    assert rows(db) == []


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


def test_deferred_rows_are_written_at_commit_one_alone_or_several_in_one_statement() -> None:
    """A lone deferred row (a batch of one) and several rows of one statement both
    reach the file at COMMIT; rows deferred in a savepoint rolled back never do."""
    db = Database(None, SCHEMA + "CREATE TABLE u(y INTEGER);")
    with db.transaction():
        db.defer("INSERT INTO t(x)", (1,))
        db.defer("INSERT INTO u(y)", (7,))
        db.defer("INSERT INTO u(y)", (8,))
        with pytest.raises(ValueError), db.transaction():
            db.defer("INSERT INTO t(x)", (2,))
            raise ValueError("inner")
        assert rows(db) == [1]  # written when the savepoint began, so it outlives it
        db.defer("INSERT INTO t(x)", (3,))
    assert rows(db) == [1, 3]
    assert [r[0] for r in db.conn.execute("SELECT y FROM u ORDER BY y")] == [7, 8]
    with db.transaction():
        db.write_deferred()  # nothing deferred: nothing written
    assert rows(db) == [1, 3]


def test_a_failed_transaction_raises_the_bodys_own_error_and_the_next_one_runs() -> None:
    """The body's exception goes on unchanged; what was deferred, what waited for the
    commit and the rows written are all dropped, each rollback forgetter runs once,
    and the connection's next transaction (the same context manager) commits."""
    db = Database(None, SCHEMA)
    forgot: list[int] = []
    db.on_rollback(lambda: forgot.append(len(forgot)))
    after: list[str] = []
    error = KeyError("the body's")
    with pytest.raises(KeyError) as info, db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(1)")
        db.defer("INSERT INTO t(x)", (2,))
        db.after_commit(lambda: after.append("never"))
        raise error
    assert info.value is error
    assert forgot == [0] and after == [] and not db.in_transaction
    assert not db.conn.in_transaction and rows(db) == []
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(3)")
        db.after_commit(lambda: after.append("committed"))
    assert rows(db) == [3] and after == ["committed"] and forgot == [0]


def test_a_commit_that_fails_rolls_back_and_raises_its_error() -> None:
    """An error at COMMIT time (here the before-commit hook, as a failing fsync is
    injected) rolls back the deferred rows too, forgets, and is what the caller sees."""
    db = Database(None, SCHEMA)
    forgot: list[str] = []
    db.on_rollback(lambda: forgot.append("forgot"))

    def disk_full() -> None:
        raise sqlite3.OperationalError("database or disk is full")

    db.before_commit = disk_full
    with pytest.raises(sqlite3.OperationalError, match="disk is full"), \
            db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES(1)")
        db.defer("INSERT INTO t(x)", (2,))
    assert forgot == ["forgot"] and not db.in_transaction and rows(db) == []
    db.before_commit = None
    with db.transaction():
        db.defer("INSERT INTO t(x)", (4,))
    assert rows(db) == [4]
