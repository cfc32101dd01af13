"""Each account's own history: a buyer's deposits, purchases and resets, a seller's sales.

Unlike events (vending/events.py), which are anonymous and public, history is
the account's own view, read behind its session (the `history` op). Every
entry lives in the gatekeeper's database and is written by the rule whose
effect it records, in that rule's transaction: a deposit or a reset with the
wallet's update, a purchase and its sale with the charge, which is the
purchase's point of no return (vending/purchase.py). So an entry exists
exactly when its effect is committed (docs/design.md, "History").

Kept `KEEP_DAYS` days or the account's newest `KEEP_LAST` entries, whichever
keeps more; deleted with the account. `id` is AUTOINCREMENT: rising, never
reused, so `before` pages stay stable while new entries arrive.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .db import Database
from .jsontext import compact
from .limits import ID_MAX
from .sources import SYSTEM_CLOCK

__all__ = ["KEEP_DAYS", "KEEP_LAST", "SCHEMA", "History"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS history(
  id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INTEGER NOT NULL, kind TEXT NOT NULL,
  at REAL NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_account ON history(account_id, id);
"""

KEEP_DAYS = 90
KEEP_LAST = 1000

#: An entry is deferred (`Database.defer`) and written with the transaction's others
#: in one statement just before COMMIT; `insert_rows` puts the rows' `VALUES` between
#: these two. The account is checked then: one deleted later in the same transaction
#: (a seller deleted after a sale in one batch) gets no entry, as if written at once.
_ADD_HEAD = "INSERT INTO history(account_id, kind, at, body) SELECT * FROM ("
_ADD_TAIL = ") AS v WHERE EXISTS(SELECT 1 FROM users WHERE users.account_id = v.column1)"


class History:
    """Runs inside the gatekeeper's transactions, on its thread."""

    def __init__(self, db: Database, clock: Callable[[], float] = SYSTEM_CLOCK.time) -> None:
        self._db = db
        self._clock = clock

    def add(self, account_id: int, kind: str, **fields: Any) -> None:
        """Add an entry to the account's history, if the account still exists when the
        transaction's entries are written (at its end: one statement for all of them)."""
        self.add_text(account_id, kind, compact(fields))

    def add_text(self, account_id: int, kind: str, body: str) -> None:
        """`add`, its fields given as their JSON text (vending/jsontext.py `compact`)."""
        self._db.defer(_ADD_HEAD, (account_id, kind, self._clock(), body), _ADD_TAIL)

    def page(self, account_id: int, before: int | None, limit: int) -> dict[str, Any]:
        """The `history` reply: up to `limit` entries older than `before`, newest first."""
        self._db.write_deferred()
        rows = self._db.conn.execute(
            "SELECT id, kind, at, body FROM history WHERE account_id=? AND id < ?"
            " ORDER BY id DESC LIMIT ?",
            (account_id, before if before is not None else ID_MAX, limit + 1)).fetchall()
        entries = [{"id": i, "kind": kind, "at": at, **json.loads(body)}
                   for i, kind, at, body in rows[:limit]]
        return {"ok": True, "entries": entries, "more": len(rows) > limit}

    def forget(self, account_id: int) -> int:
        """An account deleted: its history goes with it."""
        self._db.write_deferred()
        return self._db.conn.execute("DELETE FROM history WHERE account_id=?",
                                     (account_id,)).rowcount

    def housekeeping(self) -> int:
        """Drop entries both older than KEEP_DAYS and past their account's KEEP_LAST.

        Ranking needs every row, so an index on `at` would not help this (every 10
        minutes) and would cost a page write per entry."""
        self._db.write_deferred()
        return self._db.conn.execute(
            "DELETE FROM history WHERE at < ? AND id IN (SELECT id FROM (SELECT id,"
            " row_number() OVER (PARTITION BY account_id ORDER BY id DESC) AS rank"
            " FROM history) WHERE rank > ?)",
            (self._clock() - KEEP_DAYS * 86400.0, KEEP_LAST)).rowcount
