"""The purchase saga: every rule of a buy, in one place.

A purchase spans two owners, the stock handler's products and the gatekeeper's
deposits, and no transaction spans both, so it runs as durable steps (see
docs/purchase-saga.md):

1. `reserve` (stock handler, the `buy` row's rule): hold the units under a
   purchase id `pid`, or note why not. The answer is a `ChargeStep`, sent to the
   gatekeeper.
2. `charge` (gatekeeper): decide the reply in the protocol's order and, on
   success, debit the buyer. Its commit is the point of no return. The answer is
   a `ChargeResult`.
3. `settle` (stock handler): make the hold final (units sold) or give it back.

Recovery: `resolve` (gatekeeper) tells whether `pid` was charged and, if not,
fences it off for good, so a late `charge` can never charge it. Every step is
idempotent: a step delivered twice does nothing more the second time.

The gatekeeper's side is handed the parts it needs (`Till`); the order of checks,
what moves, the fence and the replays are decided here. vending/local.py runs
the three steps in one process (the baseline, the rules tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .call import Call
from .coins import make_change
from .errors import (
    ClientError,
    InsufficientDeposit,
    InsufficientStock,
    ProductNotFound,
    Unavailable,
)
from .jsontext import compact, compact_with
from .outcome import Outcome, ok
from .records import quick_init

if TYPE_CHECKING:
    from .events import EventLog
    from .history import History
    from .purchase_book import PurchaseBook
    from .requests import Request
    from .stock import Stock
    from .wallet import Wallet

__all__ = ["ChargeResult", "ChargeStep", "Resolution", "Till", "charge", "reserve", "resolve",
           "settle"]


@quick_init
@dataclass(frozen=True, slots=True)
class ChargeStep:
    """Step 1's result, to be charged: the units are held, or `stock_error` says why not.

    `seller_account` (0: unknown) is the seller's account, whose history gets the sale.
    """

    pid: str
    request: Request
    product_name: str = ""
    cost: int = 0
    stock_error: dict[str, Any] | None = None
    seller_account: int = 0


@quick_init
@dataclass(frozen=True, slots=True)
class ChargeResult:
    """Step 2's result: the client's reply, and whether the buyer was charged."""

    pid: str
    committed: bool
    reply: dict[str, Any]


@dataclass(frozen=True)
class Resolution:
    """Recovery's answer for `pid`: charged (settle as sold) or fenced (release)."""

    pid: str
    committed: bool


@dataclass(frozen=True)
class Till:
    """The gatekeeper's parts that `charge` and `resolve` need.

    `in_session(call, rule)` is the gatekeeper's session path (vending/gate.py): who
    is asking, replay or run, may the caller's role buy, then `rule` once.
    """

    book: PurchaseBook
    wallet: Wallet
    events: EventLog
    in_session: Callable[[Call, Callable[[Call], Outcome]], Outcome]
    history: History


# -- 1. reserve: stock handler ------------------------------------------------------
def reserve(stock: Stock, call: Call) -> ChargeStep:
    """Hold units for purchase `call.pid`, or note the stock error (the gatekeeper
    orders the errors).

    Units held are offered to no one else, so concurrent buyers cannot oversell.
    """
    pid, req = call.pid, call.req
    uid, units = req.args["product_uid"], req.args["amount"]
    offer = stock.offer(uid)
    if offer is None:
        return ChargeStep(pid, req, stock_error=ProductNotFound(f"no product {uid}").to_reply())
    step = ChargeStep(pid, req, offer.product_name, offer.cost,
                      seller_account=offer.seller_account)
    if stock.held_by(pid) is not None:
        return step  # the same step delivered twice
    if offer.available < units:
        return ChargeStep(pid, req, stock_error=InsufficientStock(
            f"only {offer.available} units of {uid} left").to_reply())
    stock.hold(pid, uid, units)
    return step


# -- 2. charge: gatekeeper, the point of no return -----------------------------------
def charge(till: Till, step: ChargeStep) -> ChargeResult:
    """Decide the reply and, on success, debit the buyer, in the protocol's order:
    UNAUTHORIZED, BUYERS_ONLY, the stock error, INSUFFICIENT_DEPOSIT.

    A `pid` already charged answers its first reply; a fenced one is refused and
    charges nobody; a retried `req_id` answers the stored reply without charging.
    """
    pid, req = step.pid, step.request
    done = till.book.reply(pid)
    if done is not None:
        return ChargeResult(pid, True, done)
    if till.book.fenced(pid):
        return ChargeResult(pid, False,
                            Unavailable("purchase was abandoned; retry").to_reply())
    committed = False

    def rule(call: Call) -> Outcome:
        nonlocal committed
        user = call.caller.user
        if step.stock_error is not None:
            return Outcome(step.stock_error)
        total = step.cost * req.args["amount"]
        if user.deposit < total:
            raise InsufficientDeposit(f"deposit {user.deposit} is less than cost {total}")
        rest = user.deposit - total
        reply = ok(product_uid=req.args["product_uid"], product_name=step.product_name,
                   amount=req.args["amount"], spent=total, change=make_change(rest), deposit=0)
        text = compact(reply)  # once: the purchase's record and its kept reply
        till.wallet.spend(user, total)
        till.book.record(pid, user.account_id, req.args["product_uid"], req.args["amount"],
                         total, rest, text)
        till.events.emit("purchase", product_uid=reply["product_uid"],
                         amount=reply["amount"], spent=total, change=reply["change"])
        # Both histories here, in the charge's transaction: it is the point of no
        # return, so the entries exist exactly when the purchase does.
        # The sale's fields encoded once: the buyer's entry is the seller's and the change.
        sale = compact({k: reply[k] for k in ("product_uid", "product_name", "amount", "spent")})
        till.history.add_text(user.account_id, "purchase",
                              compact_with(sale, "change", reply["change"]))
        if step.seller_account:
            till.history.add_text(step.seller_account, "sale", sale)
        committed = True
        return Outcome(reply, text=text)

    try:
        out = till.in_session(Call(req), rule)
    except ClientError as exc:
        return ChargeResult(pid, False, exc.to_reply())
    return ChargeResult(pid, committed, out.reply)


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
def resolve(book: PurchaseBook, pid: str) -> Resolution:
    """Was `pid` charged? If not, fence it off for good: no later charge can take it."""
    if book.reply(pid) is not None:
        return Resolution(pid, True)
    book.fence(pid)
    return Resolution(pid, False)
