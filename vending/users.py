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


def find_user(db: Database, *, user_uid: str | None = None,
              account_id: int | None = None) -> User | None:
    """The account with this `user_uid` (or else `account_id`), None if there is none."""
    col, val = ("user_uid", user_uid) if user_uid is not None else ("account_id", account_id)
    row = db.conn.execute(
        "SELECT account_id, user_uid, username, role, pw_hash, deposit FROM users"
        f" WHERE {col}=?", (val,)).fetchone()
    return User(*row) if row else None
