"""Who is asking: the gatekeeper's answer to "may this caller do this stock op".

The gatekeeper (`Gate.authorize`, vending/gate.py) checks a session and the role
its op's row asks for; the stock handler's rules (vending/stock_rules.py) act on
the `Grant`. Neither owner imports the other's module for it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Grant"]


@dataclass(frozen=True, slots=True)
class Grant:
    """A session of `account_id` may do a stock op in the role its row asks for."""

    account_id: int
    user_uid: str
    replay_only: bool = False  # session ended: only a stored reply may be given
