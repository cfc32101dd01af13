"""The seed's `auths`: sessions, stored by `wsess_uid` with a hash of the token.

A session is live until it is ended (logout, logout_all, delete_user, evicted
past the per-account bound) or expires: idle longer than `idle`, or older than
`max_age`. Ended rows are kept for `keep_ended` so a retried logout can still
be recognised and answered with its first reply.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .credentials import hash_token
from .records import quick_init

if TYPE_CHECKING:
    from .db import Database

__all__ = ["SCHEMA", "Session", "SessionPolicy", "SessionStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions(
  wsess_uid TEXT PRIMARY KEY, account_id INTEGER NOT NULL, user_uid TEXT NOT NULL,
  role TEXT NOT NULL, token_hash BLOB NOT NULL,
  created REAL NOT NULL, last_seen REAL NOT NULL, ended REAL);
CREATE INDEX IF NOT EXISTS sessions_account ON sessions(account_id, ended);
CREATE INDEX IF NOT EXISTS sessions_ended ON sessions(ended);
"""


_COLUMNS = ("account_id", "user_uid", "role", "token_hash", "created", "last_seen", "ended")


@dataclass(frozen=True)
class SessionPolicy:
    idle: float = 1800.0
    max_age: float = 7 * 24 * 3600.0
    per_account: int = 32
    keep_ended: float = 48 * 3600.0
    #: last_seen is written at most this often per session, so reads stay reads.
    touch_every: float = 5.0


@quick_init
@dataclass(frozen=True, slots=True)
class Session:
    wsess_uid: str
    account_id: int
    user_uid: str
    role: str
    live: bool


class SessionStore:
    def __init__(self, db: Database, policy: SessionPolicy) -> None:
        self._db = db
        self.policy = policy

    def _live_sql(self, now: float) -> tuple[str, tuple[float, float]]:
        return ("ended IS NULL AND last_seen >= ? AND created >= ?",
                (now - self.policy.idle, now - self.policy.max_age))

    def find(self, wsess_uid: str, token: str, now: float) -> Session | None:
        """The session if `token` was issued with `wsess_uid`, live or not (from
        memory: the `sessions` table's mirror, vending/db.py)."""
        row: Any = self._db.mirror("sessions", "wsess_uid", _COLUMNS).get(wsess_uid)
        if row is None or not hmac.compare_digest(row[3], hash_token(token)):
            return None
        live = (row[6] is None and now - row[5] <= self.policy.idle
                and now - row[4] <= self.policy.max_age)
        # Skipped while storage is failing: a touch must not fail the read it rides on.
        if live and now - row[5] >= self.policy.touch_every and self._db.optional_writes:
            self._db.conn.execute("UPDATE sessions SET last_seen=? WHERE wsess_uid=?",
                                  (now, wsess_uid))
        return Session(wsess_uid, row[0], row[1], row[2], live)

    def live_count(self, account_id: int, now: float, excluding: str = "") -> int:
        cond, args = self._live_sql(now)
        return int(self._db.conn.execute(
            f"SELECT count(*) FROM sessions WHERE account_id=? AND wsess_uid != ? AND {cond}",
            (account_id, excluding, *args)).fetchone()[0])

    def live_total(self, now: float) -> int:
        """Live sessions of every account (the `health` op)."""
        cond, args = self._live_sql(now)
        return int(self._db.conn.execute(f"SELECT count(*) FROM sessions WHERE {cond}",
                                         args).fetchone()[0])

    def create(self, wsess_uid: str, token: str, account_id: int, user_uid: str, role: str,
               now: float, live: int) -> None:
        """Start a session, ending the least recently used ones past the bound.
        `live`: the account's live sessions now, as the caller has read them
        (`live_count`, which a login answers with; 0 for a new account)."""
        surplus = live - self.policy.per_account + 1
        if surplus > 0:
            cond, args = self._live_sql(now)
            self._db.conn.execute(
                f"UPDATE sessions SET ended=? WHERE wsess_uid IN (SELECT wsess_uid FROM sessions"
                f" WHERE account_id=? AND {cond} ORDER BY last_seen LIMIT ?)",
                (now, account_id, *args, surplus))
        self._db.conn.execute(
            "INSERT INTO sessions(wsess_uid, account_id, user_uid, role, token_hash, created,"
            " last_seen) VALUES(?,?,?,?,?,?,?)",
            (wsess_uid, account_id, user_uid, role, hash_token(token), now, now))

    def end(self, wsess_uid: str, now: float) -> None:
        self._db.conn.execute("UPDATE sessions SET ended=? WHERE wsess_uid=? AND ended IS NULL",
                              (now, wsess_uid))

    def end_all(self, account_id: int, now: float, excluding: str = "") -> int:
        """End the account's live sessions but `excluding`'s; how many ended."""
        cond, args = self._live_sql(now)
        return self._db.conn.execute(
            f"UPDATE sessions SET ended=? WHERE account_id=? AND wsess_uid != ? AND {cond}",
            (now, account_id, excluding, *args)).rowcount

    def expire(self, now: float) -> int:
        """Forget sessions ended, idle or too old for longer than `keep_ended`."""
        horizon = now - self.policy.keep_ended
        return self._db.conn.execute(
            "DELETE FROM sessions WHERE ended < ? OR last_seen < ? OR created < ?",
            (horizon, horizon - self.policy.idle, horizon - self.policy.max_age)).rowcount
