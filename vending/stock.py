"""The stock handler's state: products, units reserved by purchases in flight,
and its paths from a request to the rule its op's row names (vending/ops.py).

The product rules (products, product, sell, delete_product) live in
vending/stock_rules.py, the purchase's (when to hold units, when to sell or
release them) in vending/purchase.py; here are the small storage steps they
call. Units shown to clients are the ones not held.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from . import limits
from .authority import Grant
from .call import Call, account_scope
from .db import Database
from .errors import BadRequest, ClientError, NotOwner, ProductNotFound, Unauthorized
from .events import DROP_AT_INDEX, EventLog
from .events import SCHEMA as EVENTS_SCHEMA
from .idempotency import SCHEMA_V1 as IDEM_SCHEMA_V1
from .idempotency import TO_LOG as IDEM_TO_LOG
from .idempotency import Replies
from .ops import TABLE
from .outcome import Outcome
from .records import quick_init
from .schema import Migration, Schema
from .sources import SYSTEM_CLOCK

__all__ = ["SCHEMA", "Offer", "Stock"]

#: Version 1: release 26aa1c3's tables, exactly (vending/schema.py). Never edited:
#: a change is a migration appended to SCHEMA.
_V1 = f"""
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
{IDEM_SCHEMA_V1}
{EVENTS_SCHEMA}
"""

#: `reservations` rebuilt keyed by the purchase id alone (WITHOUT ROWID): a hold and
#: its release write one b-tree, not a row and its key's index.
_RESERVATIONS_WITHOUT_ROWID = """
CREATE TABLE reservations_by_id(
  purchase_id TEXT PRIMARY KEY, product_uid TEXT NOT NULL, amount INTEGER NOT NULL,
  at REAL NOT NULL) WITHOUT ROWID;
INSERT INTO reservations_by_id SELECT purchase_id, product_uid, amount, at FROM reservations;
DROP TABLE reservations;
ALTER TABLE reservations_by_id RENAME TO reservations;
"""

SCHEMA = Schema("stock.sqlite3", _V1, (
    Migration("fewer pages a purchase: kept replies as a log, events expire by seq,"
              " reservations WITHOUT ROWID",
              IDEM_TO_LOG + DROP_AT_INDEX + _RESERVATIONS_WITHOUT_ROWID),
))

_HOLD_HEAD = "INSERT INTO reservations(purchase_id, product_uid, amount, at)"
#: `insert_rows` puts the released pids' `VALUES` between these: one DELETE for all
#: the holds a transaction ends.
_RELEASE_HEAD = "DELETE FROM reservations WHERE purchase_id IN (SELECT column1 FROM ("
_RELEASE_TAIL = "))"

_COLUMNS = ("product_uid", "seller_uid", "product_name", "cost", "amount", "seller_account")
_COLS = ", ".join(_COLUMNS)


@quick_init
@dataclass(frozen=True, slots=True)
class Offer:
    """A product as a buyer may take it: units not held by other purchases."""

    product_name: str
    cost: int
    available: int
    seller_account: int = 0


@dataclass
class Stock:
    db: Database
    clock: Callable[[], float] = SYSTEM_CLOCK.time
    idem_ttl: float = 48 * 3600.0
    _held: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def __post_init__(self) -> None:
        self.replies = Replies(self.db, self.clock)
        self.events = EventLog(self.db, "stock-handler", self.clock, self.idem_ttl)
        #: The `reservations` table in memory (purchases in flight: few rows):
        #: purchase_id -> (product_uid, units); read again after any rollback.
        self._holds: dict[str, tuple[str, int]] = {}
        #: Holds whose row is still deferred in this transaction.
        self._unwritten: set[str] = set()
        self.reload_held()
        self.db.on_rollback(self.reload_held)
        #: Every product's row, by product_uid, as the last full listing read them, and
        #: the connection's `total_changes` then: still the table's rows while nothing
        #: has been written on the connection since (this one writes the file alone),
        #: or rolled back (whose writes the count keeps).
        self._every: tuple[int, list[tuple[Any, ...]]] | None = None
        self.db.on_rollback(self._forget_every)

    def _forget_every(self) -> None:
        self._every = None

    def reload_held(self) -> None:
        """Read the reservations again: the holds and the held units per product.

        Both are memory of that table, changed by `hold` and `release` inside the
        owner's transaction; a transaction that rolls back must not leave them
        changed, or units released in it count as free and a seller may take them
        out (found by the simulation, seed 67: docs/simulation.md, "Bugs it found").
        `Database.on_rollback` calls this after every rollback.
        """
        self._holds.clear()
        self._held.clear()
        self._unwritten.clear()
        for pid, uid, units in self.db.conn.execute(
                "SELECT purchase_id, product_uid, amount FROM reservations"):
            self._holds[pid] = (str(uid), int(units))
            self._held[uid] += int(units)

    # -- reads ------------------------------------------------------------
    def row(self, product_uid: str) -> tuple[Any, ...] | None:
        """The product's row (`_COLUMNS`), from the `products` table's mirror."""
        return self.db.mirror("products", "product_uid", _COLUMNS).get(product_uid)

    def public(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """A product as clients see it (`_public`)."""
        return self._public((row,))[0]

    def _public(self, rows: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """Products as clients see them: the units held by purchases in flight are not
        shown. One comprehension for a whole listing (a call per row was most of a
        long listing's cost)."""
        held = self._held.get
        return [{"product_uid": r[0], "seller_uid": r[1], "product_name": r[2],
                 "cost": r[3], "amount": r[4] - held(r[0], 0)} for r in rows]

    def listing(self, seller_uid: str | None = None, name: str | None = None,
                after: str | None = None,
                limit: int | None = None) -> tuple[list[dict[str, Any]], bool]:
        """Products as clients see them, by product_uid (as strings): only
        `seller_uid`'s, only names holding `name` (compared casefolded), only past
        `after`; at most `limit`, and whether others follow."""
        rows: Iterable[tuple[Any, ...]]
        if seller_uid is None and not after and limit is None:
            rows = self._every_product()  # the whole table is read either way
        else:
            where, params = ["product_uid > ?"], [after or ""]
            if seller_uid is not None:
                where.append("seller_uid = ?")
                params.append(seller_uid)
            rows = self.db.conn.execute(
                f"SELECT {_COLS} FROM products WHERE {' AND '.join(where)}"
                " ORDER BY product_uid", params)
        if name is not None:
            # SQLite's LIKE folds ASCII only: the name is matched here, casefolded fully.
            wanted = name.casefold()
            rows = (row for row in rows if wanted in row[2].casefold())
        if limit is None:
            return self._public(rows), False
        page = list(islice(rows, limit + 1))  # reads no further than that
        return self._public(page[:limit]), len(page) > limit

    def _every_product(self) -> list[tuple[Any, ...]]:
        """Every product's row, by product_uid: read again only after a write."""
        changes, every = self.db.conn.total_changes, self._every
        if every is None or every[0] != changes:
            every = self._every = (changes, self.db.conn.execute(
                f"SELECT {_COLS} FROM products ORDER BY product_uid").fetchall())
        return every[1]

    # -- purchases: storage for vending/purchase.py ---------------------------
    def offer(self, product_uid: str) -> Offer | None:
        row = self.row(product_uid)
        if row is None:
            return None
        return Offer(row[2], row[3], row[4] - self._held.get(product_uid, 0), row[5])

    def holding(self) -> bool:
        """Some purchase holds units (a reservation is in flight)."""
        return bool(self._holds)

    def held_by(self, purchase_id: str) -> tuple[str, int] | None:
        """(product_uid, units) held for a purchase, None if nothing is."""
        return self._holds.get(purchase_id)

    def hold(self, purchase_id: str, product_uid: str, units: int) -> None:
        """Written with the transaction's other holds, in one statement just before
        COMMIT (`Database.defer`): the `Charge` that needs it durable leaves after."""
        if not self._unwritten:
            self.db.after_commit(self._unwritten.clear)
        self._unwritten.add(purchase_id)
        self.db.defer(_HOLD_HEAD, (purchase_id, product_uid, units, self.clock()))
        self._holds[purchase_id] = (product_uid, units)
        self._held[product_uid] += units

    def release(self, purchase_id: str, held: tuple[str, int], *, sold: bool) -> None:
        """End a hold; `sold`: its units leave the stock as sold."""
        uid, units = held
        if purchase_id in self._unwritten:
            # Held in this transaction: its row goes in before the DELETE that ends it
            # (deferred statements run in the order each first was deferred).
            self.db.write_deferred()
            self._unwritten.clear()
        # With the transaction's other ended holds, in one statement just before COMMIT
        # (`Database.defer`); a pid is held once, so none is held again meanwhile.
        self.db.defer(_RELEASE_HEAD, (purchase_id,), _RELEASE_TAIL)
        self._holds.pop(purchase_id, None)
        if sold:
            self.db.conn.execute("UPDATE products SET amount=amount-?, sold=sold+?"
                                 " WHERE product_uid=?", (units, units, uid))
        self._held[uid] -= units
        if self._held[uid] <= 0:
            del self._held[uid]

    def changed(self, product_uid: str, kind: str) -> dict[str, Any]:
        """The product map after a change, published as a `product` event of `kind`."""
        row = self.row(product_uid)
        assert row is not None  # written just before, in this transaction
        product = self.public(row)
        self.events.emit("product", product=product, kind=kind)
        return product

    def reservations(self, older_than: float = 0.0) -> list[str]:
        """Purchase ids held since before `older_than` seconds ago (for recovery)."""
        self.db.write_deferred()  # holds released in this transaction
        return [r[0] for r in self.db.conn.execute(
            "SELECT purchase_id FROM reservations WHERE at <= ?", (self.clock() - older_than,))]

    # -- the stock handler's paths to a rule (vending/ops.py's rows) --------------
    def answer(self, call: Call) -> Outcome:
        """An op its row's path `here` sends to the stock handler (products, product,
        events). Raises ClientError for a refusal."""
        row = TABLE[call.req.op]
        if row.owner not in ("stock-handler", "source") or row.path != "here":
            raise BadRequest(f"{call.req.op!r} is not a stock-handler op")
        answer: Outcome = row.rule(self, call)
        return answer

    def authorized(self, call: Call) -> Outcome:
        """An op on the `authorize` path, once the gatekeeper has granted `call.who`:
        replay, refuse or run its rule once (vending/idempotency.py's policy)."""
        req, who = call.req, call.grant
        scope = account_scope(who.account_id)
        try:
            kept = self.replies.kept(scope, req)
        except ClientError as exc:
            return Outcome(exc.to_reply())
        if kept is not None:
            return Outcome(kept.reply)
        if who.replay_only:
            return Outcome(Unauthorized("session has ended or expired").to_reply())
        return self.replies.run(scope, req, lambda: TABLE[req.op].rule(self, call))

    # -- storage for vending/stock_rules.py -------------------------------------
    def owned(self, uid: str, who: Grant) -> tuple[Any, ...]:
        """The product's row, if `who` sells it."""
        row = self.row(uid)
        if row is None:
            raise ProductNotFound(f"no product {uid}")
        if row[5] != who.account_id:
            raise NotOwner(f"{uid} belongs to another seller")
        return row

    def held(self, product_uid: str) -> int:
        """Units of the product held by purchases in flight."""
        return self._held.get(product_uid, 0)

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
        self.replies.expire(self.clock() - self.idem_ttl)
        self.events.housekeeping()

    def totals(self) -> dict[str, dict[str, int]]:
        """Per product: added, amount (incl. held), sold (for conservation checks)."""
        return {r[0]: {"added": r[1], "amount": r[2], "sold": r[3]} for r in self.db.conn.execute(
            "SELECT product_uid, added, amount, sold FROM products")}

