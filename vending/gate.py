"""The gatekeeper's controller: its parts, and its paths from a request to a rule.

The gatekeeper owns users, sessions (`auths`), deposits, the purchase book and
pending purges. Each part has one job and its own module:

* `SessionStore` (vending/sessions.py), `Callers` (vending/callers.py: who is asking);
* `Replies` (vending/idempotency.py: replay, refuse or run);
* `Wallet` (vending/wallet.py), `PurchaseBook` (vending/purchase_book.py),
  `PurgeQueue` (vending/purges.py), `EventLog` (vending/events.py);
* `Login` (vending/login.py: register, log in, replay a login).

`Gate` assembles them and is what the gatekeeper actor, the baseline and the rules
tests drive: `answer` runs the rule an op's row names (vending/ops.py), by the
row's path; `authorize`, `charge` and `resolve` answer the stock handler. Every
method runs on the owner's thread, inside a transaction opened by its caller, and
returns a final reply or a `CryptoJob`: argon2 work to be done off the message
loop, whose result is handed to `job.finish` in a later transaction. State may
change between the two halves, so `finish` checks everything again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import limits, purchase
from .authority import Grant
from .call import Call, Me, account_scope
from .callers import Callers, may_call
from .credentials import Credentials, system
from .db import Database
from .errors import BadRequest, ClientError, Unauthorized
from .events import DROP_AT_INDEX, EventLog
from .events import SCHEMA as EVENTS_SCHEMA
from .history import SCHEMA as HISTORY_SCHEMA
from .history import History
from .idempotency import SCHEMA_V1 as IDEM_SCHEMA_V1
from .idempotency import TO_LOG as IDEM_TO_LOG
from .idempotency import Replay, Replies
from .known import SCHEMA as KNOWN_SCHEMA
from .login import Login
from .ops import TABLE
from .outcome import CryptoJob, Outcome, PasswordCheck, catching
from .purchase_book import SCHEMA as PURCHASES_SCHEMA
from .purchase_book import PurchaseBook
from .purges import SCHEMA as PURGES_SCHEMA
from .purges import PurgeQueue
from .requests import Request
from .schema import Migration, Schema
from .sessions import SCHEMA as SESSION_SCHEMA
from .sessions import SessionPolicy, SessionStore
from .sources import SYSTEM_CLOCK
from .throttle import LoginThrottle
from .wallet import Wallet

__all__ = ["SCHEMA", "Gate"]

#: Version 1: release 26aa1c3's tables, exactly (vending/schema.py). Never edited:
#: a change is a migration appended to SCHEMA.
_V1 = f"""
CREATE TABLE IF NOT EXISTS users(
  account_id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_uid TEXT NOT NULL UNIQUE, username TEXT NOT NULL,
  role TEXT NOT NULL CHECK(role IN ('buyer', 'seller')), pw_hash TEXT NOT NULL,
  deposit INTEGER NOT NULL DEFAULT 0 CHECK(deposit BETWEEN 0 AND {limits.DEPOSIT_MAX}),
  deposited INTEGER NOT NULL DEFAULT 0, spent INTEGER NOT NULL DEFAULT 0,
  returned INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL,
  -- conservation, checked by SQLite on every write: money in = held + spent + given back
  CHECK(deposited = deposit + spent + returned));
{PURCHASES_SCHEMA}
{PURGES_SCHEMA}
{SESSION_SCHEMA}
{IDEM_SCHEMA_V1}
{EVENTS_SCHEMA}
"""

SCHEMA = Schema("gatekeeper.sqlite3", _V1, (
    Migration("history: each account's deposits, purchases, resets and sales", HISTORY_SCHEMA),
    Migration("known addresses: where each account logged in from", KNOWN_SCHEMA),
    Migration("fewer pages a purchase: kept replies as a log, events expire by seq",
              IDEM_TO_LOG + DROP_AT_INDEX),
))


@dataclass
class Gate:
    db: Database
    policy: SessionPolicy = field(default_factory=SessionPolicy)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    clock: Callable[[], float] = SYSTEM_CLOCK.time
    idem_ttl: float = 48 * 3600.0
    #: Password hashes, tokens and seals (the simulator's are seeded and cheap).
    credentials: Credentials = field(default_factory=system)

    def __post_init__(self) -> None:
        self.sessions = SessionStore(self.db, self.policy)
        self.callers = Callers(self.db, self.sessions, self.clock)
        self.replies = Replies(self.db, self.clock)
        self.events = EventLog(self.db, "gatekeeper", self.clock, self.idem_ttl)
        self.history = History(self.db, self.clock)
        self.wallet = Wallet(self.db, self.events, self.history)
        self.book = PurchaseBook(self.db, self.clock)
        self.purges = PurgeQueue(self.db)
        self.login = Login(self.db, self.sessions, self.replies, self.throttle, self.clock,
                           self.events, self.credentials)
        self.till = purchase.Till(self.book, self.wallet, self.events, self.in_session,
                                  self.history)

    # -- the paths to a rule --------------------------------------------------------
    def answer(self, call: Call) -> Outcome | CryptoJob:
        """A client op the gatekeeper owns: its row's rule, by its row's path.

        Raises:
            Unauthorized: the token is unknown or not this wsess_uid's.
            BadRequest: the req_id was used for a different request.
        """
        row = TABLE[call.req.op]
        if row.owner not in ("gatekeeper", "source"):
            raise BadRequest(f"{call.req.op!r} is not a gatekeeper op")
        if not row.session:
            answer: Outcome | CryptoJob = row.rule(self, call)  # auth, events
            return answer
        if row.password:
            return self._with_password(call)
        return self.in_session(call, lambda call: row.rule(self, call))

    def in_session(self, call: Call, rule: Callable[[Call], Outcome]) -> Outcome:
        """The session path: who is asking, replay or run, may the caller's role call
        the op (its row's `caller`), then `rule(call)` once.

        Raises:
            Unauthorized: no such session, or it is no longer live.
            BadRequest: the req_id was used for a different request.
        """
        req, row = call.req, TABLE[call.req.op]
        sess = self.callers.session(req)
        scope = account_scope(sess.account_id)
        kept = self.replies.kept(scope, req)
        if kept is not None:
            return self._replayed(req, kept, live=sess.live)
        me = Me(sess, self.callers.live_user(sess))

        def run() -> Outcome:
            may_call(row, me.user.role)
            return rule(call.by(me))
        return self.replies.run(scope, req, run)

    def _with_password(self, call: Call) -> Outcome | CryptoJob:
        """The session path of an op with password work (delete_user): throttled first,
        the work off the loop, then the path again before the rule's second half."""
        req, row = call.req, TABLE[call.req.op]
        sess = self.callers.session(req)
        kept = self.replies.kept(account_scope(sess.account_id), req)
        if kept is not None:
            return self._replayed(req, kept, live=sess.live)
        me = Me(sess, self.callers.live_user(sess))
        may_call(row, me.user.role)
        refused = self.login.refused(me.user.user_uid, call.peer)
        if refused is not None:
            return refused
        check: PasswordCheck = row.rule(self, call.by(me))

        def finish(result: Any) -> Outcome:
            sess = self.callers.session(req)
            scope = account_scope(sess.account_id)
            kept = self.replies.kept(scope, req)
            if kept is not None:
                return self._replayed(req, kept, live=sess.live)
            if not sess.live:
                raise Unauthorized("session has ended or expired")
            return self.replies.run(scope, req, lambda: check.finish(result, sess))

        return CryptoJob(check.run, lambda result: catching(lambda: finish(result)))

    @staticmethod
    def _replayed(req: Request, kept: Replay, *, live: bool) -> Outcome:
        return Outcome(kept.reply, ended=TABLE[req.op].ends_session or not live)

    # -- asked by the stock handler ----------------------------------------------------
    def authorize(self, req: Request) -> Grant | Outcome:
        """May this session call a stock op on the `authorize` path (its row's `caller`)?
        Claims its req_id in the account's scope."""
        try:
            sess = self.callers.session(req)
            scope = account_scope(sess.account_id)
            kept = self.replies.check(scope, req)
        except ClientError as exc:
            return Outcome(exc.to_reply())
        if isinstance(kept, Replay):
            return Outcome(kept.reply)
        if not sess.live:
            if kept is not None:
                return Grant(sess.account_id, sess.user_uid, replay_only=True)
            return Outcome(Unauthorized("session has ended or expired").to_reply())
        row = TABLE[req.op]
        try:
            may_call(row, sess.role)
        except ClientError as exc:
            refusal = exc
            return self.replies.run(scope, req, lambda: _raise(refusal))
        if kept is None:
            self.replies.claim(scope, req)
        return Grant(sess.account_id, sess.user_uid)

    def charge(self, step: purchase.ChargeStep) -> purchase.ChargeResult:
        return purchase.charge(self.till, step)

    def resolve(self, pid: str) -> purchase.Resolution:
        return purchase.resolve(self.book, pid)

    # -- upkeep ------------------------------------------------------------------------
    def housekeeping(self) -> None:
        now = self.clock()
        self.sessions.expire(now)
        self.login.known.expire(now)
        self.replies.expire(now - self.idem_ttl)
        self.events.housekeeping()
        self.history.housekeeping()
        self.book.expire(now - self.idem_ttl)

    def totals(self) -> dict[str, dict[str, int]]:
        """Per buyer: deposited, deposit, spent, returned (for conservation checks)."""
        rows = self.db.conn.execute(
            "SELECT user_uid, deposited, deposit, spent, returned FROM users WHERE role='buyer'")
        return {r[0]: {"deposited": r[1], "deposit": r[2], "spent": r[3], "returned": r[4]}
                for r in rows}


def _raise(exc: ClientError) -> Outcome:
    raise exc
