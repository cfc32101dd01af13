"""The gatekeeper's record of purchases: charged ones (with their reply) and fenced ones.

Storage for vending/purchase.py's `charge` and `resolve`: a purchase id charged
once answers its first reply again; a fenced one can never be charged. Runs on
the gatekeeper's thread, inside its transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .db import Database, KeySet

__all__ = ["SCHEMA", "PurchaseBook"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS purchases(
  purchase_id TEXT PRIMARY KEY, account_id INTEGER NOT NULL, product_uid TEXT NOT NULL,
  amount INTEGER NOT NULL, spent INTEGER NOT NULL, change INTEGER NOT NULL,
  reply TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS aborted(purchase_id TEXT PRIMARY KEY, at REAL NOT NULL);
"""


class PurchaseBook:
    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock

    def reply(self, purchase_id: str) -> dict[str, Any] | None:
        """The reply of a charged purchase, None if it was not charged."""
        if not self._charged().may_hold(purchase_id):
            return None  # a new purchase, nearly always: no SQL
        self._db.write_deferred()  # `record` defers its row
        row = self._db.conn.execute("SELECT reply FROM purchases WHERE purchase_id=?",
                                    (purchase_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def record(self, purchase_id: str, account_id: int, product_uid: str, amount: int,
               spent: int, change: int, reply: str) -> None:
        """Written with the transaction's other purchases, in one statement just before
        COMMIT (`Database.defer`): the reply leaves only after that COMMIT anyway.
        `reply` is the reply's JSON text (vending/jsontext.py `compact`)."""
        self._charged().add(purchase_id)
        self._db.defer(
            "INSERT INTO purchases(purchase_id, account_id, product_uid, amount, spent, change,"
            " reply, at)",
            (purchase_id, account_id, product_uid, amount, spent, change, reply,
             self._clock()))

    def _charged(self) -> KeySet:
        return self._db.keyset("SELECT purchase_id FROM purchases")

    def _fences(self) -> KeySet:
        return self._db.keyset("SELECT purchase_id FROM aborted")

    def fenced(self, purchase_id: str) -> bool:
        return self._fences().may_hold(purchase_id) and self._db.conn.execute(
            "SELECT 1 FROM aborted WHERE purchase_id=?", (purchase_id,)).fetchone() is not None

    def fence(self, purchase_id: str) -> None:
        self._fences().add(purchase_id)
        self._db.conn.execute("INSERT OR IGNORE INTO aborted VALUES(?,?)",
                              (purchase_id, self._clock()))

    def expire(self, before: float) -> None:
        self._db.write_deferred()
        for table, keys in (("purchases", self._charged()), ("aborted", self._fences())):
            if self._db.conn.execute(f"DELETE FROM {table} WHERE at < ?", (before,)).rowcount:
                keys.shrink()
