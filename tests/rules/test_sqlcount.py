"""vending/sqlcount.py: the bench's diagnostic statement counts (off unless enabled)."""

from __future__ import annotations

import signal
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vending import sqlcount
from vending.db import Database, Mirror, insert_rows


@pytest.fixture
def counting(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "counts.json"
    sqlcount._dumps = 0  # numbered from 1 whatever other tests dumped before
    sqlcount.enable(path)
    try:
        yield path
    finally:
        sqlcount._path = None
        sqlcount._counts.clear()
        sqlcount._dumps = 0


@pytest.mark.parametrize(("sql", "kind"), [
    ("SELECT fp, reply FROM idem WHERE scope='a:1'", "SELECT idem"),
    ("INSERT OR IGNORE INTO aborted VALUES('x', 1.0)", "INSERT aborted"),
    ("INSERT INTO st.products(seq) VALUES(1)", "INSERT products"),
    ("UPDATE users SET deposit=0 WHERE account_id=1", "UPDATE users"),
    ("DELETE FROM reservations WHERE purchase_id='p'", "DELETE reservations"),
    ("BEGIN IMMEDIATE", "BEGIN"), ("SAVEPOINT sp1", "SAVEPOINT"), ("COMMIT", "COMMIT"),
    # no table named: the verb alone (a mirror's triggers, a schema's statements)
    ("SELECT 1", "SELECT"), ("CREATE TEMP TRIGGER IF NOT EXISTS t_i AFTER INSERT ON main.t"
                             " BEGIN SELECT f(NEW.k); END", "CREATE"),
    ("UPDATE t", "UPDATE t"), ("UPDATE", "UPDATE"), (" \n", "?"),
])
def test_a_statement_is_counted_under_its_verb_and_table(sql: str, kind: str) -> None:
    assert sqlcount.kind_of(sql) == kind


def test_nothing_is_counted_unless_enabled(tmp_path: Path) -> None:
    db = Database(None, "CREATE TABLE t(x);")
    with db.transaction():
        db.conn.execute("INSERT INTO t VALUES(1)")
    assert not sqlcount.enabled() and sqlcount._counts == []  # no callback installed
    sqlcount.dump()
    assert sqlcount.read(tmp_path / "none.json") == (0, {})


def test_counts_are_dumped_per_kind_and_numbered(counting: Path) -> None:
    db = Database(None, "CREATE TABLE t(x);")
    with db.transaction():
        db.conn.execute("INSERT INTO t VALUES(1)")
        insert_rows(db.conn, "INSERT INTO t(x)", [(2,), (3,), (4,)])
        db.conn.execute("SELECT x FROM t").fetchall()
    sqlcount.dump()
    dumped, counts = sqlcount.read(counting)
    assert dumped == 1
    assert counts["INSERT t"] == 2  # three rows in one multi-row statement count once
    assert (counts["SELECT t"], counts["BEGIN"], counts["COMMIT"]) == (1, 1, 1)
    sqlcount.dump()
    assert sqlcount.read(counting)[0] == 2


def test_a_statement_that_fires_triggers_counts_once(counting: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Mirror, "HOLD_AFTER", 0)  # holding at once: its triggers made now
    db = Database(None, "CREATE TABLE t(k PRIMARY KEY, x);")
    db.mirror("t", "k", ("x",))  # TEMP triggers on every write of t
    assert db.conn.execute("SELECT count(*) FROM sqlite_temp_master").fetchone()[0] == 3
    with db.transaction():
        db.conn.execute("INSERT INTO t VALUES(1, 1)")
        db.conn.execute("UPDATE t SET x=2 WHERE k=1")
        db.conn.execute("UPDATE t SET x=3 WHERE k=1")
    sqlcount.dump()
    counts = sqlcount.read(counting)[1]
    assert (counts["INSERT t"], counts["UPDATE t"]) == (1, 2)


def test_from_environ_counts_and_dumps_on_sigusr1_only_when_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's switch (`vending bench --count-sql` sets the variable)."""
    path = tmp_path / "counts.json"
    before = signal.getsignal(signal.SIGUSR1)
    monkeypatch.delenv(sqlcount.ENV, raising=False)
    assert sqlcount.from_environ() is False
    assert not sqlcount.enabled() and signal.getsignal(signal.SIGUSR1) == before
    monkeypatch.setenv(sqlcount.ENV, str(path))
    try:
        assert sqlcount.from_environ() is True and sqlcount.enabled()
        db = Database(None, "CREATE TABLE t(x);")
        db.conn.execute("INSERT INTO t VALUES(1)")
        signal.raise_signal(signal.SIGUSR1)  # the handler runs in this, the main, thread
        assert sqlcount.read(path)[1]["INSERT t"] == 1
    finally:
        signal.signal(signal.SIGUSR1, before)
        sqlcount._path = None
        sqlcount._counts.clear()
        sqlcount._dumps = 0


def test_a_files_wal_frames_and_checkpoints_are_counted_at_each_begin(
        counting: Path, tmp_path: Path) -> None:
    """Read off the wal-index at each BEGIN: the frames the commits before it
    appended, the WAL starting over after a checkpoint included."""
    from tools.walcost import WalCounter  # frames read from the WAL file itself

    db = Database(tmp_path / "f.sqlite3", "CREATE TABLE t(x);")
    db.conn.execute("PRAGMA wal_autocheckpoint=0")
    wal = WalCounter(db)
    written = 0
    for n in range(30):
        with db.transaction():
            insert_rows(db.conn, "INSERT INTO t(x)", [("y" * 1500,)] * (1 + n % 4))
        written += wal.count()
    with db.transaction():  # its BEGIN reads what the last commit appended
        pass
    sqlcount.dump()
    counts = sqlcount.read(counting)[1]
    assert counts[f"{sqlcount.WAL}frames f.sqlite3"] == written > 30
    assert f"{sqlcount.WAL}checkpoints f.sqlite3" not in counts
    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    for _ in range(2):  # the WAL starts over at the first commit after the checkpoint
        with db.transaction():
            db.conn.execute("INSERT INTO t VALUES(1)")
    with db.transaction():
        pass
    sqlcount.dump()
    after = sqlcount.read(counting)[1]
    assert after[f"{sqlcount.WAL}checkpoints f.sqlite3"] == 1
    assert 2 <= after[f"{sqlcount.WAL}frames f.sqlite3"] - written <= 4


def _wal_index(path: Path, frames: int, salt: bytes, backfilled: int) -> None:
    """A -shm header as SQLite lays it out (sqlite.org/walformat.html): mxFrame at
    16, the salts at 32, nBackfill at 96, in the machine's byte order."""
    head = bytearray(100)
    head[16:20] = frames.to_bytes(4, sys.byteorder)
    head[32:40] = salt
    head[96:100] = backfilled.to_bytes(4, sys.byteorder)
    Path(str(path) + "-shm").write_bytes(bytes(head) + bytes(28))


def test_the_wal_index_header_is_read_field_by_field(counting: Path, tmp_path: Path) -> None:
    """Each BEGIN reads the header anew: frames gained since the last read (all of
    them once the salts change, even one byte of them), a checkpoint whenever
    nBackfill grew (from 0 once the WAL started over), each counted."""
    path = tmp_path / "f.sqlite3"
    conn = sqlite3.connect(":memory:", isolation_level=None)
    sqlcount.attach(conn, path)
    salt = bytes(range(1, 9))
    for frames, salt_now, backfilled in [
            (10, salt, 0), (20, salt, 0),      # 10 frames, no checkpoint
            (20, salt, 255), (20, salt, 256),  # two checkpoints (256 > 255 across a byte)
            (20, salt, 256),                   # nothing new
            (1, b"\x09" + salt[1:], 1)]:       # started over: 1 frame, one checkpoint
        _wal_index(path, frames, salt_now, backfilled)
        conn.execute("BEGIN")
        conn.execute("COMMIT")
    conn.close()
    sqlcount.dump()
    counts = sqlcount.read(counting)[1]
    assert counts[f"{sqlcount.WAL}frames f.sqlite3"] == 11
    assert counts[f"{sqlcount.WAL}checkpoints f.sqlite3"] == 3


def test_a_commits_frames_are_counted_by_the_next_begin_alone(
        counting: Path, tmp_path: Path) -> None:
    """The wal-index is read at BEGIN, so the frames of the last commit are counted
    as soon as the next transaction starts, before it runs any statement."""
    db = Database(tmp_path / "f.sqlite3", "CREATE TABLE t(x);")
    with db.transaction():
        db.conn.execute("INSERT INTO t VALUES(1)")
    db.conn.execute("BEGIN")
    sqlcount.dump()
    db.conn.execute("ROLLBACK")
    db.close()
    assert sqlcount.read(counting)[1].get(f"{sqlcount.WAL}frames f.sqlite3", 0) > 0
