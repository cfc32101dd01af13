"""Replies kept by `(scope, req_id)` so a retry gets the first final reply.

The record is written in the same transaction as the effect it answers for,
so after any crash either both exist or neither does. `scope` is the account:
`u:<user_uid>` for `auth` (forgotten when the account is deleted), `a:<account_id>`
for everything done in a session (account ids are never reused, so a
re-registered username starts afresh either way).

`Replies` is the one policy, for every op and both owners. Before a rule runs,
`check` answers replay (a kept reply), refuse (`BadRequest`: the req_id names
another request) or run; `run` runs the rule and keeps its reply. What it keeps
is read off the op's row (vending/ops.py):

* read-only ops ignore req_id: nothing is looked up or kept;
* `kept="final"`: what a rule returns is final and kept; what it raises is kept
  too, unless its code is in `NOT_KEPT` or the row's `unkept`: refusals that name
  no effect and may pass on a later try;
* `kept="successes"` (`auth`): only successful replies are kept, and replayed;
* a reply's `token` is never kept in clear (`auth` keeps it sealed instead,
  `run(..., sealed=)`).

A stock op's reply is kept by the stock handler; the gatekeeper, which checked
its caller, `claim`s the req_id in the account's scope so it names that request
there too (a later request under it is refused, an ended session may replay).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .db import Database, KeySet
from .errors import BadRequest, ClientError
from .jsontext import compact
from .ops import TABLE
from .outcome import Outcome
from .requests import Request

__all__ = ["CLAIMED", "NOT_KEPT", "SCHEMA", "Claimed", "IdempotencyStore", "Replay", "Replies"]

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
    """The `idem` table. Every write of it goes through here (`store`, `expire`,
    `forget`), so the keys kept in memory cover every stored one.

    A lookup of a new req_id, nearly every one, reads nothing from the file: the
    file's `KeySet` of `(scope, req_id)` (vending/db.py) says it is new.
    Replies are written with the transaction's other kept replies, in one
    statement just before COMMIT (`Database.defer`).
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def _keys(self) -> KeySet:
        return self._db.keyset("SELECT scope, req_id FROM idem")

    def lookup(self, scope: str, req_id: str | None, fp: str) -> Record | None:
        """The stored record, None if the id is new.

        Raises:
            BadRequest: the id was used by this account for a different request.
        """
        if req_id is None or not self._keys().may_hold(scope, req_id):
            return None
        self._db.write_deferred()
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
        """Keep `reply`; None marks an id claimed here but answered by another store
        (`Replies.claim`)."""
        if req_id is None:
            return
        text = None if reply is None else compact(reply)
        self._keys().add(scope, req_id)
        self._db.defer(
            "INSERT INTO idem(scope, req_id, fp, reply, sealed, created)",
            (scope, req_id, fp, text, sealed, now),
            "ON CONFLICT(scope, req_id) DO UPDATE SET reply=excluded.reply,"
            " sealed=excluded.sealed WHERE idem.fp=excluded.fp")

    def expire(self, before: float) -> int:
        self._db.write_deferred()
        gone = self._db.conn.execute("DELETE FROM idem WHERE created < ?", (before,)).rowcount
        if gone:
            self._keys().shrink()
        return int(gone)

    def forget(self, scope: str) -> int:
        self._db.write_deferred()
        return int(self._db.conn.execute("DELETE FROM idem WHERE scope=?", (scope,)).rowcount)


@dataclass(frozen=True, slots=True)
class Replay:
    """A kept reply: answer it again, apply nothing."""

    reply: dict[str, Any]
    sealed: bytes | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """The req_id names this request here, but another owner keeps its reply."""


CLAIMED = Claimed()


class Replies:
    """The idempotency policy. Runs on the owner's thread, inside its transaction."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.store = IdempotencyStore(db)
        self._clock = clock

    def check(self, scope: str, req: Request) -> Replay | Claimed | None:
        """Replay, or `CLAIMED`, or None: run the rule.

        Raises:
            BadRequest: refuse: the req_id was used in `scope` for a different request.
        """
        row = TABLE[req.op]
        if row.read_only:
            return None
        rec = self.store.lookup(scope, req.req_id, req.fingerprint())
        if rec is None:
            return None
        if rec.reply is None:
            return CLAIMED
        if row.kept == "successes" and not rec.reply.get("ok"):
            return None  # failures kept by earlier versions: only successes replay
        return Replay(rec.reply, rec.sealed)

    def kept(self, scope: str, req: Request) -> Replay | None:
        """`check` for an op whose replies no other owner keeps: a replay, or None: run."""
        found = self.check(scope, req)
        return found if isinstance(found, Replay) else None

    def run(self, scope: str, req: Request, rule: Callable[[], Outcome],
            sealed: bytes | None = None) -> Outcome:
        """Run `rule` for a request `check` said to run, and keep its reply.

        A `ClientError` raised by `rule` becomes the reply. A rule whose refusal
        depends on stored state (so is final) returns it instead of raising.
        """
        row = TABLE[req.op]
        try:
            out = rule()
        except ClientError as exc:
            out = Outcome(exc.to_reply())
            if exc.code in NOT_KEPT or exc.code in row.unkept:
                return out
        if row.read_only or (row.kept == "successes" and not out.reply.get("ok")):
            return out
        reply = out.reply
        kept = {k: v for k, v in reply.items() if k != "token"} if "token" in reply else reply
        self.store.store(scope, req.req_id, req.fingerprint(), kept, self._clock(), sealed)
        return out

    def claim(self, scope: str, req: Request) -> None:
        """Name `req` under its req_id in `scope`; its reply is kept by another owner."""
        self.store.store(scope, req.req_id, req.fingerprint(), None, self._clock())

    def forget(self, scope: str) -> int:
        return self.store.forget(scope)

    def expire(self, before: float) -> int:
        return self.store.expire(before)
