"""Who is asking: a request's session, its account, and whether its role may call the op.

`may_call` is where "who may call this op" is decided, from the op's row
(`Op.caller`, vending/ops.py). Runs on the gatekeeper's thread.
"""

from __future__ import annotations

from collections.abc import Callable

from .db import Database
from .errors import BuyersOnly, SellersOnly, Unauthorized
from .ops import Op
from .requests import Request
from .sessions import Session, SessionStore
from .users import User, find_user

__all__ = ["Callers", "may_call"]


def may_call(row: Op, role: str) -> None:
    """Raises BuyersOnly or SellersOnly when a caller of `role` may not call `row`'s op."""
    if row.caller == "buyer" and role != "buyer":
        raise BuyersOnly(f"only buyers can {row.verb}")
    if row.caller == "seller" and role != "seller":
        raise SellersOnly(f"only sellers can {row.verb}")


class Callers:
    def __init__(self, db: Database, sessions: SessionStore,
                 clock: Callable[[], float]) -> None:
        self._db = db
        self._sessions = sessions
        self._clock = clock

    def session(self, req: Request) -> Session:
        """The request's session, live or not.

        Raises:
            Unauthorized: the token is unknown or not this wsess_uid's.
        """
        sess = self._sessions.find(req.wsess_uid, req.token, self._clock())
        if sess is None:
            raise Unauthorized("token is unknown or was not issued with this wsess_uid")
        return sess

    def live_user(self, sess: Session) -> User:
        """The account behind a live session. Raises Unauthorized if there is none."""
        if not sess.live:
            raise Unauthorized("session has ended or expired")
        user = find_user(self._db, account_id=sess.account_id)
        if user is None:
            raise Unauthorized("account no longer exists")
        return user
