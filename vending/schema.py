"""Schema versions of the two databases, and the upgrades between them.

Each database file carries its version in `PRAGMA user_version`. Version 1 is
the layout of release 26aa1c3, which set no version: a file at version 0 is
either new or written by that release, and both get version 1's SQL (every
statement of it is `IF NOT EXISTS`). Each later version is one `Migration`
appended to the database's list: adding a table is one entry. Entries are
never edited nor reordered once released; a migration's version is its place
in the list (the first is version 2).

Opening a file runs, in one transaction, whatever it lacks, then stamps the
new version, so a crash mid-upgrade leaves the file as it was. A file stamped
with a version newer than this code knows was written by a newer vending:
it is refused (`SchemaTooNew`), never opened and half understood.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["Migration", "Schema", "SchemaTooNew"]


class SchemaTooNew(Exception):
    """The file's schema version is newer than this code knows (a downgrade)."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(f"schema version {found} is newer than this vending knows ({known}): "
                         "it was written by a newer release, run that one (downgrading is "
                         "not supported)")
        self.found = found
        self.known = known


@dataclass(frozen=True)
class Migration:
    """One step up: `sql` (a script) and, for the log and the reader, why."""

    why: str
    sql: str


@dataclass(frozen=True)
class Schema:
    """A database's version-1 SQL and the migrations after it."""

    name: str
    base: str
    migrations: tuple[Migration, ...] = ()

    @property
    def version(self) -> int:
        """The version this code writes."""
        return 1 + len(self.migrations)

    def pending(self, found: int) -> list[str]:
        """The scripts that take a file at version `found` to `version`.

        Raises:
            SchemaTooNew: `found` is past `version`.
        """
        if found > self.version:
            raise SchemaTooNew(found, self.version)
        steps = [self.base] if found == 0 else []
        return steps + [m.sql for m in self.migrations[max(found, 1) - 1:]]

    def apply(self, conn: sqlite3.Connection) -> int:
        """Bring `conn`'s file up to `version` in one transaction; the version it had.

        Runs in the thread that opens the file, before anything else uses it.
        `conn` is in autocommit mode (isolation_level None).

        Raises:
            SchemaTooNew: the file is newer than this code.
            sqlite3.Error: the upgrade failed (rolled back, the file is untouched).
        """
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        steps = self.pending(found)
        if not steps:
            return found
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another opener may have upgraded it.
            again = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for script in self.pending(again):
                for statement in _statements(script):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={self.version:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return found


def _statements(script: str) -> list[str]:
    """A script cut into statements (executescript would commit the transaction)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return [s for s in out if s.strip(" ;\n")]
