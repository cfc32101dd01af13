"""SQLite files: WAL, synchronous=FULL, one writer (the owning actor)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Database", "StorageError"]


class StorageError(Exception):
    """The data folder or a database file cannot be used."""


class Database:
    """One connection, used by one thread, with explicit transactions.

    `path` None keeps everything in memory (`--data-dir :memory:`).
    """

    def __init__(self, path: Path | None, schema: str) -> None:
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
            self.conn.executescript(schema)
        except sqlite3.Error as exc:
            raise StorageError(f"{path or ':memory:'}: {exc}") from exc
        self._depth = 0

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
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        self.conn.close()
