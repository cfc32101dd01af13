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

from .db import Database, delete_old
from .errors import BadRequest, ClientError
from .jsontext import compact
from .ops import TABLE
from .outcome import Outcome
from .requests import Request

__all__ = ["CLAIMED", "NOT_KEPT", "SCHEMA", "SCHEMA_V1", "TO_LOG", "Claimed",
           "IdempotencyStore", "Replay", "Replies"]

#: Raised refusals never kept: they applied nothing and a later try may pass
#: (a session found live again is impossible, but a retry through a fresh
#: session, a throttle that has cooled down, or a corrected request is not).
NOT_KEPT = frozenset({"UNAUTHORIZED", "RATE_LIMITED", "BAD_REQUEST"})

#: Version 1's table (release 26aa1c3), frozen: the layout files start from
#: (vending/schema.py). Clustered by (scope, req_id), a batch's kept replies landed
#: on as many leaves as it had accounts, and split them: about two WAL pages a reply.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS idem(
  scope TEXT NOT NULL, req_id TEXT NOT NULL, fp TEXT NOT NULL,
  reply TEXT, sealed BLOB, created REAL NOT NULL,
  PRIMARY KEY(scope, req_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idem_created ON idem(created);
"""

#: The kept replies as a log: rows appended in `id` order, so a batch's replies
#: share the table's last pages whatever its accounts; found by id through memory
#: (`IdempotencyStore`), expired by id too (rows are appended in the order of their
#: `created`); `idem_auth` serves `forget`, and only an `auth` reply's row (scope
#: `u:`) writes it.
#: The view `idem_created` holds the name of version 1's index: release 26aa1c3,
#: whose SQL needs (scope, req_id) unique, fails to create that index and so
#: refuses to start on a file in this layout, changing nothing (docs/design.md,
#: reading 36), instead of failing every request that keeps a reply.
SCHEMA = """
CREATE TABLE IF NOT EXISTS idem(
  id INTEGER PRIMARY KEY, scope TEXT NOT NULL, req_id TEXT NOT NULL, fp TEXT NOT NULL,
  reply TEXT, sealed BLOB, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS idem_auth ON idem(scope) WHERE substr(scope, 1, 2) = 'u:';
CREATE VIEW IF NOT EXISTS idem_created AS
  SELECT 'kept replies are a log since schema version 4 (gatekeeper), 2 (stock)' AS layout;
"""

#: Version 1's table rebuilt as the log, oldest row first (part of a migration of both
#: files).
TO_LOG = """
ALTER TABLE idem RENAME TO idem_v1;
DROP INDEX idem_created;
""" + SCHEMA + """
INSERT INTO idem(scope, req_id, fp, reply, sealed, created)
  SELECT scope, req_id, fp, reply, sealed, created FROM idem_v1 ORDER BY created;
DROP TABLE idem_v1;
"""

#: `forget` by the partial index `idem_auth` (its condition, written alike).
_FORGET_AUTH = "DELETE FROM idem WHERE substr(scope, 1, 2) = 'u:' AND scope=?"


#: What memory holds of a key: the hash of its text (two keys may share it).
_hashed: Callable[[str], int] = hash


def _key(scope: str, req_id: str) -> int:
    """The hash of a key's text: its two parts as one string, which SQL makes
    alike (`_ALL_KEYS`), so that the keys read at a start are one string a row."""
    return _hashed(scope + "\x1f" + req_id)


#: Every kept row's key text (`_key`) and id, in id order.
_ALL_KEYS = "SELECT scope || char(31) || req_id, id FROM idem ORDER BY id"


@dataclass(frozen=True, slots=True)
class Record:
    reply: dict[str, Any] | None
    sealed: bytes | None


class _Ids:
    """Where each kept row is, for every user of one file: the hash of its key
    (`_key`) -> its id (about 120 bytes a key, a `KeySet` 77), and the next id to
    give."""

    def __init__(self, db: Database) -> None:
        self._db = db
        #: hash -> the first id it had; None: read from the file when next needed.
        self._first: dict[int, int] | None = None
        #: Every id of a hash that more than one row has had (rare: a key stored
        #: again after a rollback, two keys sharing a hash).
        self._more: dict[int, list[int]] = {}
        #: The next id to give; None: read from the file when next needed. Not
        #: taken back by a rollback: an id is never given twice, so the ids of
        #: rows rolled back are gaps.
        self._next: int | None = None

    def _loaded(self) -> dict[int, int]:
        if self._first is None:
            # Every kept row, read at every start (a restart's largest read) into
            # one dict by one comprehension, row by row (not all rows held at once:
            # there may be millions); only when a hash had more than one row (rare)
            # is each of its ids listed, in a second read.
            conn = self._db.conn
            self._first = {_hashed(key): row_id for key, row_id in conn.execute(_ALL_KEYS)}
            self._more = {}
            if len(self._first) < conn.execute("SELECT count(*) FROM idem").fetchone()[0]:
                self._first = {}
                for key, row_id in conn.execute(_ALL_KEYS):
                    self.put(_hashed(key), row_id)
        return self._first

    def of(self, key: int) -> list[int]:
        """The ids `key` has had, newest last (none: surely not stored)."""
        first = self._loaded().get(key)
        return [] if first is None else self._more.get(key, [first])

    def put(self, key: int, row_id: int) -> None:
        first = self._loaded().setdefault(key, row_id)
        if first != row_id:
            self._more.setdefault(key, [first]).append(row_id)

    def give(self) -> int:
        """A new id (in the owner's transaction)."""
        if self._next is None:
            self._db.write_deferred()  # so that max(id) counts them
            self._next = int(self._db.conn.execute(
                "SELECT coalesce(max(id), 0) FROM idem").fetchone()[0]) + 1
        given, self._next = self._next, self._next + 1
        return given

    def reload(self) -> None:
        """Rows were deleted: read the ids again once that has committed."""
        def forget() -> None:
            self._first, self._more = None, {}
        self._db.after_commit(forget)


class IdempotencyStore:
    """The `idem` table. Every write of it goes through here (`store`, `expire`,
    `forget`), so the ids kept in memory cover every stored row.

    Memory knows where each stored `(scope, req_id)` is (`_Ids`, one per file):
    a lookup of a new req_id, nearly every one, reads nothing from the file, and
    a kept one reads its row by id. Like a `KeySet` it is a superset: an id of a
    row since deleted or rolled back, or of another key sharing its hash, costs
    a read that the key check turns down, never a wrong answer; a stored row is
    never missed. Rows are written with the transaction's other kept replies, in
    one statement just before COMMIT (`Database.defer`), under ids given here.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._ids = db.shared("idem ids", lambda: _Ids(db))

    def _row(self, scope: str, req_id: str) -> tuple[int, str, str | None, bytes | None] | None:
        """(id, fp, reply, sealed) of the key's stored row, None if it has none."""
        ids = self._ids.of(_key(scope, req_id))
        if not ids:
            return None  # a new key, nearly always: no SQL
        self._db.write_deferred()
        for row_id in reversed(ids):
            row = self._db.conn.execute(
                "SELECT fp, reply, sealed FROM idem WHERE id=? AND scope=? AND req_id=?",
                (row_id, scope, req_id)).fetchone()
            if row is not None:
                return row_id, row[0], row[1], row[2]
        return None

    def lookup(self, scope: str, req_id: str | None, fp: str) -> Record | None:
        """The stored record, None if the id is new.

        Raises:
            BadRequest: the id was used by this account for a different request.
        """
        if req_id is None:
            return None
        row = self._row(scope, req_id)
        if row is None:
            return None
        if row[1] != fp:
            raise BadRequest("req_id was already used for a different request")
        return Record(json.loads(row[2]) if row[2] is not None else None, row[3])

    def store(self, scope: str, req_id: str | None, fp: str, reply: dict[str, Any] | None,
              now: float, sealed: bytes | None = None, text: str | None = None) -> None:
        """Keep `reply`; None marks an id claimed here but answered by another store
        (`Replies.claim`). A key stored already keeps its row, whose reply is
        replaced if it is for the same request (same `fp`). `text`: the reply's JSON
        text, if made already."""
        if req_id is None:
            return
        if text is None and reply is not None:
            text = compact(reply)
        found = self._row(scope, req_id)
        if found is not None:
            if found[1] == fp:
                self._db.conn.execute("UPDATE idem SET reply=?, sealed=? WHERE id=?",
                                      (text, sealed, found[0]))
            return
        row_id = self._ids.give()
        self._ids.put(_key(scope, req_id), row_id)
        self._db.defer("INSERT INTO idem(id, scope, req_id, fp, reply, sealed, created)",
                       (row_id, scope, req_id, fp, text, sealed, now))

    def expire(self, before: float) -> int:
        """Delete the rows created before `before`, by id (vending/db.py `delete_old`):
        rows are appended in the order of their `created`; how many."""
        self._db.write_deferred()
        gone = delete_old(self._db.conn, "idem", "id", "created", before)
        if gone:
            self._ids.reload()
        return gone

    def forget(self, scope: str) -> int:
        """Delete `scope`'s kept replies (an `auth` scope by its index, others by a scan)."""
        self._db.write_deferred()
        sql = _FORGET_AUTH if scope.startswith("u:") else "DELETE FROM idem WHERE scope=?"
        return int(self._db.conn.execute(sql, (scope,)).rowcount)


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
        if "token" in reply:
            kept, text = {k: v for k, v in reply.items() if k != "token"}, None
        else:
            kept, text = reply, out.text  # the rule's own text of it, if it made one
        self.store.store(scope, req.req_id, req.fingerprint(), kept, self._clock(), sealed,
                         text)
        return out

    def claim(self, scope: str, req: Request) -> None:
        """Name `req` under its req_id in `scope`; its reply is kept by another owner."""
        self.store.store(scope, req.req_id, req.fingerprint(), None, self._clock())

    def forget(self, scope: str) -> int:
        return self.store.forget(scope)

    def expire(self, before: float) -> int:
        return self.store.expire(before)
