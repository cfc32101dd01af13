"""The purchase saga: every rule of a buy, in one place.

A purchase spans two owners, the stock handler's products and the gatekeeper's
deposits, and no transaction spans both, so it runs as durable steps (see
docs/purchase-saga.md):

1. `reserve` (stock handler): hold the units under a purchase id `pid`, or note
   why not. The answer is a `ChargeStep`, sent to the gatekeeper.
2. `charge` (gatekeeper): decide the reply in SPEC.md's order and, on success,
   debit the buyer. Its commit is the point of no return. The answer is `Charged`.
3. `settle` (stock handler): make the hold final (units sold) or give it back.

Recovery: `resolve` (gatekeeper) tells whether `pid` was charged and, if not,
fences it off for good, so a late `charge` can never charge it. Every step is
idempotent: a step delivered twice does nothing more the second time.

`buy_locally` runs the three steps in one process (the baseline, the rules
tests). The owners' tables are read and written through small storage methods
on `Accounts`, `Wallet` and `Stock`; the order of checks, what moves, the fence
and the replays are decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .coins import make_change
from .errors import (
    BuyersOnly,
    ClientError,
    InsufficientDeposit,
    InsufficientStock,
    ProductNotFound,
    Unavailable,
)
from .requests import Request

if TYPE_CHECKING:
    from .accounts import Accounts
    from .stock import Stock

__all__ = ["ChargeStep", "Charged", "Resolved", "buy_locally", "charge", "reserve", "resolve",
           "settle"]


@dataclass(frozen=True)
class ChargeStep:
    """Step 1's result, to be charged: the units are held, or `stock_error` says why not."""

    pid: str
    request: Request
    product_name: str = ""
    cost: int = 0
    stock_error: dict[str, Any] | None = None


@dataclass(frozen=True)
class Charged:
    """Step 2's result: the client's reply, and whether the buyer was charged."""

    pid: str
    committed: bool
    reply: dict[str, Any]


@dataclass(frozen=True)
class Resolved:
    """Recovery's answer for `pid`: charged (settle as sold) or fenced (release)."""

    pid: str
    committed: bool


# -- 1. reserve: stock handler ------------------------------------------------------
def reserve(stock: Stock, pid: str, req: Request) -> ChargeStep:
    """Hold units for a purchase, or note the stock error (the gatekeeper orders the errors).

    Units held are offered to no one else, so concurrent buyers cannot oversell.
    """
    uid, units = req.args["product_uid"], req.args["amount"]
    offer = stock.offer(uid)
    if offer is None:
        return ChargeStep(pid, req, stock_error=ProductNotFound(f"no product {uid}").to_reply())
    step = ChargeStep(pid, req, offer.product_name, offer.cost)
    if stock.held_by(pid) is not None:
        return step  # the same step delivered twice
    if offer.available < units:
        return ChargeStep(pid, req, stock_error=InsufficientStock(
            f"only {offer.available} units of {uid} left").to_reply())
    stock.hold(pid, uid, units)
    return step


# -- 2. charge: gatekeeper, the point of no return -----------------------------------
def charge(accounts: Accounts, step: ChargeStep) -> Charged:
    """Decide the reply and, on success, debit the buyer, in SPEC.md's order:
    UNAUTHORIZED, BUYERS_ONLY, the stock error, INSUFFICIENT_DEPOSIT.

    A `pid` already charged answers its first reply; a fenced one is refused and
    charges nobody; a retried `req_id` answers the stored reply without charging.
    """
    pid, req = step.pid, step.request
    done = accounts.purchase_reply(pid)
    if done is not None:
        return Charged(pid, True, done)
    if accounts.fenced(pid):
        return Charged(pid, False, Unavailable("purchase was abandoned; retry").to_reply())
    try:
        sess, scope, rec = accounts.caller(req)
        if rec is not None and rec.reply is not None:
            return Charged(pid, False, rec.reply)
        user = accounts.live_user(sess)
    except ClientError as exc:
        return Charged(pid, False, exc.to_reply())
    committed = False

    def rule() -> dict[str, Any]:
        nonlocal committed
        if user.role != "buyer":
            raise BuyersOnly("only buyers can buy")
        if step.stock_error is not None:
            return step.stock_error
        total = step.cost * req.args["amount"]
        if user.deposit < total:
            raise InsufficientDeposit(f"deposit {user.deposit} is less than cost {total}")
        rest = user.deposit - total
        reply = {"ok": True, "product_uid": req.args["product_uid"],
                 "product_name": step.product_name, "amount": req.args["amount"],
                 "spent": total, "change": make_change(rest), "deposit": 0}
        accounts.wallet.spend(user, total)
        accounts.record_purchase(pid, user.account_id, req, total, rest, reply)
        accounts.events.emit("purchase", product_uid=reply["product_uid"],
                             amount=reply["amount"], spent=total, change=reply["change"])
        committed = True
        return reply

    reply = accounts.idem.run_once(scope, req, rule, accounts.clock())
    return Charged(pid, committed, reply)


# -- 3. settle: stock handler ----------------------------------------------------------
def settle(stock: Stock, pid: str, committed: bool) -> None:
    """Make `pid`'s hold final (units sold) if it was charged, else give it back.

    Idempotent: a pid with no hold (settled already, or never held) is left alone.
    """
    held = stock.held_by(pid)
    if held is not None:
        stock.release(pid, held, sold=committed)
        if committed:
            stock.changed(held[0], "sold")


# -- recovery: gatekeeper ------------------------------------------------------------
def resolve(accounts: Accounts, pid: str) -> Resolved:
    """Was `pid` charged? If not, fence it off for good: no later charge can take it."""
    if accounts.purchase_reply(pid) is not None:
        return Resolved(pid, True)
    accounts.fence(pid)
    return Resolved(pid, False)


# -- the whole saga in one process ---------------------------------------------------
def buy_locally(accounts: Accounts, stock: Stock, req: Request, pid: str) -> dict[str, Any]:
    """Run reserve, charge and settle, each in its owner's own transaction."""
    with stock.db.transaction():
        step = reserve(stock, pid, req)
    with accounts.db.transaction():
        charged = charge(accounts, step)
    with stock.db.transaction():
        settle(stock, pid, charged.committed)
    return charged.reply
