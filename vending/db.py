"""SQLite files: WAL, synchronous=FULL, one writer (the owning actor)."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from .schema import Schema, SchemaTooNew

__all__ = ["Database", "StorageError", "StorageFault", "storage_fault"]


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

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; nested calls become savepoints."""
        if self._depth:
            name = f"sp{self._depth}"
            self.conn.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                # A full disk or an I/O error may have rolled the whole
                # transaction back already (SQLite does so for SQLITE_FULL/IOERR).
                if self.conn.in_transaction:
                    self.conn.execute(f"ROLLBACK TO {name}")
                    self.conn.execute(f"RELEASE {name}")
                raise
            else:
                self.conn.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        changes = self.conn.total_changes
        try:
            yield self.conn
            # Only a commit that writes meets the disk (a read-only one writes nothing).
            if self.before_commit is not None and self.conn.total_changes != changes:
                self.before_commit()
            self.conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (disk full, I/O error) has already rolled back; a
            # ROLLBACK that fails too must not hide the error that caused it.
            if self.conn.in_transaction:
                with suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self.conn.close()
