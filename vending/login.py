"""`auth`: registering, logging in, and replaying a login under its req_id.

Keys of `auth` requests live in the scope `u:<user_uid>` (docs/protocol.md
§4: the `user_uid` the request names). Only successful replies
are kept (the row's `kept="successes"`, vending/idempotency.py's policy), each
with its token sealed under the password (`credentials.seal`), so the database
holds no usable token and only the password opens a replay. A replay is a login
like any other: it is throttled first, and a password that does not open the seal
is a failed login (`INVALID_CREDENTIALS`, counted). `delete_user` forgets the
scope (`Login.forget`), so a username registered again starts with no keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .checks import AUTH_KINDS
from .errors import (
    DuplicateUsername,
    InvalidCredentials,
    RateLimited,
    Unavailable,
    VendingError,
)
from .events import EventLog
from .known import KnownAddresses
from .outcome import CryptoJob, Outcome, catching, ok
from .sessions import SessionStore
from .throttle import LoginThrottle
from .users import User, find_user

if TYPE_CHECKING:
    from .call import Call
    from .credentials import Credentials
    from .db import Database
    from .gate import Gate
    from .idempotency import Replay, Replies
    from .requests import Request

__all__ = ["Login", "auth", "auth_scope", "seller_uid"]

_NOTICE = "There is already an active session using your account"


def auth_scope(user_uid: str) -> str:
    return "u:" + user_uid


def seller_uid(role: str, user_uid: str) -> dict[str, str]:
    """An event's `user_uid` field: a seller's only (buyers stay anonymous)."""
    return {"user_uid": user_uid} if role == "seller" else {}


def _refused(exc: VendingError) -> Outcome:
    return Outcome(exc.to_reply())


def auth(gate: Gate, call: Call) -> Outcome | CryptoJob:
    """The `auth` op's rule: register or log in, in the session the front door allotted.

    Raises BadRequest when the req_id was used for another kind of `auth`.
    """
    return gate.login.auth(call.req, call.wsess_uid, call.peer)


class Login:
    """The `auth` rules. Runs in the thread that owns the accounts database."""

    def __init__(self, db: Database, sessions: SessionStore, replies: Replies,
                 throttle: LoginThrottle, clock: Callable[[], float],
                 events: EventLog, credentials: Credentials) -> None:
        self.db = db
        self.known = KnownAddresses(db)
        self.sessions = sessions
        self.replies = replies
        self.throttle = throttle
        self.clock = clock
        self.events = events
        self.credentials = credentials

    def auth(self, req: Request, wsess_uid: str, peer: str | None) -> Outcome | CryptoJob:
        """Raises BadRequest when the req_id was used for another kind of `auth`."""
        role, register = AUTH_KINDS[req.args["token"]]
        user_uid = f"{role}_{req.args['username']}"
        rec = self._kept(user_uid, req)
        # Before any password work: a known req_id is no way around the throttle.
        if rec is not None or not register:
            refused = self.refused(user_uid, peer)
            if refused is not None:
                return refused
        elif not self.throttle.register(peer, self.clock()):
            return _refused(RateLimited("too many registrations from your address; try"
                                        " again later"))
        if rec is not None:
            return self._replay(user_uid, req, rec, peer)
        credentials = self.credentials
        password, token = req.args["password"], credentials.new_token()
        seen = find_user(self.db, user_uid=user_uid)
        want_seal = req.req_id is not None

        def run() -> tuple[Any, bytes | None]:
            sealed = credentials.seal(token.encode(), password) if want_seal else None
            if register:
                return credentials.hash_password(password), sealed
            return credentials.verify_password(seen.pw_hash if seen else None, password), sealed

        def finish(result: tuple[Any, bytes | None]) -> Outcome:
            work, sealed = result
            if self._kept(user_uid, req) is not None:
                # The same req_id succeeded meanwhile: its retry replays that reply.
                return _refused(Unavailable("the same request is in progress; retry"))
            # A ClientError raised here is answered, not kept: a retry is judged afresh.
            out = (self._register(user_uid, req.args["username"], role, work, token,
                                  wsess_uid, peer) if register
                   else self._login(user_uid, seen, bool(work), token, wsess_uid, peer))
            return self.replies.run(auth_scope(user_uid), req, lambda: out, sealed)

        return CryptoJob(run, lambda result: catching(lambda: finish(result)))

    def refused(self, user_uid: str, peer: str | None) -> Outcome | None:
        """RATE_LIMITED when a password check for this account from `peer` must not run."""
        now, throttle = self.clock(), self.throttle
        # The account-wide key spares a known address: whether `peer` is one is read
        # only when that key alone would refuse (nearly never).
        if throttle.blocked(user_uid, peer, now, known=True) or (
                throttle.blocked(user_uid, peer, now) and not self._known(user_uid, peer, now)):
            return _refused(RateLimited("too many failed logins; try again later"))
        return None

    def failed(self, user_uid: str, peer: str | None) -> None:
        """A wrong password for `user_uid` from `peer`: counted by the throttle."""
        now = self.clock()
        self.throttle.failed(user_uid, peer, now, self._known(user_uid, peer, now))

    def succeeded(self, user_uid: str, account_id: int, peer: str | None) -> None:
        """The right password from `peer`: its failures for the account are cleared,
        and it is a known address of the account from now on."""
        self.throttle.succeeded(user_uid, peer)
        self.known.remember(account_id, peer or "local", self.clock())

    def _known(self, user_uid: str, peer: str | None, now: float) -> bool:
        return self.known.is_known(user_uid, peer or "local", now)

    def forget(self, user_uid: str) -> None:
        """The account is gone: its login replies too."""
        self.replies.forget(auth_scope(user_uid))

    def _kept(self, user_uid: str, req: Request) -> Replay | None:
        return self.replies.kept(auth_scope(user_uid), req)

    def _replay(self, user_uid: str, req: Request, rec: Replay,
                peer: str | None) -> CryptoJob:
        def finish(secret: bytes | None) -> Outcome:
            if secret is None:
                self.failed(user_uid, peer)
                return _refused(InvalidCredentials("unknown account or wrong password"))
            current = self._kept(user_uid, req)
            if current is None or current.sealed != rec.sealed:
                # The account was deleted while the seal was being opened.
                return _refused(Unavailable("the account changed meanwhile; retry"))
            user = find_user(self.db, user_uid=user_uid)
            if user is not None:
                self.succeeded(user_uid, user.account_id, peer)
            return Outcome({**rec.reply, "token": secret.decode()})

        sealed, password = rec.sealed or b"", req.args["password"]
        return CryptoJob(lambda: self.credentials.open_seal(sealed, password),
                         lambda secret: catching(lambda: finish(secret)))

    def _register(self, user_uid: str, username: str, role: str, pw_hash: str, token: str,
                  wsess_uid: str, peer: str | None) -> Outcome:
        if find_user(self.db, user_uid=user_uid) is not None:
            raise DuplicateUsername(f"{user_uid} is already registered")
        now = self.clock()
        cur = self.db.conn.execute(
            "INSERT INTO users(user_uid, username, role, pw_hash, created) VALUES(?,?,?,?,?)",
            (user_uid, username, role, pw_hash, now))
        assert cur.lastrowid is not None  # an INSERT always sets it
        self.sessions.create(wsess_uid, token, cur.lastrowid, user_uid, role, now, live=0)
        self.known.remember(cur.lastrowid, peer or "local", now)
        self.events.emit("user", role=role, **seller_uid(role, user_uid))
        return Outcome(ok(token=token, wsess_uid=wsess_uid, user_uid=user_uid, role=role,
                          deposit=0))

    def _login(self, user_uid: str, seen: User | None, verified: bool, token: str,
               wsess_uid: str, peer: str | None) -> Outcome:
        now = self.clock()
        user = find_user(self.db, user_uid=user_uid)
        # The account must still be the one whose hash was checked.
        if not verified or user is None or seen is None or user.account_id != seen.account_id:
            self.failed(user_uid, peer)
            raise InvalidCredentials("unknown account or wrong password")
        self.succeeded(user_uid, user.account_id, peer)
        others = self.sessions.live_count(user.account_id, now)
        self.sessions.create(wsess_uid, token, user.account_id, user_uid, user.role, now,
                             live=others)
        reply = ok(token=token, wsess_uid=wsess_uid, user_uid=user_uid, role=user.role,
                   deposit=user.deposit,
                   active_sessions=min(others, self.sessions.policy.per_account - 1))
        if reply["active_sessions"]:
            reply["notice"] = _NOTICE
        return Outcome(reply)
