"""The `users` table's rows, as the login and account rules read them."""

from __future__ import annotations

from dataclasses import dataclass

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
    col, val = ("user_uid", user_uid) if user_uid is not None else ("account_id", account_id)
    row = db.conn.execute(
        "SELECT account_id, user_uid, username, role, pw_hash, deposit FROM users"
        f" WHERE {col}=?", (val,)).fetchone()
    return User(*row) if row else None
