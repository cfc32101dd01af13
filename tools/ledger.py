"""A client-side ledger of acknowledged effects, checked against the server's answers.

`vending chaos` and `vending simulate` both need to know whether the server
kept its promises (docs/design.md, Guarantees). Neither may trust the server's own
totals for that, so each records what the server *acknowledged* (a reply with
`ok: true`) and, at the end, compares it with what the server *shows* now
(`profile` deposits, `products` amounts). One implementation, so both harnesses
prove the same thing.

Only acknowledged replies count: a refused request changed nothing, and a request
whose reply never came is the caller's to resolve (resend with its `req_id`)
before checking, or the check reports a mismatch it cannot explain.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from transport.client import Client, Product
from vending.errors import Unavailable, VendingError

__all__ = ["INVARIANTS", "MONEY", "NEGATIVE", "OVERSELL", "STOCK", "Ledger", "Verdict"]

MONEY = "money conservation per buyer"
STOCK = "stock conservation per product"
NEGATIVE = "nothing negative"
OVERSELL = "no oversell"
INVARIANTS = (MONEY, STOCK, NEGATIVE, OVERSELL)


@dataclass
class Verdict:
    """Problems found, per invariant (empty lists: it holds), and what was looked at."""

    problems: dict[str, list[str]] = field(default_factory=lambda: {i: [] for i in INVARIANTS})
    buyers: int = 0
    products: int = 0

    def flat(self) -> list[str]:
        return [p for name in INVARIANTS for p in self.problems[name]]


class Ledger:
    """Acknowledged deposits and payouts per buyer, units added and sold per product.

    `record` may be called from many threads at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.deposited: dict[str, int] = {}  # buyer -> coins accepted
        self.paid_out: dict[str, int] = {}   # buyer -> spent + change + reset coins
        self.added: dict[str, int] = {}      # product_uid -> units added (net of take-outs)
        self.sold: dict[str, int] = {}       # product_uid -> units bought

    def record(self, who: str, message: Mapping[str, Any],
               reply: Mapping[str, Any] | None) -> None:
        """Note the effect of `message`, sent by buyer or seller `who`, if `reply` is ok."""
        if not reply or not reply.get("ok"):
            return
        op = message.get("op")
        with self._lock:
            if op == "deposit":
                _add(self.deposited, who, message["amount"])
            elif op in ("buy", "reset"):
                _add(self.paid_out, who, reply.get("spent", 0) + sum(reply["change"]))
                if op == "buy":
                    _add(self.sold, reply["product_uid"], reply["amount"])
            elif op == "sell":
                _add(self.added, reply["product"]["product_uid"], message.get("amount", 0))

    def expected_deposits(self) -> dict[str, int]:
        """Per buyer: accepted deposits - spent - change - reset coins."""
        with self._lock:
            buyers = self.deposited.keys() | self.paid_out.keys()
            return {b: self.deposited.get(b, 0) - self.paid_out.get(b, 0) for b in buyers}

    def expected_stock(self) -> dict[str, int]:
        """Per product: units added - units sold."""
        with self._lock:
            return {uid: added - self.sold.get(uid, 0) for uid, added in self.added.items()}

    def check(self, client: Client, sessions: Mapping[str, Mapping[str, str]],
              sellers: Collection[str] | None = None) -> Verdict:
        """Compare the ledger with the server's answers now (nothing may be in flight).

        `sessions` maps each buyer to check to a live `{wsess_uid, token}` (its
        `profile` shows the deposit). Products: all the server lists, or, with
        `sellers` (seller_uids), only theirs, for a server shared with others.
        `client`'s session fields are overwritten.

        Raises:
            Unavailable: the server did not answer.
        """
        verdict = Verdict()
        money, negative = verdict.problems[MONEY], verdict.problems[NEGATIVE]
        expected = self.expected_deposits()
        for name, session in sessions.items():
            client.wsess_uid, client.token = session["wsess_uid"], session["token"]
            try:
                deposit = client.profile()["deposit"]
            except Unavailable:
                raise  # the server is gone: nothing more can be checked
            except VendingError as exc:
                money.append(f"{name}: profile refused: {exc.code}")
                continue
            verdict.buyers += 1
            if deposit != expected.get(name, 0):
                money.append(f"{name}: deposit {deposit}, expected {expected.get(name, 0)}")
            if deposit < 0:
                negative.append(f"{name}: deposit {deposit}")
        listed = self._listed(client, sellers)
        verdict.products = len(listed)
        self._check_stock(listed, verdict)
        return verdict

    def problems(self, client: Client, sessions: Mapping[str, Mapping[str, str]],
                 sellers: Collection[str] | None = None) -> list[str]:
        """`check`, as one list of problem lines."""
        return self.check(client, sessions, sellers).flat()

    @staticmethod
    def _listed(client: Client, sellers: Collection[str] | None) -> list[Product]:
        if sellers is None:
            return client.products()
        return [p for seller in sellers for p in client.products(seller_uid=seller)]

    def _check_stock(self, listed: list[Product], verdict: Verdict) -> None:
        with self._lock:
            added, sold = dict(self.added), dict(self.sold)
        seen = set()
        for product in listed:
            uid, left = product["product_uid"], product["amount"]
            seen.add(uid)
            if left != added.get(uid, 0) - sold.get(uid, 0):
                verdict.problems[STOCK].append(
                    f"{uid}: {left} left, expected {added.get(uid, 0)} added - "
                    f"{sold.get(uid, 0)} sold")
            if left < 0:
                verdict.problems[NEGATIVE].append(f"{uid}: {left} left")
        for uid in sorted(added.keys() - seen):
            verdict.problems[STOCK].append(f"{uid}: acknowledged but not listed")
        for uid in sorted(sold):
            if sold[uid] > added.get(uid, 0):
                verdict.problems[OVERSELL].append(
                    f"{uid}: {sold[uid]} sold, only {added.get(uid, 0)} added")


def _add(totals: dict[str, int], key: str, value: int) -> None:
    totals[key] = totals.get(key, 0) + value
