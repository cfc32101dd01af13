"""SQLite files: WAL, synchronous=FULL, one writer (the owning actor)."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import suppress
from itertools import chain
from pathlib import Path
from typing import TypeVar, cast

from . import sqlcount
from .schema import Schema, SchemaTooNew

__all__ = ["Database", "KeySet", "Mirror", "StorageError", "StorageFault", "delete_old",
           "insert_rows", "storage_fault"]

T = TypeVar("T")


class StorageError(Exception):
    """The data folder or a database file cannot be used."""


class StorageFault(StorageError):
    """A write was refused by the storage itself: disk full, read-only, I/O error.

    A condition of the machine, not a bug: the transaction was rolled back and
    the same work may succeed once the operator has made room (or the disk is
    back). `full` tells "no space" apart from "failing" for the client's message.
    """

    def __init__(self, reason: str, *, full: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.full = full

    def client_message(self) -> str:
        return ("storage is full; retry later" if self.full
                else "storage is failing; retry later")


#: SQLite primary result codes that mean "the storage refused", not "the SQL is wrong".
_FULL_CODES = frozenset({sqlite3.SQLITE_FULL})
_FAILING_CODES = frozenset({sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY,
                            sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOLFS})
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FAILING_ERRNOS = frozenset({errno.EIO, errno.EROFS})


def storage_fault(exc: BaseException) -> StorageFault | None:
    """The storage fault `exc` is (or was caused by), or None if it is something else."""
    if isinstance(exc, StorageFault):
        return exc
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if isinstance(code, int):
            name = getattr(exc, "sqlite_errorname", None) or str(code)
            if code & 0xFF in _FULL_CODES:
                return StorageFault(f"{exc} ({name})", full=True)
            if code & 0xFF in _FAILING_CODES:
                return StorageFault(f"{exc} ({name})", full=False)
        return None
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS | _FAILING_ERRNOS:
        return StorageFault(str(exc), full=exc.errno in _FULL_ERRNOS)
    return None


#: Rows per multi-row statement: well under SQLite's 32766 bound variables.
_ROWS_PER_STATEMENT = 256


#: Statement texts by (head, tail, columns, rows; negative: OR FAIL): built once, so
#: SQLite's cache of prepared statements finds them again.
_INSERTS: dict[tuple[str, str, int, int], str] = {}
_INSERT, _INSERT_OR_FAIL = "INSERT INTO ", "INSERT OR FAIL INTO "


def delete_old(conn: sqlite3.Connection, table: str, order: str, time: str,
               before: float) -> int:
    """Delete the rows of the log `table` whose `time` is before `before`; how many.

    By `order` (its integer key), with no index on `time`: rows are appended in the
    order of their `time`, so the old ones are those before the first young one,
    found by a walk from the oldest that stops there (it reads only what it
    deletes). Should the clock have stepped back, `time < ?` still spares a young
    row before that one, and an old row after it waits for a later run: none is
    deleted early, some late."""
    return int(conn.execute(
        f"DELETE FROM {table} WHERE {time} < ?1 AND {order} < coalesce("
        f"(SELECT {order} FROM {table} WHERE {time} >= ?1 ORDER BY {order} LIMIT 1),"
        f" (SELECT max({order}) FROM {table}) + 1)", (before,)).rowcount)


def insert_rows(conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[object]],
                tail: str = "") -> None:
    """`head VALUES (?,..),(?,..),... tail` for all `rows` (of equal length): one
    statement per `_ROWS_PER_STATEMENT` rows instead of one per row, so a batch's
    inserts cost one parse and one trip into SQLite.

    Inside a transaction an `INSERT` of several rows runs as `INSERT OR FAIL`: a
    statement that may fail after changing some rows needs a statement journal (a
    copy of every page it changes, spilled to a temporary file past 64 KiB: about
    one file and twenty pwrites a commit under load). Here none is needed: an error
    rolls the whole transaction, or its savepoint, back (`Database.transaction`),
    never just the statement."""
    if not rows:
        return
    width = len(rows[0])
    if len(rows) == 1:  # a batch of one (the simulator, a lightly loaded server): no loop
        conn.execute(_statement(head, tail, width, 1), rows[0])
        return
    or_fail = conn.in_transaction and head.startswith(_INSERT)
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start:start + _ROWS_PER_STATEMENT]
        n = len(chunk)  # one row alone needs no statement journal: a plain INSERT
        conn.execute(_statement(head, tail, width, -n if or_fail and n > 1 else n),
                     list(chain.from_iterable(chunk)))


def _statement(head: str, tail: str, width: int, rows: int) -> str:
    """`insert_rows`' statement for `rows` rows of `width` columns (negative: as
    `INSERT OR FAIL`), made once."""
    key = (head, tail, width, rows)
    sql = _INSERTS.get(key)
    if sql is None:
        one = "(" + ",".join("?" * width) + ")"
        first = _INSERT_OR_FAIL + head[len(_INSERT):] if rows < 0 else head
        sql = _INSERTS[key] = f"{first} VALUES {','.join([one] * abs(rows))} {tail}"
    return sql


class Database:
    """One connection, used by one thread, with explicit transactions.

    `path` None keeps everything in memory (`--data-dir :memory:`). A `Schema`
    is brought up to its version (vending/schema.py); plain SQL is run as is.
    """

    def __init__(self, path: Path | None, schema: Schema | str) -> None:
        self.path = path
        try:
            # check_same_thread=False: the wiring opens the file in one thread
            # to fail fast on a bad data folder, the owning actor then uses it alone.
            self.conn = sqlite3.connect(":memory:" if path is None else str(path),
                                        isolation_level=None, check_same_thread=False)
            sqlcount.attach(self.conn, path)  # diagnostic mode only (`vending bench --count-sql`)
            if path is not None:
                mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise StorageError(f"{path}: cannot switch to WAL (got {mode})")
            # FULL: a commit is on disk when it returns, so a reply sent after
            # it survives SIGKILL and power loss alike.
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA busy_timeout=5000")
            if isinstance(schema, Schema):
                schema.apply(self.conn)
            else:
                self.conn.executescript(schema)
        except SchemaTooNew as exc:
            self.conn.close()
            raise StorageError(f"{path or ':memory:'}: {exc}") from None
        except sqlite3.Error as exc:
            raise StorageError(f"{path or ':memory:'}: {exc}") from exc
        self._depth = 0
        #: Called just before a COMMIT that writes, inside the transaction (fault
        #: injection: a delay or an error there behaves like a slow or failing fsync).
        self.before_commit: Callable[[], None] | None = None
        #: False while storage is known to be failing: writes that are only
        #: bookkeeping (a session's last_seen) are skipped so reads stay served.
        self.optional_writes = True
        #: Rows whose INSERT waits for the end of the transaction, by (head, tail)
        #: of their statement (`defer`): one multi-row statement each at COMMIT.
        self._deferred: dict[tuple[str, str], list[tuple[object, ...]]] = {}
        #: Called after any rollback (of the transaction or of a savepoint): what
        #: mirrors a table in memory forgets, and is read again from the file.
        self._on_rollback: list[Callable[[], None]] = []
        self._mirrors: dict[str, Mirror] = {}
        self._shared: dict[str, object] = {}
        #: Called once after this transaction commits (dropped if it rolls back).
        self._after_commit: list[Callable[[], None]] = []
        #: BEGIN, COMMIT and savepoints go through one cursor (`conn.execute` makes
        #: one a call); `total_changes` at BEGIN, so COMMIT knows whether it writes.
        self._cursor = self.conn.cursor()
        self._changes = 0
        self._transaction = _Transaction(self)

    # -- memory that records what the file holds -------------------------------
    def on_rollback(self, forget: Callable[[], None]) -> None:
        """Call `forget` after every rollback, so memory never holds what the file
        does not (a failed COMMIT, a storage fault, a bug, a savepoint rolled back)."""
        self._on_rollback.append(forget)

    def after_commit(self, then: Callable[[], None]) -> None:
        """Call `then` once the current transaction has committed (never if it
        rolls back); at once outside a transaction."""
        if not self._depth:
            then()
            return
        self._after_commit.append(then)

    def keyset(self, select: str) -> KeySet:
        """The `KeySet` of the keys `select` reads (made on first use, then shared by
        every user of this file, so a key one of them adds is known to all)."""
        return self.shared(select, lambda: KeySet(self, select))

    def shared(self, name: str, make: Callable[[], T]) -> T:
        """The memory of this file's rows called `name`: made by `make` on first
        use, then shared by every user of this file, so what one of them writes
        is known to all."""
        found = self._shared.get(name)
        if found is None:
            found = self._shared[name] = make()
        return cast(T, found)

    def mirror(self, table: str, key: str, columns: tuple[str, ...]) -> Mirror:
        """The `Mirror` of `table` by `key` (made on first use; ask for it each time,
        never keep it: after a rollback, asking makes its triggers again)."""
        found = self._mirrors.get(table)
        if found is None:
            found = self._mirrors[table] = Mirror(self, table, key, columns)
        elif found.stale:
            found.renew()
        return found

    def _rolled_back(self) -> None:
        for mirror in self._mirrors.values():
            mirror.forget()
        for forget in self._on_rollback:
            forget()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def defer(self, head: str, row: tuple[object, ...], tail: str = "") -> None:
        """INSERT `row` at the end of this transaction, with the others of its
        statement (`insert_rows`), just before COMMIT: a batch's events or kept
        replies cost one statement, not one each. Rolled back with a savepoint
        it was deferred in. A reader of the table calls `write_deferred` first.
        Outside a transaction it is written at once."""
        if not self._depth:
            insert_rows(self.conn, head, [row], tail)
            return
        self._deferred.setdefault((head, tail), []).append(row)

    def write_deferred(self) -> None:
        """Write what was deferred now (inside the transaction)."""
        if not self._deferred:
            return
        deferred, self._deferred = self._deferred, {}
        for (head, tail), rows in deferred.items():
            insert_rows(self.conn, head, rows, tail)


    def transaction(self) -> _Transaction:
        """BEGIN IMMEDIATE ... COMMIT; nested calls become savepoints. (One context
        manager per connection, kept: a simulated or lightly loaded server commits
        once or twice a request, so what a transaction costs in Python counts.)"""
        return self._transaction

    def _begin(self) -> sqlite3.Connection:
        if self._depth:
            # What was deferred before the savepoint is written outside it, so that
            # rolling it back drops exactly what was deferred (or written) inside.
            self.write_deferred()
            self._cursor.execute(f"SAVEPOINT sp{self._depth}")
            self._depth += 1
            return self.conn
        self._cursor.execute("BEGIN IMMEDIATE")
        self._depth = 1
        self._changes = self.conn.total_changes
        return self.conn

    def _end(self, failed: bool) -> None:
        """Leave the innermost transaction: release or commit it, or (`failed`, or
        failing to) roll it back; an error of the end itself is raised."""
        if self._depth > 1:
            name = f"sp{self._depth - 1}"
            try:
                if failed:
                    # A full disk or an I/O error may have rolled the whole
                    # transaction back already (SQLite does so for SQLITE_FULL/IOERR).
                    if self.conn.in_transaction:
                        self._cursor.execute(f"ROLLBACK TO {name}")
                        self._cursor.execute(f"RELEASE {name}")
                    self._deferred = {}
                    self._rolled_back()
                else:
                    self._cursor.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
            return
        if failed:
            self._abandon()  # the body's own exception goes on (`_Transaction.__exit__`)
            return
        try:
            self.write_deferred()
            # Only a commit that writes meets the disk (a read-only one writes nothing).
            if self.before_commit is not None and self.conn.total_changes != self._changes:
                self.before_commit()
            self._cursor.execute("COMMIT")
        except BaseException:
            self._abandon()
            raise
        self._depth = 0
        if self._after_commit:
            then, self._after_commit = self._after_commit, []
            for call in then:
                call()

    def _abandon(self) -> None:
        """Roll the outermost transaction back and forget what it held. A failed COMMIT
        (disk full, I/O error) has already rolled back; a ROLLBACK that fails too must
        not hide the error that caused it."""
        try:
            if self.conn.in_transaction:
                with suppress(sqlite3.Error):
                    self._cursor.execute("ROLLBACK")
            self._deferred = {}
            self._after_commit = []
            self._rolled_back()
        finally:
            self._depth = 0

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self.conn.close()


class Mirror:
    """One table's rows in memory, by key, as the file holds them.

    Read through: a key not held is read from the file (and then held). Kept
    equal by TEMP triggers on the table that hand every inserted, updated or
    deleted row to it, so any writer of the table (any module, any SQL) keeps
    it right; emptied after any rollback (`Database._rolled_back`), so it never
    holds what did not commit, and its triggers made again when next asked for
    (they may have been made in the transaction that rolled back, and gone with
    it). One per table for the connection's life: its SQL functions are
    registered once, as registering one again expires every prepared statement
    of the connection. Only the thread that owns the database uses it.
    A key found absent is not held (unbounded probes must not grow memory).

    It holds nothing, and has no triggers, until it has been read `HOLD_AFTER`
    times (each such read is a plain SELECT, always right): making its three
    triggers costs what about 25 reads from the file cost (SQLite writes and
    parses each one, and any schema change expires every statement the connection
    has prepared), and a connection that a restart has just opened may serve few
    reads before it goes (docs/design.md, "Memory that records the file").
    """

    #: Reads from the file before the mirror starts holding rows (0: at once).
    HOLD_AFTER = 32

    def __init__(self, db: Database, table: str, key: str, columns: tuple[str, ...]) -> None:
        self._rows: dict[object, tuple[object, ...]] = {}
        self._select = (f"SELECT {', '.join(columns)} FROM {table} WHERE {key}=?")
        self._conn = db.conn
        self._table, self._key, self._columns = table, key, columns
        #: Reads left before it holds rows (`_hold`); None once it holds them.
        self._unheld: int | None = self.HOLD_AFTER
        self._triggers: tuple[str, ...] = ()
        self.stale = False
        if not self._unheld:
            self._hold()

    def _hold(self) -> None:
        """From now on hold rows: register the functions, make the triggers."""
        table, key, columns = self._table, self._key, self._columns
        put, drop = f"_mirror_{table}_put", f"_mirror_{table}_drop"
        self._conn.create_function(put, len(columns) + 1, self._put)
        self._conn.create_function(drop, 1, self._drop)
        new = ", ".join(f"NEW.{c}" for c in columns)
        self._triggers = tuple(f"CREATE TEMP TRIGGER IF NOT EXISTS {trigger}" for trigger in (
                f"{put}_i AFTER INSERT ON main.{table} BEGIN SELECT {put}(NEW.{key}, {new}); END",
                # The old key is dropped only if the key itself changed: one call
                # into Python per updated row, not two (3 of a purchase's statements
                # update a mirrored table).
                f"{put}_u AFTER UPDATE ON main.{table} BEGIN SELECT {drop}(OLD.{key})"
                f" WHERE OLD.{key} IS NOT NEW.{key}; SELECT {put}(NEW.{key}, {new}); END",
                f"{drop}_d AFTER DELETE ON main.{table} BEGIN SELECT {drop}(OLD.{key}); END"))
        self._unheld = None
        self.renew()

    def forget(self) -> None:
        """A rollback: hold nothing (rows written since are held again as they come)."""
        self._rows.clear()
        self.stale = True

    def renew(self) -> None:
        """Its triggers, unless they are there (made inside a transaction, a rollback
        takes them away)."""
        for trigger in self._triggers:
            self._conn.execute(trigger)
        self.stale = False

    def _put(self, key: object, *row: object) -> None:
        self._rows[key] = row

    def _drop(self, key: object) -> None:
        self._rows.pop(key, None)

    def get(self, key: object) -> tuple[object, ...] | None:
        """The row under `key` (its columns, in order), None if the table has none."""
        row = self._rows.get(key)
        if row is None:
            unheld = self._unheld
            if unheld is not None:  # not holding yet: this read counts
                if unheld > 1:
                    self._unheld = unheld - 1
                else:
                    self._hold()
            found = self._conn.execute(self._select, (key,)).fetchone()
            if found is None:
                return None
            row = tuple(found)
            if self._unheld is None:  # held only once its triggers tell it of writes
                self._rows[key] = row
        return row

    def __len__(self) -> int:
        return len(self._rows)


class KeySet:
    """A superset, in memory, of the keys a table holds: "is this key new?" with
    no SQL for a key that is.

    Holds a hash of every stored key (read once, by `select`, about 70 bytes a
    key) and of every key added since. A key in it may be gone (deleted, or
    added by a transaction that rolled back): its lookup costs a SELECT that
    finds nothing, never a wrong answer. A stored key is always in it, as long
    as every writer of the table calls `add`. After a deletion, `shrink` reads
    it again once the deletion has committed.
    """

    def __init__(self, db: Database, select: str) -> None:
        self._db = db
        self._select = select
        self._hashes: set[int] | None = None

    def _loaded(self) -> set[int]:
        if self._hashes is None:
            self._hashes = {hash(tuple(row)) for row in self._db.conn.execute(self._select)}
        return self._hashes

    def may_hold(self, *key: object) -> bool:
        """False: the table surely has no row with this key."""
        return hash(key) in self._loaded()

    def add(self, *key: object) -> None:
        self._loaded().add(hash(key))

    def shrink(self) -> None:
        """Keys were deleted: read the set again once that is stored."""
        def forget() -> None:
            self._hashes = None
        self._db.after_commit(forget)


class _Transaction:
    """`Database.transaction`'s context manager: a class, not a generator (about
    half the Python a transaction costs around its SQL), one per connection."""

    __slots__ = ("_db",)

    def __init__(self, db: Database) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        return self._db._begin()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        self._db._end(exc_type is not None)  # the body's exception, if any, goes on
