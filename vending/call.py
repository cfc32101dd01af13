"""One request as a rule sees it: the checked request, and what its path found out.

The owner's controller (vending/gate.py, vending/stock.py) builds a `Call` and
hands it to the rule its op's row names (vending/ops.py). Which fields are set
depends on the row's path: `me` for session ops the gatekeeper answers, `who`
for stock ops the gatekeeper has authorized, `pid` for a purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .records import quick_init

if TYPE_CHECKING:
    from .authority import Grant
    from .requests import Request
    from .sessions import Session
    from .users import User

__all__ = ["Call", "Me", "account_scope"]


def account_scope(account_id: int) -> str:
    """The idempotency scope of everything done in a session of `account_id`
    (account ids are never reused: a re-registered username starts afresh)."""
    return f"a:{account_id}"


@quick_init
@dataclass(frozen=True, slots=True)
class Me:
    """The caller of a session op: its session (live), its account, its reply scope."""

    session: Session
    user: User

    @property
    def scope(self) -> str:
        return account_scope(self.session.account_id)


@quick_init
@dataclass(frozen=True, slots=True)
class Call:
    req: Request
    peer: str | None = None     # the client's address (the login throttle counts by it)
    wsess_uid: str = ""         # auth: the session the front door allotted the request
    me: Me | None = None        # set by the gatekeeper's session path
    who: Grant | None = None    # set on the stock handler's authorize path
    pid: str = ""               # buy: the purchase id

    def by(self, me: Me) -> Call:
        """This call as a session op's rule gets it: the request, its address, and the
        caller the session path found."""
        return Call(self.req, self.peer, me=me)

    @property
    def args(self) -> Any:
        return self.req.args

    @property
    def caller(self) -> Me:
        """The caller found by the session path (a rule of a session op only)."""
        assert self.me is not None, f"{self.req.op} was not called through the session path"
        return self.me

    @property
    def grant(self) -> Grant:
        """The gatekeeper's grant (a rule on the authorize path only)."""
        assert self.who is not None, f"{self.req.op} was not authorized by the gatekeeper"
        return self.who
