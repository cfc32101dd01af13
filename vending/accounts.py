"""The gatekeeper's controller: users, sessions (`auths`), deposits and purges.

`Accounts` is the facade the gatekeeper actor drives. The wallet's rules live in
vending/wallet.py, the purchase's (charge, resolve) in vending/purchase.py; the
replay policy in vending/idempotency.py.

`auth` (register, login, their replays) is `vending.login`'s; this class is its
entry point and keeps the wallet, the purchase charge and account deletion.
Every public method runs inside a transaction opened by its caller, and either
returns a final reply or a `CryptoJob`: argon2 work to be done off the message
loop, whose result is then handed to `job.finish` in a later transaction.
State may change between the two halves, so `finish` checks everything again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import credentials, limits
from .authority import Authorized
from .db import Database
from .errors import (
    BuyersOnly,
    ClientError,
    InvalidCredentials,
    SellersOnly,
    Unauthorized,
)
from .events import SCHEMA as EVENTS_SCHEMA
from .events import EventLog
from .idempotency import SCHEMA as IDEM_SCHEMA
from .idempotency import IdempotencyStore, Record
from .known import SCHEMA as KNOWN_SCHEMA
from .login import Login, auth_scope, seller_uid
from .outcome import CryptoJob, Outcome, catching, ok
from .requests import STATE_CHANGING_OPS, Request
from .sessions import SCHEMA as SESSION_SCHEMA
from .sessions import Session, SessionPolicy, SessionStore
from .throttle import LoginThrottle
from .users import User, find_user
from .wallet import Wallet

__all__ = ["SCHEMA", "Accounts", "CryptoJob", "Outcome"]

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS users(
  account_id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_uid TEXT NOT NULL UNIQUE, username TEXT NOT NULL,
  role TEXT NOT NULL CHECK(role IN ('buyer', 'seller')), pw_hash TEXT NOT NULL,
  deposit INTEGER NOT NULL DEFAULT 0 CHECK(deposit BETWEEN 0 AND {limits.DEPOSIT_MAX}),
  deposited INTEGER NOT NULL DEFAULT 0, spent INTEGER NOT NULL DEFAULT 0,
  returned INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL,
  -- conservation, checked by SQLite on every write: money in = held + spent + given back
  CHECK(deposited = deposit + spent + returned));
CREATE TABLE IF NOT EXISTS purchases(
  purchase_id TEXT PRIMARY KEY, account_id INTEGER NOT NULL, product_uid TEXT NOT NULL,
  amount INTEGER NOT NULL, spent INTEGER NOT NULL, change INTEGER NOT NULL,
  reply TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS aborted(purchase_id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS purges(account_id INTEGER PRIMARY KEY, user_uid TEXT NOT NULL);
{SESSION_SCHEMA}
{KNOWN_SCHEMA}
{IDEM_SCHEMA}
{EVENTS_SCHEMA}
"""


@dataclass
class Accounts:
    db: Database
    policy: SessionPolicy = field(default_factory=SessionPolicy)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    clock: Callable[[], float] = time.time
    idem_ttl: float = 48 * 3600.0

    def __post_init__(self) -> None:
        self.sessions = SessionStore(self.db, self.policy)
        self.idem = IdempotencyStore(self.db)
        self.events = EventLog(self.db, "gatekeeper", self.clock, self.idem_ttl)
        self.wallet = Wallet(self.db, self.events)
        self.login = Login(self.db, self.sessions, self.idem, self.throttle, self.clock,
                           self.events)

    # -- lookups ---------------------------------------------------------
    def _session(self, req: Request) -> Session:
        sess = self.sessions.find(req.wsess_uid, req.token, self.clock())
        if sess is None:
            raise Unauthorized("token is unknown or was not issued with this wsess_uid")
        return sess

    def caller(self, req: Request, keyed: bool = True) -> tuple[Session, str, Record | None]:
        """The caller's session (live or not), its idempotency scope, and the record of
        an earlier request under the same req_id (`keyed`: look one up).

        Raises:
            Unauthorized: the token is unknown or not this wsess_uid's.
            BadRequest: the req_id was used for a different request.
        """
        sess = self._session(req)
        scope = f"a:{sess.account_id}"
        rec = self.idem.lookup(scope, req.req_id, req.fingerprint()) if keyed else None
        return sess, scope, rec

    def live_user(self, sess: Session) -> User:
        if not sess.live:
            raise Unauthorized("session has ended or expired")
        user = find_user(self.db, account_id=sess.account_id)
        if user is None:
            raise Unauthorized("account no longer exists")
        return user

    def _final(self, scope: str, req: Request, run: Callable[[], Outcome]) -> Outcome:
        """Run a rule once per req_id and keep its reply (vending/idempotency.py's policy)."""
        outs: list[Outcome] = []

        def rule() -> dict[str, Any]:
            outs.append(run())
            return outs[-1].reply

        # A wrong password for delete_user applied nothing, and the password is no part of the
        # fingerprint (a fast hash of it would be stored), so a corrected retry runs.
        unkept = ("INVALID_CREDENTIALS",) if req.op == "delete_user" else ()
        reply = self.idem.run_once(scope, req, rule, self.clock(), unkept=unkept)
        return outs[0] if outs else Outcome(reply)

    # -- auth ------------------------------------------------------------
    def auth(self, req: Request, wsess_uid: str, peer: str | None) -> Outcome | CryptoJob:
        """Register or log in (`vending.login`). Raises BadRequest for a reused req_id."""
        return self.login.auth(req, wsess_uid, peer)

    # -- ops in a session --------------------------------------------------
    def session_op(self, req: Request, peer: str | None = None) -> Outcome | CryptoJob:
        """deposit, reset, profile, logout, logout_all, delete_user.

        `peer` is the client's source address: delete_user checks a password, so its
        failures are counted by the login throttle on that address.
        """
        sess, scope, rec = self.caller(req, keyed=req.op in STATE_CHANGING_OPS)
        if rec is not None and rec.reply is not None:
            ends = req.op in ("logout", "logout_all", "delete_user")
            return Outcome(rec.reply, ended=ends or not sess.live)
        user = self.live_user(sess)
        if req.op == "delete_user":
            refused = self.login.refused(user.user_uid, peer)
            if refused is not None:
                return refused
            return self._delete_user_job(req, user, peer)
        if req.op == "profile":
            return Outcome(ok(user_uid=user.user_uid, username=user.username, role=user.role,
                               deposit=user.deposit, active_sessions=self.sessions.live_count(
                                   user.account_id, self.clock(), excluding=sess.wsess_uid)))
        rule = {"deposit": self._deposit, "reset": self._reset, "logout": self._logout,
                "logout_all": self._logout_all}[req.op]
        return self._final(scope, req, lambda: rule(req, sess, user))

    def _deposit(self, req: Request, sess: Session, user: User) -> Outcome:
        return Outcome(self.wallet.deposit(user, req.args["amount"]))

    def _reset(self, req: Request, sess: Session, user: User) -> Outcome:
        return Outcome(self.wallet.reset(user))

    def _logout(self, req: Request, sess: Session, user: User) -> Outcome:
        self.sessions.end(sess.wsess_uid, self.clock())
        return Outcome(ok(ended=1), ended=True)

    def _logout_all(self, req: Request, sess: Session, user: User) -> Outcome:
        count = self.sessions.end_all(user.account_id, self.clock())
        return Outcome(ok(ended=count), ended=True)

    def _delete_user_job(self, req: Request, seen: User, peer: str | None) -> CryptoJob:
        password = req.args["password"]

        def finish(verified: bool) -> Outcome:
            sess, scope, rec = self.caller(req)
            if rec is not None and rec.reply is not None:
                return Outcome(rec.reply, ended=True)
            if not sess.live:
                raise Unauthorized("session has ended or expired")
            return self._final(scope, req,
                               lambda: self._delete_user(sess, seen, verified, peer))

        return CryptoJob(lambda: credentials.verify_password(seen.pw_hash, password),
                         lambda verified: catching(lambda: finish(verified)))

    def _delete_user(self, sess: Session, seen: User, verified: bool,
                     peer: str | None) -> Outcome:
        user = find_user(self.db, account_id=sess.account_id)
        now = self.clock()
        if not verified or user is None or user.pw_hash != seen.pw_hash:
            self.login.failed(seen.user_uid, peer)
            raise InvalidCredentials("wrong password")
        self.throttle.succeeded(user.user_uid, peer)
        change = self.wallet.give_back(user)
        self.db.conn.execute("DELETE FROM users WHERE account_id=?", (user.account_id,))
        self.sessions.end_all(user.account_id, now)
        self.login.known.forget(user.account_id)
        # Its login replies too: a new account under this user_uid starts with no keys.
        self.idem.forget(auth_scope(user.user_uid))
        purge = None
        self.events.emit("user_deleted", role=user.role, change=change,
                         **seller_uid(user.role, user.user_uid))
        if user.role == "seller":
            self.db.conn.execute("INSERT OR IGNORE INTO purges(account_id, user_uid) VALUES(?,?)",
                                 (user.account_id, user.user_uid))
            purge = (user.account_id, user.user_uid)
        return Outcome(ok(user_uid=user.user_uid, change=change),
                       ended=True, purge=purge)

    # -- asked by the stock handler ----------------------------------------
    def authorize(self, req: Request, role: str) -> Authorized | Outcome:
        """Validate role for a stock op; claim its req_id for this account."""
        try:
            sess, scope, rec = self.caller(req)
        except ClientError as exc:
            return Outcome(exc.to_reply())
        if rec is not None and rec.reply is not None:
            return Outcome(rec.reply)
        if not sess.live:
            if rec is not None:
                return Authorized(sess.account_id, sess.user_uid, replay_only=True)
            return Outcome(Unauthorized("session has ended or expired").to_reply())
        if sess.role != role:
            error = SellersOnly("only sellers can do this") if role == "seller" else BuyersOnly(
                "only buyers can do this")
            return self._final(scope, req, lambda: Outcome(error.to_reply()))
        if rec is None:
            self.idem.store(scope, req.req_id, req.fingerprint(), None, self.clock())
        return Authorized(sess.account_id, sess.user_uid)

    # -- purchase records: storage for vending/purchase.py ----------------------
    def purchase_reply(self, purchase_id: str) -> dict[str, Any] | None:
        """The reply of a charged purchase, None if it was not charged."""
        row = self.db.conn.execute("SELECT reply FROM purchases WHERE purchase_id=?",
                                   (purchase_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def record_purchase(self, purchase_id: str, account_id: int, req: Request, spent: int,
                        change: int, reply: dict[str, Any]) -> None:
        self.db.conn.execute(
            "INSERT INTO purchases VALUES(?,?,?,?,?,?,?,?)",
            (purchase_id, account_id, req.args["product_uid"], req.args["amount"], spent,
             change, json.dumps(reply), self.clock()))

    def fenced(self, purchase_id: str) -> bool:
        return self.db.conn.execute("SELECT 1 FROM aborted WHERE purchase_id=?",
                                    (purchase_id,)).fetchone() is not None

    def fence(self, purchase_id: str) -> None:
        self.db.conn.execute("INSERT OR IGNORE INTO aborted VALUES(?,?)",
                             (purchase_id, self.clock()))

    # -- upkeep ------------------------------------------------------------
    def pending_purges(self) -> list[tuple[int, str]]:
        return [(int(a), str(u)) for a, u in
                self.db.conn.execute("SELECT account_id, user_uid FROM purges")]

    def purge_done(self, account_id: int) -> None:
        self.db.conn.execute("DELETE FROM purges WHERE account_id=?", (account_id,))

    def housekeeping(self) -> None:
        now = self.clock()
        self.sessions.expire(now)
        self.login.known.expire(now)
        self.idem.expire(now - self.idem_ttl)
        self.events.housekeeping()
        for table in ("purchases", "aborted"):
            self.db.conn.execute(f"DELETE FROM {table} WHERE at < ?", (now - self.idem_ttl,))

    def totals(self) -> dict[str, dict[str, int]]:
        """Per buyer: deposited, deposit, spent, returned (for conservation checks)."""
        rows = self.db.conn.execute(
            "SELECT user_uid, deposited, deposit, spent, returned FROM users WHERE role='buyer'")
        return {r[0]: {"deposited": r[1], "deposit": r[2], "spent": r[3], "returned": r[4]}
                for r in rows}
