"""The one table of ops: each row is everything the code knows about one client op.

A row says:

* `required`, `optional`, `shape`: its fields and their checks (vending/checks.py),
  run by `parse_request` (vending/requests.py);
* `caller`: who may call it: `anyone`, any logged-in `session`, only a `buyer`,
  only a `seller`. The owner's controller decides it from here and from nowhere
  else (the refusal reads "only <caller>s can <verb>");
* `owner`, `fifo`, `roles`: which actor answers it, the fifo that carries it there,
  and the roles that must be alive for it (the front door refuses at once if not);
* `path`: how it reaches its rule: `here` (its owner answers alone), `authorize`
  (the stock handler asks the gatekeeper whether the caller may, then runs the
  rule), `saga` (the purchase saga, vending/purchase.py);
* `changes_state` (else read-only: runs again freely, ignores req_id),
  `ends_session`, `opens_session`, `password` (argon2 work before its rule);
* the replay policy's facts (vending/idempotency.py): `kept` (what is kept under
  a req_id), `unkept` (refusals never kept), `fingerprinted` (fields that are
  usually left out of a request's fingerprint but identify this op's requests);
* `rule`: the function that answers it, called as `rule(owner_state, call)`.

Adding an op is one row here and one rule function (docs/design.md, "One op, one row").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal

from . import account_rules, checks, events, health, info, limits, login, purchase, stock_rules

__all__ = ["FIFO_FOR_OP", "OPS", "ROLES_FOR_OP", "SESSION_OPS", "SOURCE_FIFO",
           "STATE_CHANGING_OPS", "TABLE", "Caller", "Op", "ops_of", "route"]

#: "source": the role the request's `source` field names (the `events` op).
Owner = Literal["gatekeeper", "stock-handler", "frontdoor", "source"]
Fifo = Literal["auth", "deposit", "post"]
Caller = Literal["anyone", "session", "buyer", "seller"]
Path = Literal["here", "authorize", "saga"]
#: `rule(owner_state, call)`: the owner's controller (vending/gate.py's `Gate`,
#: vending/stock.py's `Stock`; None for the front door) and a vending/call.py `Call`.
Rule = Callable[[Any, Any], Any]

_GK: tuple[str, ...] = ("gatekeeper",)
_SH: tuple[str, ...] = ("stock-handler",)
_BOTH: tuple[str, ...] = ("stock-handler", "gatekeeper")


@dataclass(frozen=True)
class Op:
    """One client op (the module docstring says what each field means)."""

    owner: Owner
    fifo: Fifo | None
    roles: tuple[str, ...]
    caller: Caller
    rule: Rule
    required: Mapping[str, checks.Check] = field(default_factory=dict)
    optional: Mapping[str, checks.Check] = field(default_factory=dict)
    shape: Callable[[Mapping[str, Any]], None] | None = None
    path: Path = "here"
    changes_state: bool = False
    ends_session: bool = False
    opens_session: bool = False
    password: bool = False
    verb: str = "do this"
    kept: Literal["final", "successes"] = "final"
    unkept: frozenset[str] = frozenset()
    fingerprinted: frozenset[str] = frozenset()

    # Read several times per request: worked out once per op (a row never changes).
    @cached_property
    def session(self) -> bool:
        """Needs a live session: the request carries `wsess_uid` and `token`."""
        return self.caller != "anyone"

    @cached_property
    def read_only(self) -> bool:
        return not self.changes_state


TABLE: Mapping[str, Op] = MappingProxyType({
    "ping": Op("frontdoor", None, (), "anyone", info.ping),
    "products": Op("stock-handler", "post", _SH, "anyone", stock_rules.products,
                   optional={"seller_uid": checks.text(1, limits.SELLER_UID_MAX),
                             "name": checks.text(1, limits.PRODUCT_NAME_MAX),
                             "after": checks.product_uid,
                             "limit": checks.integer(1, limits.PRODUCTS_LIMIT_MAX)}),
    "product": Op("stock-handler", "post", _SH, "anyone", stock_rules.product,
                  required={"product_uid": checks.product_uid}),
    "events": Op("source", None, (), "anyone", events.read,
                 required={"source": checks.one_of("gatekeeper", "stock-handler")},
                 optional={"since": checks.integer(0, limits.SEQ_MAX),
                           "limit": checks.integer(1, limits.EVENTS_LIMIT_MAX)}),
    # Only successful logins are kept, their token sealed under the password; the
    # token field names the kind of auth here, not a secret.
    "auth": Op("gatekeeper", "auth", _GK, "anyone", login.auth, changes_state=True,
               opens_session=True, password=True, kept="successes",
               fingerprinted=frozenset({"token"}),
               required={"token": checks.auth_kind, "username": checks.username,
                         "password": checks.password}),
    "profile": Op("gatekeeper", "auth", _GK, "session", account_rules.profile),
    "history": Op("gatekeeper", "auth", _GK, "session", account_rules.history,
                  optional={"before": checks.integer(1, limits.ID_MAX),
                            "limit": checks.integer(1, limits.HISTORY_LIMIT_MAX)}),
    # Like delete_user: a wrong password applied nothing and neither password is part of
    # the fingerprint, so a corrected retry under the same req_id runs.
    "change_password": Op("gatekeeper", "auth", _GK, "session", account_rules.change_password,
                          changes_state=True, password=True,
                          unkept=frozenset({"INVALID_CREDENTIALS"}),
                          required={"password": checks.password,
                                    "new_password": checks.password}),
    "health": Op("frontdoor", None, (), "anyone", health.health),
    # A logout under a req_id another session used is a different request, not a replay.
    "logout": Op("gatekeeper", "auth", _GK, "session", account_rules.logout,
                 changes_state=True, ends_session=True, fingerprinted=frozenset({"wsess_uid"})),
    "logout_all": Op("gatekeeper", "auth", _GK, "session", account_rules.logout_all,
                     changes_state=True, ends_session=True,
                     fingerprinted=frozenset({"wsess_uid"})),
    # A wrong password applied nothing, and the password is no part of the fingerprint,
    # so a corrected retry under the same req_id runs.
    "delete_user": Op("gatekeeper", "auth", ("gatekeeper", "stock-handler"), "session",
                      account_rules.delete_user, changes_state=True, ends_session=True,
                      password=True, unkept=frozenset({"INVALID_CREDENTIALS"}),
                      required={"password": checks.password}),
    "deposit": Op("gatekeeper", "deposit", _GK, "buyer", account_rules.deposit,
                  changes_state=True, verb="deposit", required={"amount": checks.any_int}),
    "reset": Op("gatekeeper", "deposit", _GK, "buyer", account_rules.reset,
                changes_state=True, verb="reset a deposit"),
    "buy": Op("stock-handler", "post", _BOTH, "buyer", purchase.reserve, path="saga",
              changes_state=True, verb="buy",
              required={"product_uid": checks.product_uid,
                        "amount": checks.integer(1, limits.UNITS_MAX)}),
    "sell": Op("stock-handler", "post", _BOTH, "seller", stock_rules.sell, path="authorize",
               changes_state=True, shape=checks.sell_shape,
               optional={"product_uid": checks.product_uid,
                         "product_name": checks.product_name,
                         "cost": checks.any_int,
                         "amount": checks.integer(-limits.UNITS_MAX, limits.UNITS_MAX)}),
    "delete_product": Op("stock-handler", "post", _BOTH, "seller", stock_rules.delete_product,
                         path="authorize", changes_state=True,
                         required={"product_uid": checks.product_uid}),
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
