"""Known addresses: where an account's owner logged in from lately.

An address that logged in to (or registered) an account successfully within
`KNOWN_FOR` (30 days) is exempt from that account's failure count over all addresses
(vending/throttle.py): a spray from many addresses can lock the account-wide
key, never the owner at an address it used before (docs/protocol.md,
RATE_LIMITED). Kept durably in gatekeeper.sqlite3, at most `PER_ACCOUNT`
addresses per account, the least recently used dropped first. Runs in the
thread that owns the accounts database, inside its caller's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import Database

__all__ = ["KNOWN_FOR", "PER_ACCOUNT", "SCHEMA", "KnownAddresses"]

KNOWN_FOR = 30 * 24 * 3600.0
PER_ACCOUNT = 16

SCHEMA = """
CREATE TABLE IF NOT EXISTS known_addresses(
  account_id INTEGER NOT NULL, address TEXT NOT NULL, at REAL NOT NULL,
  PRIMARY KEY(account_id, address));
"""


class KnownAddresses:
    def __init__(self, db: Database) -> None:
        self.db = db

    def is_known(self, user_uid: str, address: str, now: float) -> bool:
        """`address` logged in to `user_uid`'s account within KNOWN_FOR."""
        return self.db.conn.execute(
            "SELECT 1 FROM known_addresses k JOIN users u USING(account_id)"
            " WHERE u.user_uid=? AND k.address=? AND k.at > ?",
            (user_uid, address, now - KNOWN_FOR)).fetchone() is not None

    def remember(self, account_id: int, address: str, now: float) -> None:
        """A successful login from `address`: known from now on (again)."""
        conn = self.db.conn
        if conn.execute("UPDATE known_addresses SET at=? WHERE account_id=? AND address=?",
                        (now, account_id, address)).rowcount:
            return  # known already (nearly every login): as many addresses as before
        conn.execute("INSERT INTO known_addresses VALUES(?,?,?)", (account_id, address, now))
        conn.execute("DELETE FROM known_addresses WHERE account_id=? AND address NOT IN"
                     " (SELECT address FROM known_addresses WHERE account_id=?"
                     "  ORDER BY at DESC, address LIMIT ?)",
                     (account_id, account_id, PER_ACCOUNT))

    def addresses(self, account_id: int) -> list[str]:
        """Known addresses of an account, most recent first."""
        return [str(a) for (a,) in self.db.conn.execute(
            "SELECT address FROM known_addresses WHERE account_id=? ORDER BY at DESC",
            (account_id,))]

    def forget(self, account_id: int) -> None:
        """The account is deleted: a new one under its name starts with none."""
        self.db.conn.execute("DELETE FROM known_addresses WHERE account_id=?", (account_id,))

    def expire(self, now: float) -> None:
        self.db.conn.execute("DELETE FROM known_addresses WHERE at <= ?", (now - KNOWN_FOR,))
