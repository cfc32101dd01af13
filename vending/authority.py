"""Who is asking: the gatekeeper's answer to "validate role", shared by both owners.

The gatekeeper (`Accounts.authorize`) checks a session and its role; the stock
handler (`Stock.sell`, `Stock.delete_product`) acts on the answer. Neither owner
imports the other's module for it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Authorized"]


@dataclass(frozen=True)
class Authorized:
    """A session of `account_id` may do a stock op in the role it was asked about."""

    account_id: int
    user_uid: str
    replay_only: bool = False  # session ended: only a stored reply may be given
