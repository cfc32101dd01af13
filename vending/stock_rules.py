"""The rules of the stock handler's product ops: products, product, sell, delete_product.

Each is `rule(stock, call)`, named by its op's row (vending/ops.py), and runs on
the stock handler's thread inside its transaction. `sell` and `delete_product`
are on the `authorize` path: the gatekeeper has granted `call.grant` (a seller's
session), and vending/idempotency.py's policy keeps what they return or raise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import limits
from .errors import BadRequest, InsufficientStock, ProductNotFound, WrongCost
from .outcome import Outcome, ok

if TYPE_CHECKING:
    from .call import Call
    from .stock import Stock

__all__ = ["delete_product", "product", "products", "sell"]


def products(stock: Stock, call: Call) -> Outcome:
    """Without `limit`, every match and no `more` (as before paging existed)."""
    args = call.args
    found, more = stock.listing(args.get("seller_uid"), args.get("name"), args.get("after"),
                                args.get("limit"))
    if "limit" in args:
        return Outcome(ok(products=found, more=more))
    return Outcome(ok(products=found))


def product(stock: Stock, call: Call) -> Outcome:
    uid = call.args["product_uid"]
    row = stock.row(uid)
    if row is None:
        return Outcome(ProductNotFound(f"no product {uid}").to_reply())
    return Outcome(ok(product=stock.public(row)))


def _check_cost(cost: int) -> None:
    if not (0 < cost <= limits.COST_MAX and cost % 5 == 0):
        raise WrongCost(f"cost must be a positive multiple of 5, at most {limits.COST_MAX}")


def sell(stock: Stock, call: Call) -> Outcome:
    """Create a product (no `product_uid`), or change one the caller sells."""
    args, who = call.args, call.grant
    if "product_uid" not in args:
        _check_cost(args["cost"])
        seq = stock.db.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name='products'").fetchone()
        uid = f"p{(seq[0] if seq else 0) + 1:010d}"
        stock.db.conn.execute(
            "INSERT INTO products(product_uid, seller_account, seller_uid, product_name, cost,"
            " amount, added) VALUES(?,?,?,?,?,?,?)",
            (uid, who.account_id, who.user_uid, args["product_name"], args["cost"],
             args["amount"], args["amount"]))
    else:
        uid = args["product_uid"]
        row = stock.owned(uid, who)
        if "cost" in args:
            _check_cost(args["cost"])
        delta = args.get("amount", 0)
        available = row[4] - stock.held(uid)
        if available + delta < 0:
            raise InsufficientStock(f"only {available} units of {uid} can be taken out")
        if row[4] + delta > limits.STOCK_MAX:
            # Returned, not raised: it depends on stored stock, so it is final and kept.
            return Outcome(BadRequest(f"amount would take stock above {limits.STOCK_MAX}")
                           .to_reply())
        stock.db.conn.execute(
            "UPDATE products SET product_name=?, cost=?, amount=amount+?, added=added+?"
            " WHERE product_uid=?",
            (args.get("product_name", row[2]), args.get("cost", row[3]), delta, delta, uid))
    kind = "updated" if "product_uid" in args else "created"
    return Outcome(ok(product=stock.changed(uid, kind)))


def delete_product(stock: Stock, call: Call) -> Outcome:
    uid, who = call.args["product_uid"], call.grant
    stock.owned(uid, who)
    stock.db.conn.execute("DELETE FROM products WHERE product_uid=?", (uid,))
    stock.events.emit("product_deleted", product_uid=uid, seller_uid=who.user_uid)
    return Outcome(ok(product_uid=uid))
