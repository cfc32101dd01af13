"""The buyer's wallet: coins in (`deposit`), everything back (`reset`), and the
money moves of a purchase and of a deleted account.

Every write keeps the `users` conservation CHECK true:
deposited = deposit + spent + returned.
"""

from __future__ import annotations

from typing import Any

from . import limits
from .coins import COINS, make_change
from .db import Database
from .errors import WrongAmount
from .events import EventLog
from .history import History
from .jsontext import compact
from .users import User

__all__ = ["Wallet", "check_coin"]


def check_coin(deposit: int, amount: int) -> None:
    """May a coin of `amount` go into a deposit of `deposit`?

    Raises:
        WrongAmount: it is no coin, or the deposit would pass its bound.
    """
    if amount not in COINS:
        raise WrongAmount(f"amount must be a coin: {', '.join(map(str, sorted(COINS)))}")
    if deposit + amount > limits.DEPOSIT_MAX:
        raise WrongAmount(f"deposit cannot exceed {limits.DEPOSIT_MAX} cents")


class Wallet:
    """Runs inside the gatekeeper's transaction, on its thread."""

    def __init__(self, db: Database, events: EventLog, history: History) -> None:
        self._db = db
        self._events = events
        self._history = history

    # -- rules ---------------------------------------------------------------
    def deposit(self, user: User, amount: int) -> dict[str, Any]:
        """Add one coin to a buyer's deposit (the `deposit` row lets only buyers call it)."""
        check_coin(user.deposit, amount)
        self._db.conn.execute("UPDATE users SET deposit=deposit+?, deposited=deposited+?"
                              " WHERE account_id=?", (amount, amount, user.account_id))
        coin = {"amount": amount}
        text = compact(coin)  # once: the event's body and the history entry's are the same
        self._events.emit_text("deposit", coin, text)
        self._history.add_text(user.account_id, "deposit", text)
        return {"ok": True, "deposit": user.deposit + amount}

    def reset(self, user: User) -> dict[str, Any]:
        """Give a buyer's whole deposit back as change."""
        change = self.give_back(user)
        self._events.emit("reset", change=change)
        self._history.add(user.account_id, "reset", change=change)
        return {"ok": True, "change": change, "deposit": 0}

    # -- money moves for other rules -------------------------------------------
    def give_back(self, user: User) -> list[int]:
        """Empty the deposit into `returned`; the coins handed back."""
        self._db.conn.execute("UPDATE users SET deposit=0, returned=returned+? WHERE account_id=?",
                              (user.deposit, user.account_id))
        return make_change(user.deposit)

    def spend(self, user: User, total: int) -> None:
        """A purchase: `total` of the deposit is spent, the rest given back."""
        self._db.conn.execute("UPDATE users SET deposit=0, spent=spent+?, returned=returned+?"
                              " WHERE account_id=?", (total, user.deposit - total, user.account_id))
