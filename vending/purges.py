"""Deleted sellers whose products the stock handler has not yet purged.

A row is written in the transaction that deletes the seller and removed once the
stock handler answers `purged`, so a purge lost with a restart is asked again.
Runs on the gatekeeper's thread, inside its transaction.
"""

from __future__ import annotations

from .db import Database

__all__ = ["SCHEMA", "PurgeQueue"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS purges(account_id INTEGER PRIMARY KEY, user_uid TEXT NOT NULL);
"""


class PurgeQueue:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, account_id: int, user_uid: str) -> None:
        self._db.conn.execute("INSERT OR IGNORE INTO purges(account_id, user_uid) VALUES(?,?)",
                              (account_id, user_uid))

    def pending(self) -> list[tuple[int, str]]:
        return [(int(a), str(u)) for a, u in
                self._db.conn.execute("SELECT account_id, user_uid FROM purges")]

    def done(self, account_id: int) -> None:
        self._db.conn.execute("DELETE FROM purges WHERE account_id=?", (account_id,))
