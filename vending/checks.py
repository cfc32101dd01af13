"""The field checks: one function per kind of field, type and bounds.

vending/ops.py names, for each op's fields, which of these checks they get;
`parse_request` (vending/requests.py) runs them. Value rules that have their own
error code (a coin that is not a coin, a cost that is not a multiple of 5) are
left to the rules, because the protocol orders those codes after `UNAUTHORIZED`
and the role checks (docs/protocol.md §7, "Precedence").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from . import limits
from .errors import BadRequest
from .visible import name_fault

__all__ = ["AUTH_KINDS", "Check", "any_int", "auth_kind", "integer", "one_of", "password",
           "product_name", "product_uid", "sell_shape", "text", "username"]

AUTH_KINDS = {"new_buyer": ("buyer", True), "new_seller": ("seller", True),
              "buyer": ("buyer", False), "seller": ("seller", False)}

Check = Callable[[str, Any], Any]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# The bounded checks are partials of module-level functions, not closures: the code
# that judges a value then runs per request, where mutation testing can reach it
# (a closure's body belongs to the factory, which runs once, at import).
def integer(lo: int | None = None, hi: int | None = None) -> Check:
    return partial(_check_int, lo, hi)


def _check_int(lo: int | None, hi: int | None, name: str, value: Any) -> int:
    if not _is_int(value):
        raise BadRequest(f"{name} must be an integer")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise BadRequest(f"{name} must be between {lo} and {hi}")
    return int(value)


def any_int(name: str, value: Any) -> int:
    """An integer whose value is judged by a rule with its own error code."""
    if not _is_int(value):
        raise BadRequest(f"{name} must be an integer")
    return int(value)


def text(lo: int, hi: int) -> Check:
    return partial(_check_str, lo, hi)


def _check_str(lo: int, hi: int, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    if not lo <= len(value) <= hi:
        raise BadRequest(f"{name} must be {lo} to {hi} characters")
    return value


def username(name: str, value: Any) -> str:
    if not isinstance(value, str) or not limits.USERNAME_RE.fullmatch(value):
        raise BadRequest(f"{name} must be 1-64 ASCII letters, digits, '.', '-' or '_'")
    return value


def auth_kind(name: str, value: Any) -> str:
    if not isinstance(value, str) or value not in AUTH_KINDS:
        raise BadRequest(f"{name} must be one of new_buyer, new_seller, buyer, seller")
    return value


def one_of(*values: str) -> Check:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in values:
            raise BadRequest(f"{name} must be one of {', '.join(values)}")
        return value
    return check


def product_name(name: str, value: Any) -> str:
    checked: str = text(1, limits.PRODUCT_NAME_MAX)(name, value)
    fault = name_fault(checked)  # by Unicode category; bidi marks and controls among them
    if fault is not None:
        raise BadRequest(f"{name} {fault}")
    return checked


password = text(limits.PASSWORD_MIN, limits.PASSWORD_MAX)
product_uid = text(1, limits.PRODUCT_UID_MAX)


def sell_shape(args: Mapping[str, Any]) -> None:
    """`sell`: an update names something to change; a new product names everything."""
    if "product_uid" in args:
        if not {"product_name", "cost", "amount"} & args.keys():
            raise BadRequest("sell update must name product_name, cost or amount")
        return
    for name in ("product_name", "cost", "amount"):
        if name not in args:
            raise BadRequest(f"{name} is missing (sell without product_uid creates a product)")
    if args["amount"] < 0:
        raise BadRequest("amount must be >= 0 when creating a product")
