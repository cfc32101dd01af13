"""Replies kept by `(scope, req_id)` so a retry gets the first final reply.

The record is written in the same transaction as the effect it answers for,
so after any crash either both exist or neither does. `scope` is the account:
`u:<user_uid>` for `auth` (forgotten when the account is deleted), `a:<account_id>`
for everything done in a session (account ids are never reused, so a
re-registered username starts afresh either way).

The policy, one for both owners (`IdempotencyStore.run_once`):

* what a rule returns is final and kept;
* what a rule raises is kept too, unless its code is in `NOT_KEPT` (or the
  caller's `unkept`): refusals that name no effect and may pass on a later try;
* a reply's `token` is never kept in clear (`auth` keeps it sealed instead).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from .db import Database
from .errors import BadRequest, ClientError
from .requests import Request

__all__ = ["NOT_KEPT", "SCHEMA", "IdempotencyStore", "Record"]

#: Raised refusals never kept: they applied nothing and a later try may pass
#: (a session found live again is impossible, but a retry through a fresh
#: session, a throttle that has cooled down, or a corrected request is not).
NOT_KEPT = frozenset({"UNAUTHORIZED", "RATE_LIMITED", "BAD_REQUEST"})

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

    def run_once(self, scope: str, req: Request, rule: Callable[[], dict[str, Any]],
                 now: float, *, unkept: Collection[str] = (),
                 sealed: bytes | None = None) -> dict[str, Any]:
        """Run `rule` for a request not answered yet, and keep its final reply.

        The caller has looked the request up first (`lookup`) and replayed any
        stored reply. A `ClientError` raised by `rule` becomes the reply; it is
        kept unless its code is in `NOT_KEPT` or `unkept`. A rule whose refusal
        depends on stored state (so is final) returns it instead of raising.
        """
        try:
            reply = rule()
        except ClientError as exc:
            reply = exc.to_reply()
            if exc.code in NOT_KEPT or exc.code in unkept:
                return reply
        stored = {k: v for k, v in reply.items() if k != "token"}
        self.store(scope, req.req_id, req.fingerprint(), stored, now, sealed)
        return reply

    def expire(self, before: float) -> int:
        return self._db.conn.execute("DELETE FROM idem WHERE created < ?", (before,)).rowcount

    def forget(self, scope: str) -> int:
        return self._db.conn.execute("DELETE FROM idem WHERE scope=?", (scope,)).rowcount
