"""The one table of ops: what each client op is, in one place.

For every op: its fields and their checks, whether it needs a session,
whether it changes state, which actor owns it, which fifo carries it there
and which roles must be alive for it. `parse_request` (vending/requests.py),
the front door's routing and the actors all read it from here.

The field checks are defined in vending/requests.py, beside the parser that
runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from . import limits
from .requests import (
    Check,
    _any_int,
    _auth_kind,
    _int,
    _one_of,
    _password,
    _product_name,
    _product_uid,
    _str,
    _username,
)

__all__ = ["FIFO_FOR_OP", "OPS", "ROLES_FOR_OP", "SESSION_OPS", "SOURCE_FIFO",
           "STATE_CHANGING_OPS", "TABLE", "Op", "ops_of", "route"]

#: "source": the role the request's `source` field names (the `events` op).
Owner = Literal["gatekeeper", "stock-handler", "frontdoor", "source"]
Fifo = Literal["auth", "deposit", "post"]

_GK: tuple[str, ...] = ("gatekeeper",)
_SH: tuple[str, ...] = ("stock-handler",)
_BOTH: tuple[str, ...] = ("stock-handler", "gatekeeper")


@dataclass(frozen=True)
class Op:
    """One client op.

    `fifo` is the config name of the fifo that carries it to `owner` (None:
    the front door answers it itself, or, for owner "source", `SOURCE_FIFO`
    says); `roles` must all be alive for it, or the front door refuses at once.
    """

    owner: Owner
    fifo: Fifo | None
    roles: tuple[str, ...]
    required: Mapping[str, Check] = field(default_factory=dict)
    optional: Mapping[str, Check] = field(default_factory=dict)
    session: bool = False
    changes_state: bool = False


TABLE: Mapping[str, Op] = MappingProxyType({
    "ping": Op("frontdoor", None, ()),
    "products": Op("stock-handler", "post", _SH,
                   optional={"seller_uid": _str(1, limits.SELLER_UID_MAX)}),
    "product": Op("stock-handler", "post", _SH, required={"product_uid": _product_uid}),
    "events": Op("source", None, (), required={"source": _one_of("gatekeeper", "stock-handler")},
                 optional={"since": _int(0, limits.SEQ_MAX),
                           "limit": _int(1, limits.EVENTS_LIMIT_MAX)}),
    "auth": Op("gatekeeper", "auth", _GK, changes_state=True,
               required={"token": _auth_kind, "username": _username, "password": _password}),
    "profile": Op("gatekeeper", "auth", _GK, session=True),
    "logout": Op("gatekeeper", "auth", _GK, session=True, changes_state=True),
    "logout_all": Op("gatekeeper", "auth", _GK, session=True, changes_state=True),
    "delete_user": Op("gatekeeper", "auth", ("gatekeeper", "stock-handler"), session=True,
                      changes_state=True, required={"password": _password}),
    "deposit": Op("gatekeeper", "deposit", _GK, session=True, changes_state=True,
                  required={"amount": _any_int}),
    "reset": Op("gatekeeper", "deposit", _GK, session=True, changes_state=True),
    "buy": Op("stock-handler", "post", _BOTH, session=True, changes_state=True,
              required={"product_uid": _product_uid, "amount": _int(1, limits.UNITS_MAX)}),
    "sell": Op("stock-handler", "post", _BOTH, session=True, changes_state=True,
               optional={"product_uid": _product_uid,
                         "product_name": _product_name,
                         "cost": _any_int,
                         "amount": _int(-limits.UNITS_MAX, limits.UNITS_MAX)}),
    "delete_product": Op("stock-handler", "post", _BOTH, session=True, changes_state=True,
                         required={"product_uid": _product_uid}),
})


def ops_of(owner: Owner, *, session: bool | None = None) -> frozenset[str]:
    """The ops `owner` answers (only those with or without a session, if given)."""
    return frozenset(name for name, op in TABLE.items()
                     if op.owner == owner and session in (None, op.session))


OPS = frozenset(TABLE)
SESSION_OPS = frozenset(name for name, op in TABLE.items() if op.session)
STATE_CHANGING_OPS = frozenset(name for name, op in TABLE.items() if op.changes_state)
#: Which fifo (by config name) carries each client op, per the seed's diagram.
FIFO_FOR_OP: Mapping[str, str] = MappingProxyType(
    {name: op.fifo for name, op in TABLE.items() if op.fifo is not None})
#: The roles each op needs alive; the front door refuses at once when one is gone.
ROLES_FOR_OP: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {name: op.roles for name, op in TABLE.items()})
#: The fifo that carries an op owned by "source" to the role it names.
SOURCE_FIFO: Mapping[str, Fifo] = MappingProxyType({"gatekeeper": "auth",
                                                   "stock-handler": "post"})


def route(op: str, args: Mapping[str, object]) -> tuple[str | None, tuple[str, ...]]:
    """The fifo (config name; None: the front door answers) and the roles needed alive,
    for one checked request."""
    spec = TABLE[op]
    if spec.owner == "source":
        source = str(args["source"])
        return SOURCE_FIFO[source], (source,)
    return spec.fifo, spec.roles
