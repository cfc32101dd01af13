"""Checking requests: any decoded map in, a typed `Request` or an error out.

Every field of every op is checked for type and bounds here, before any actor
sees it, so the rules further in can trust what they are given: vending/ops.py's
table says which of the checks below each op's fields get. Value rules that have
their own code (a coin that is not a coin, a cost that is not a multiple of 5)
are left to the rules, because SPEC.md orders those codes after `UNAUTHORIZED`
and the role checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

from . import limits
from .errors import BadRequest, Unauthorized
from .visible import name_fault

__all__ = ["AUTH_KINDS", "OPS", "SESSION_OPS", "STATE_CHANGING_OPS", "Request", "parse_request"]

AUTH_KINDS = {"new_buyer": ("buyer", True), "new_seller": ("seller", True),
              "buyer": ("buyer", False), "seller": ("seller", False)}

Check = Callable[[str, Any], Any]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# The bounded checks are partials of module-level functions, not closures: the code
# that judges a value then runs per request, where mutation testing can reach it
# (a closure's body belongs to the factory, which runs once, at import).
def _int(lo: int | None = None, hi: int | None = None) -> Check:
    return partial(_check_int, lo, hi)


def _check_int(lo: int | None, hi: int | None, name: str, value: Any) -> int:
    if not _is_int(value):
        raise BadRequest(f"{name} must be an integer")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise BadRequest(f"{name} must be between {lo} and {hi}")
    return int(value)


def _any_int(name: str, value: Any) -> int:
    """An integer whose value is judged by a rule with its own error code."""
    if not _is_int(value):
        raise BadRequest(f"{name} must be an integer")
    return int(value)


def _str(lo: int, hi: int) -> Check:
    return partial(_check_str, lo, hi)


def _check_str(lo: int, hi: int, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    if not lo <= len(value) <= hi:
        raise BadRequest(f"{name} must be {lo} to {hi} characters")
    return value


def _username(name: str, value: Any) -> str:
    if not isinstance(value, str) or not limits.USERNAME_RE.fullmatch(value):
        raise BadRequest(f"{name} must be 1-64 ASCII letters, digits, '.', '-' or '_'")
    return value


def _auth_kind(name: str, value: Any) -> str:
    if not isinstance(value, str) or value not in AUTH_KINDS:
        raise BadRequest(f"{name} must be one of new_buyer, new_seller, buyer, seller")
    return value


def _one_of(*values: str) -> Check:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in values:
            raise BadRequest(f"{name} must be one of {', '.join(values)}")
        return value
    return check


def _product_name(name: str, value: Any) -> str:
    text: str = _str(1, limits.PRODUCT_NAME_MAX)(name, value)
    fault = name_fault(text)  # by Unicode category; bidi marks and controls among them
    if fault is not None:
        raise BadRequest(f"{name} {fault}")
    return text


_password = _str(limits.PASSWORD_MIN, limits.PASSWORD_MAX)
_product_uid = _str(1, limits.PRODUCT_UID_MAX)


#: Never part of a fingerprint: secrets, and what may differ between retries
#: of one request (a retry may come through a fresh session of the account).
_NOT_FINGERPRINTED = frozenset({"token", "wsess_uid", "password"})
#: Except where the op's effect is on the calling session itself: a logout under a
#: req_id another session used is a different request, not a replay.
_SESSION_BOUND = frozenset({"logout", "logout_all"})


@dataclass(frozen=True)
class Request:
    """A checked request. `args` holds only the fields its op knows."""

    op: str
    args: Mapping[str, Any]
    req_id: str | None = None

    @property
    def wsess_uid(self) -> str:
        return str(self.args.get("wsess_uid", ""))

    @property
    def token(self) -> str:
        return str(self.args.get("token", ""))

    def fingerprint(self) -> str:
        """Identify "the same request" for idempotent retries (secrets left out)."""
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> str:
        body = {k: v for k, v in self.args.items() if k not in _NOT_FINGERPRINTED}
        if self.op == "auth":
            body["token"] = self.args["token"]
        if self.op in _SESSION_BOUND:
            body["wsess_uid"] = self.args["wsess_uid"]
        text = json.dumps([self.op, body], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, **self.args}
        if self.req_id is not None:
            out["req_id"] = self.req_id
        return out


def parse_request(message: Any) -> Request:
    """Check a decoded request map.

    Raises:
        BadRequest: the message, its op or a field is malformed (names the field).
        Unauthorized: a session op lacks a usable `wsess_uid` or `token`.
    """
    if not isinstance(message, Mapping) or not all(isinstance(k, str) for k in message):
        raise BadRequest("request must be a map with string keys")
    op = message.get("op")
    if not isinstance(op, str):
        raise BadRequest("op is missing or not a string")
    schema = _ops.TABLE.get(op)
    if schema is None:
        raise BadRequest(f"op {op[:40]!r} is unknown")
    req_id = message.get("req_id")
    if req_id is not None:
        _str(1, limits.REQ_ID_MAX)("req_id", req_id)
    args: dict[str, Any] = {}
    for name, check in schema.required.items():
        if name not in message:
            raise BadRequest(f"{name} is missing")
        args[name] = check(name, message[name])
    for name, check in schema.optional.items():
        if name in message and message[name] is not None:
            args[name] = check(name, message[name])
    if op == "sell":
        _check_sell_shape(args)
    if schema.session:
        for name in ("wsess_uid", "token"):
            value = message.get(name)
            if value is not None and not isinstance(value, str):
                raise BadRequest(f"{name} must be a string")
        for name in ("wsess_uid", "token"):
            value = message.get(name)
            if not value or len(value) > limits.CREDENTIAL_MAX:
                raise Unauthorized(f"{name} is missing, empty or unknown")
            args[name] = value
    return Request(op, args, req_id)


def _check_sell_shape(args: Mapping[str, Any]) -> None:
    if "product_uid" in args:
        if not {"product_name", "cost", "amount"} & args.keys():
            raise BadRequest("sell update must name product_name, cost or amount")
        return
    for name in ("product_name", "cost", "amount"):
        if name not in args:
            raise BadRequest(f"{name} is missing (sell without product_uid creates a product)")
    if args["amount"] < 0:
        raise BadRequest("amount must be >= 0 when creating a product")


# vending/ops.py builds its table from the checks above, so it is imported
# last: this module is always loaded first (vending/__init__.py imports it
# before ops), and ops then finds the checks already defined.
from . import ops as _ops  # noqa: E402
from .ops import OPS, SESSION_OPS, STATE_CHANGING_OPS  # noqa: E402
