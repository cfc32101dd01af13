"""The rules of the gatekeeper's session ops: profile, logout, logout_all,
delete_user, deposit, reset.

Each is `rule(gate, call)`, named by its op's row (vending/ops.py). The gatekeeper's
session path (`Gate.in_session`, vending/gate.py) has already found the caller
(`call.caller`), decided replay or run, and checked that the caller's role may
call the op; what a rule returns or raises is kept by vending/idempotency.py's
policy. Runs on the gatekeeper's thread, inside its transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import InvalidCredentials
from .limits import HISTORY_LIMIT_DEFAULT
from .login import seller_uid
from .outcome import Outcome, PasswordCheck, ok
from .users import find_user

if TYPE_CHECKING:
    from .call import Call
    from .gate import Gate
    from .sessions import Session
    from .users import User

__all__ = ["change_password", "delete_user", "deposit", "history", "logout", "logout_all",
           "profile", "reset"]


def profile(gate: Gate, call: Call) -> Outcome:
    me = call.caller
    user = me.user
    return Outcome(ok(user_uid=user.user_uid, username=user.username, role=user.role,
                      deposit=user.deposit, active_sessions=gate.sessions.live_count(
                          user.account_id, gate.clock(), excluding=me.session.wsess_uid)))


def history(gate: Gate, call: Call) -> Outcome:
    """The caller's own entries, newest first (vending/history.py)."""
    return Outcome(gate.history.page(call.caller.user.account_id, call.args.get("before"),
                                     call.args.get("limit", HISTORY_LIMIT_DEFAULT)))


def deposit(gate: Gate, call: Call) -> Outcome:
    return Outcome(gate.wallet.deposit(call.caller.user, call.args["amount"]))


def reset(gate: Gate, call: Call) -> Outcome:
    return Outcome(gate.wallet.reset(call.caller.user))


def logout(gate: Gate, call: Call) -> Outcome:
    gate.sessions.end(call.caller.session.wsess_uid, gate.clock())
    return Outcome(ok(ended=1), ended=True)


def logout_all(gate: Gate, call: Call) -> Outcome:
    count = gate.sessions.end_all(call.caller.user.account_id, gate.clock())
    return Outcome(ok(ended=count), ended=True)


def delete_user(gate: Gate, call: Call) -> PasswordCheck:
    """Check the password off the loop, then delete the account in a later transaction.

    The account must still be the one whose hash was checked; a seller's products
    go with it (`Outcome.purge`, the stock handler's part).
    """
    seen, password, peer = call.caller.user, call.args["password"], call.peer

    def finish(verified: bool, sess: Session) -> Outcome:
        user = _password_holder(gate, sess, seen, verified, peer)
        now = gate.clock()
        change = gate.wallet.give_back(user)
        gate.db.conn.execute("DELETE FROM users WHERE account_id=?", (user.account_id,))
        gate.sessions.end_all(user.account_id, now)
        gate.history.forget(user.account_id)
        gate.login.known.forget(user.account_id)
        # Its login replies too: a new account under this user_uid starts with no keys.
        gate.login.forget(user.user_uid)
        gate.events.emit("user_deleted", role=user.role, change=change,
                         **seller_uid(user.role, user.user_uid))
        purge = None
        if user.role == "seller":
            gate.purges.add(user.account_id, user.user_uid)
            purge = (user.account_id, user.user_uid)
        return Outcome(ok(user_uid=user.user_uid, change=change), ended=True, purge=purge)

    credentials = gate.credentials
    return PasswordCheck(lambda: credentials.verify_password(seen.pw_hash, password), finish)


def change_password(gate: Gate, call: Call) -> PasswordCheck:
    """Check the current password and hash the new one off the loop (one job: the hash
    only when the check passed); then, in a later transaction, set it if the account's
    hash is still the one checked (a change that raced this one wins), end the
    account's other sessions and forget its kept logins (sealed under the old one)."""
    seen, peer = call.caller.user, call.peer
    password, new_password = call.args["password"], call.args["new_password"]

    credentials = gate.credentials

    def run() -> tuple[bool, str]:
        verified = credentials.verify_password(seen.pw_hash, password)
        return verified, credentials.hash_password(new_password) if verified else ""

    def finish(result: tuple[bool, str], sess: Session) -> Outcome:
        verified, new_hash = result
        user = _password_holder(gate, sess, seen, verified, peer)
        gate.db.conn.execute("UPDATE users SET pw_hash=? WHERE account_id=?",
                             (new_hash, user.account_id))
        ended = gate.sessions.end_all(user.account_id, gate.clock(), excluding=sess.wsess_uid)
        gate.login.forget(user.user_uid)
        return Outcome(ok(ended=ended))

    return PasswordCheck(run, finish)


def _password_holder(gate: Gate, sess: Session, seen: User, verified: bool,
                     peer: str | None) -> User:
    """The session's account, if the password checked was right and the account's hash
    is still the one checked; a failure counts for the login throttle."""
    user = find_user(gate.db, account_id=sess.account_id)
    if not verified or user is None or user.pw_hash != seen.pw_hash:
        gate.login.failed(seen.user_uid, peer)
        raise InvalidCredentials("wrong password")
    gate.throttle.succeeded(user.user_uid, peer)
    return user
