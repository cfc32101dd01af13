"""Checking requests: any decoded map in, a typed `Request` or an error out.

Every field of every op is checked for type and bounds here, before any actor
sees it, so the rules further in can trust what they are given: the op's row in
vending/ops.py says which checks (vending/checks.py) its fields get.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import limits
from .checks import AUTH_KINDS, text
from .errors import BadRequest, Unauthorized
from .jsontext import canonical
from .ops import OPS, SESSION_OPS, STATE_CHANGING_OPS, TABLE
from .records import quick_init

__all__ = ["AUTH_KINDS", "OPS", "SESSION_OPS", "STATE_CHANGING_OPS", "Request", "parse_request"]

#: Never part of a fingerprint unless the op's row says so (`Op.fingerprinted`):
#: secrets, and what may differ between retries of one request (a retry may come
#: through a fresh session of the account).
_NOT_FINGERPRINTED = frozenset({"token", "wsess_uid", "password", "new_password"})
_CREDENTIALS = ("wsess_uid", "token")
_REQ_ID = text(1, limits.REQ_ID_MAX)
#: `issubclass(kind, str)` as a function `map` calls in C (no generator per request).
_IS_STR_TYPE = str.__subclasscheck__


#: Fingerprints already worked out, by op and fingerprinted fields (`_fingerprint_key`):
#: many requests repeat one (a deposit of the same coin, a buy of the same product by
#: any buyer), and each costs a JSON text and a SHA-256. Emptied when it reaches
#: `FINGERPRINTS_KEPT` entries.
_FINGERPRINTS: dict[tuple[object, ...], str] = {}
FINGERPRINTS_KEPT = 4096


def _fingerprint_key(op: str, body: Mapping[str, Any]) -> tuple[object, ...] | None:
    """The key of `_FINGERPRINTS` for these fields, None when one is not a plain str or
    int. The type is part of the key: values a dict takes for one key (1, True, 1.0)
    have different JSON texts."""
    key: list[object] = [op]
    for name, value in body.items():
        kind = type(value)
        if kind is not str and kind is not int:
            return None
        key += (name, kind, value)
    return tuple(key)


@quick_init
@dataclass(frozen=True, slots=True)
class Request:
    """A checked request. `args` holds only the fields its op knows."""

    op: str
    args: Mapping[str, Any]
    req_id: str | None = None
    #: `fingerprint()`, once computed (not part of the request's value).
    _fp: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def wsess_uid(self) -> str:
        return str(self.args.get("wsess_uid", ""))

    @property
    def token(self) -> str:
        return str(self.args.get("token", ""))

    def fingerprint(self) -> str:
        """Identify "the same request" for idempotent retries (secrets left out).

        Computed once per request, kept in its `_fp` slot (not a `cached_property`,
        whose first read takes a lock: a request is read once or twice, so that
        first read is most of its cost)."""
        kept = self._fp
        if kept is None:
            named = TABLE[self.op].fingerprinted
            body = {k: v for k, v in self.args.items()
                    if k not in _NOT_FINGERPRINTED or k in named}
            key = _fingerprint_key(self.op, body)
            kept = _FINGERPRINTS.get(key) if key is not None else None
            if kept is None:
                kept = hashlib.sha256(canonical([self.op, body]).encode()).hexdigest()
                if key is not None:
                    if len(_FINGERPRINTS) >= FINGERPRINTS_KEPT:
                        _FINGERPRINTS.clear()
                    _FINGERPRINTS[key] = kept
            object.__setattr__(self, "_fp", kept)  # a cache: the request stays the same
        return kept

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
    if not ((type(message) is dict or isinstance(message, Mapping))
            and all(map(_IS_STR_TYPE, set(map(type, message))))):
        raise BadRequest("request must be a map with string keys")
    op = message.get("op")
    if not isinstance(op, str):
        raise BadRequest("op is missing or not a string")
    row = TABLE.get(op)
    if row is None:
        raise BadRequest(f"op {op[:40]!r} is unknown")
    req_id = message.get("req_id")
    if req_id is not None:
        _REQ_ID("req_id", req_id)
    args: dict[str, Any] = {}
    for name, check in row.required.items():
        if name not in message:
            raise BadRequest(f"{name} is missing")
        args[name] = check(name, message[name])
    for name, check in row.optional.items():
        if name in message and message[name] is not None:
            args[name] = check(name, message[name])
    if row.shape is not None:
        row.shape(args)
    if row.session:
        for name in _CREDENTIALS:
            value = message.get(name)
            if value is not None and not isinstance(value, str):
                raise BadRequest(f"{name} must be a string")
        for name in _CREDENTIALS:
            value = message.get(name)
            if not value or len(value) > limits.CREDENTIAL_MAX:
                raise Unauthorized(f"{name} is missing, empty or unknown")
            args[name] = value
    return Request(op, args, req_id)
