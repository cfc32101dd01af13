"""The `users` table's row, as the gatekeeper's rules read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import Database

__all__ = ["User", "find_user"]


@dataclass
class User:
    account_id: int
    user_uid: str
    username: str
    role: str
    pw_hash: str
    deposit: int


_COLUMNS = ("account_id", "user_uid", "username", "role", "pw_hash", "deposit")


def find_user(db: Database, *, user_uid: str | None = None,
              account_id: int | None = None) -> User | None:
    """The account with this `user_uid` (or else `account_id`), None if there is none.

    By `account_id` (every request in a session) it is read from memory: the
    `users` table's mirror (vending/db.py), read from the file once.
    """
    if user_uid is None:
        row = db.mirror("users", "account_id", _COLUMNS).get(account_id)
        return User(*row) if row else None  # type: ignore[arg-type]
    found = db.conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM users WHERE user_uid=?", (user_uid,)).fetchone()
    return User(*found) if found else None
