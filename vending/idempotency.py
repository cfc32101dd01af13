"""Replies kept by `(scope, req_id)` so a retry gets the first final reply.

The record is written in the same transaction as the effect it answers for,
so after any crash either both exist or neither does. `scope` is the account:
`u:<user_uid>` for `auth` (forgotten when the account is deleted), `a:<account_id>`
for everything done in a session (account ids are never reused, so a
re-registered username starts afresh either way).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .db import Database
from .errors import BadRequest

__all__ = ["SCHEMA", "IdempotencyStore", "Record"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS idem(
  scope TEXT NOT NULL, req_id TEXT NOT NULL, fp TEXT NOT NULL,
  reply TEXT, sealed BLOB, created REAL NOT NULL,
  PRIMARY KEY(scope, req_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idem_created ON idem(created);
"""


@dataclass(frozen=True, slots=True)
class Record:
    reply: dict[str, Any] | None
    sealed: bytes | None


class IdempotencyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def lookup(self, scope: str, req_id: str | None, fp: str) -> Record | None:
        """The stored record, None if the id is new.

        Raises:
            BadRequest: the id was used by this account for a different request.
        """
        if req_id is None:
            return None
        row = self._db.conn.execute(
            "SELECT fp, reply, sealed FROM idem WHERE scope=? AND req_id=?", (scope, req_id)
        ).fetchone()
        if row is None:
            return None
        if row[0] != fp:
            raise BadRequest("req_id was already used for a different request")
        return Record(json.loads(row[1]) if row[1] is not None else None, row[2])

    def store(self, scope: str, req_id: str | None, fp: str, reply: dict[str, Any] | None,
              now: float, sealed: bytes | None = None) -> None:
        """Keep `reply`; None marks an id claimed here but answered by another store."""
        if req_id is None:
            return
        text = None if reply is None else json.dumps(reply, separators=(",", ":"))
        self._db.conn.execute(
            "INSERT INTO idem(scope, req_id, fp, reply, sealed, created) VALUES(?,?,?,?,?,?)"
            " ON CONFLICT(scope, req_id) DO UPDATE SET reply=excluded.reply,"
            " sealed=excluded.sealed WHERE idem.fp=excluded.fp",
            (scope, req_id, fp, text, sealed, now))

    def expire(self, before: float) -> int:
        return self._db.conn.execute("DELETE FROM idem WHERE created < ?", (before,)).rowcount

    def forget(self, scope: str) -> int:
        return self._db.conn.execute("DELETE FROM idem WHERE scope=?", (scope,)).rowcount
