"""The stock handler's rules: products (sell, delete_product, reads), and the
storage of units reserved by purchases in flight.

The purchase's rules (when to hold units, when to sell or release them) live in
vending/purchase.py; here are the small storage steps it calls (`offer`,
`held_by`, `hold`, `release`). Units shown to clients are the ones not held.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import limits
from .authority import Authorized
from .db import Database
from .errors import (
    BadRequest,
    ClientError,
    InsufficientStock,
    NotOwner,
    ProductNotFound,
    Unauthorized,
    WrongCost,
)
from .events import SCHEMA as EVENTS_SCHEMA
from .events import EventLog
from .idempotency import SCHEMA as IDEM_SCHEMA
from .idempotency import IdempotencyStore
from .requests import Request

__all__ = ["SCHEMA", "Offer", "Stock"]

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS products(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, product_uid TEXT NOT NULL UNIQUE,
  seller_account INTEGER NOT NULL, seller_uid TEXT NOT NULL, product_name TEXT NOT NULL,
  cost INTEGER NOT NULL CHECK(cost > 0 AND cost % 5 = 0 AND cost <= {limits.COST_MAX}),
  amount INTEGER NOT NULL CHECK(amount BETWEEN 0 AND {limits.STOCK_MAX}),
  added INTEGER NOT NULL DEFAULT 0, sold INTEGER NOT NULL DEFAULT 0,
  -- conservation, checked by SQLite on every write: units added = left + sold
  CHECK(added = amount + sold));
CREATE INDEX IF NOT EXISTS products_seller ON products(seller_uid, product_uid);
CREATE INDEX IF NOT EXISTS products_account ON products(seller_account);
CREATE TABLE IF NOT EXISTS reservations(
  purchase_id TEXT PRIMARY KEY, product_uid TEXT NOT NULL, amount INTEGER NOT NULL,
  at REAL NOT NULL);
{IDEM_SCHEMA}
{EVENTS_SCHEMA}
"""

_COLS = "product_uid, seller_uid, product_name, cost, amount, seller_account"


@dataclass(frozen=True)
class Offer:
    """A product as a buyer may take it: units not held by other purchases."""

    product_name: str
    cost: int
    available: int


def _check_cost(cost: int) -> None:
    if not (0 < cost <= limits.COST_MAX and cost % 5 == 0):
        raise WrongCost(f"cost must be a positive multiple of 5, at most {limits.COST_MAX}")


@dataclass
class Stock:
    db: Database
    clock: Callable[[], float] = time.time
    idem_ttl: float = 48 * 3600.0
    _held: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def __post_init__(self) -> None:
        self.idem = IdempotencyStore(self.db)
        self.events = EventLog(self.db, "stock-handler", self.clock, self.idem_ttl)
        for uid, units in self.db.conn.execute(
                "SELECT product_uid, sum(amount) FROM reservations GROUP BY product_uid"):
            self._held[uid] = int(units)

    # -- reads ------------------------------------------------------------
    def _row(self, product_uid: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.db.conn.execute(
            f"SELECT {_COLS} FROM products WHERE product_uid=?", (product_uid,)).fetchone()
        return row

    def _public(self, row: tuple[Any, ...]) -> dict[str, Any]:
        return {"product_uid": row[0], "seller_uid": row[1], "product_name": row[2],
                "cost": row[3], "amount": row[4] - self._held.get(row[0], 0)}

    def product(self, product_uid: str) -> dict[str, Any]:
        row = self._row(product_uid)
        if row is None:
            return ProductNotFound(f"no product {product_uid}").to_reply()
        return {"ok": True, "product": self._public(row)}

    def products(self, seller_uid: str | None = None) -> dict[str, Any]:
        if seller_uid is None:
            rows = self.db.conn.execute(f"SELECT {_COLS} FROM products ORDER BY product_uid")
        else:
            rows = self.db.conn.execute(
                f"SELECT {_COLS} FROM products WHERE seller_uid=? ORDER BY product_uid",
                (seller_uid,))
        return {"ok": True, "products": [self._public(r) for r in rows]}

    # -- purchases: storage for vending/purchase.py ---------------------------
    def offer(self, product_uid: str) -> Offer | None:
        row = self._row(product_uid)
        if row is None:
            return None
        return Offer(row[2], row[3], row[4] - self._held.get(product_uid, 0))

    def held_by(self, purchase_id: str) -> tuple[str, int] | None:
        """(product_uid, units) held for a purchase, None if nothing is."""
        row = self.db.conn.execute(
            "SELECT product_uid, amount FROM reservations WHERE purchase_id=?",
            (purchase_id,)).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def hold(self, purchase_id: str, product_uid: str, units: int) -> None:
        self.db.conn.execute("INSERT INTO reservations VALUES(?,?,?,?)",
                             (purchase_id, product_uid, units, self.clock()))
        self._held[product_uid] += units

    def release(self, purchase_id: str, held: tuple[str, int], *, sold: bool) -> None:
        """End a hold; `sold`: its units leave the stock as sold."""
        uid, units = held
        self.db.conn.execute("DELETE FROM reservations WHERE purchase_id=?", (purchase_id,))
        if sold:
            self.db.conn.execute("UPDATE products SET amount=amount-?, sold=sold+?"
                                 " WHERE product_uid=?", (units, units, uid))
        self._held[uid] -= units
        if self._held[uid] <= 0:
            del self._held[uid]

    def changed(self, product_uid: str, kind: str) -> dict[str, Any]:
        """The product map after a change, published as a `product` event of `kind`."""
        row = self._row(product_uid)
        assert row is not None  # written just before, in this transaction
        product = self._public(row)
        self.events.emit("product", product=product, kind=kind)
        return product

    def reservations(self, older_than: float = 0.0) -> list[str]:
        """Purchase ids held since before `older_than` seconds ago (for recovery)."""
        return [r[0] for r in self.db.conn.execute(
            "SELECT purchase_id FROM reservations WHERE at <= ?", (self.clock() - older_than,))]

    # -- sellers -----------------------------------------------------------
    def _idempotent(self, who: Authorized, req: Request,
                    rule: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Replay a stored reply, or run `rule` once (vending/idempotency.py's policy)."""
        scope = f"a:{who.account_id}"
        try:
            rec = self.idem.lookup(scope, req.req_id, req.fingerprint())
        except ClientError as exc:
            return exc.to_reply()
        if rec is not None and rec.reply is not None:
            return rec.reply
        if who.replay_only:
            return Unauthorized("session has ended or expired").to_reply()
        return self.idem.run_once(scope, req, rule, self.clock())

    def sell(self, req: Request, who: Authorized) -> dict[str, Any]:
        return self._idempotent(who, req, lambda: self._sell(req, who))

    def _sell(self, req: Request, who: Authorized) -> dict[str, Any]:
        args = req.args
        if "product_uid" not in args:
            _check_cost(args["cost"])
            seq = self.db.conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name='products'").fetchone()
            uid = f"p{(seq[0] if seq else 0) + 1:010d}"
            self.db.conn.execute(
                "INSERT INTO products(product_uid, seller_account, seller_uid, product_name, cost,"
                " amount, added) VALUES(?,?,?,?,?,?,?)",
                (uid, who.account_id, who.user_uid, args["product_name"], args["cost"],
                 args["amount"], args["amount"]))
        else:
            uid = args["product_uid"]
            row = self._owned(uid, who)
            if "cost" in args:
                _check_cost(args["cost"])
            delta = args.get("amount", 0)
            available = row[4] - self._held.get(uid, 0)
            if available + delta < 0:
                raise InsufficientStock(f"only {available} units of {uid} can be taken out")
            if row[4] + delta > limits.STOCK_MAX:
                # Returned, not raised: it depends on stored stock, so it is final and kept.
                return BadRequest(f"amount would take stock above {limits.STOCK_MAX}").to_reply()
            self.db.conn.execute(
                "UPDATE products SET product_name=?, cost=?, amount=amount+?, added=added+?"
                " WHERE product_uid=?",
                (args.get("product_name", row[2]), args.get("cost", row[3]), delta, delta, uid))
        kind = "updated" if "product_uid" in args else "created"
        return {"ok": True, "product": self.changed(uid, kind)}

    def _owned(self, uid: str, who: Authorized) -> tuple[Any, ...]:
        row = self._row(uid)
        if row is None:
            raise ProductNotFound(f"no product {uid}")
        if row[5] != who.account_id:
            raise NotOwner(f"{uid} belongs to another seller")
        return row

    def delete_product(self, req: Request, who: Authorized) -> dict[str, Any]:
        def rule() -> dict[str, Any]:
            uid = req.args["product_uid"]
            self._owned(uid, who)
            self.db.conn.execute("DELETE FROM products WHERE product_uid=?", (uid,))
            self.events.emit("product_deleted", product_uid=uid, seller_uid=who.user_uid)
            return {"ok": True, "product_uid": uid}
        return self._idempotent(who, req, rule)

    def purge_seller(self, account_id: int) -> int:
        """A deleted seller's products go with the account (an event for each)."""
        gone = self.db.conn.execute(
            "DELETE FROM products WHERE seller_account=? RETURNING product_uid, seller_uid",
            (account_id,)).fetchall()
        for uid, seller in sorted(gone):
            self.events.emit("product_deleted", product_uid=uid, seller_uid=seller)
        return len(gone)

    # -- upkeep ------------------------------------------------------------
    def housekeeping(self) -> None:
        self.idem.expire(self.clock() - self.idem_ttl)
        self.events.housekeeping()

    def totals(self) -> dict[str, dict[str, int]]:
        """Per product: added, amount (incl. held), sold (for conservation checks)."""
        return {r[0]: {"added": r[1], "amount": r[2], "sold": r[3]} for r in self.db.conn.execute(
            "SELECT product_uid, added, amount, sold FROM products")}

