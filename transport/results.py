"""What the clients' typed operations return (docs/protocol.md, section 6).

The rule, the same for `Client`, `AsyncClient` and the Node client: an op whose
reply carries one value the caller wants returns that value (`deposit` the new
deposit as an int, `reset` the change as a list of coins, `logout` how many
sessions ended, `sell` the `Product`); any other returns its whole reply, typed
here as a `TypedDict`: a plain dict at run time (`bought["change"]`, as before),
with its keys known to a type checker and an editor. `ok` and an echoed `req_id`
are in the dict too, as they came.
"""

# No `from __future__ import annotations` here: Python 3.11's TypedDict cannot see
# NotRequired[...] in a string annotation, and would make every key required.
from typing import Any, NotRequired, TypedDict

__all__ = ["AuthReply", "EventsPage", "Health", "HistoryPage", "PartHealth", "ProductPage",
           "Profile", "Purchase", "UserDeleted"]


class AuthReply(TypedDict):
    """`register` and `login`."""

    ok: bool
    token: str
    wsess_uid: str
    user_uid: str
    role: str
    deposit: int
    #: On login: the account's other live sessions, and a notice when > 0.
    active_sessions: NotRequired[int]
    notice: NotRequired[str]
    req_id: NotRequired[str]


class Purchase(TypedDict):
    """`buy`."""

    ok: bool
    product_uid: str
    product_name: str
    amount: int
    spent: int
    change: list[int]
    deposit: int
    req_id: NotRequired[str]


class Profile(TypedDict):
    """`profile`."""

    ok: bool
    user_uid: str
    username: str
    role: str
    deposit: int
    active_sessions: int


class UserDeleted(TypedDict):
    """`delete_user`."""

    ok: bool
    user_uid: str
    change: list[int]
    req_id: NotRequired[str]


class EventsPage(TypedDict):
    """`events`: stored events after `since`, oldest first, and the newest seq."""

    ok: bool
    events: list[dict[str, Any]]
    last_seq: int


class ProductPage(TypedDict):
    """`products` with `limit` (`find_products`): a page, and whether more follow."""

    ok: bool
    products: list[Any]  # Product maps (transport/protocol.py)
    more: bool


class HistoryPage(TypedDict):
    """`history`: the account's own entries, newest first, and whether older ones follow.
    Each entry is `{id, kind, at, ...}` (docs/protocol.md, section 6)."""

    ok: bool
    entries: list[dict[str, Any]]
    more: bool


class PartHealth(TypedDict):
    up: bool
    storage: str
    last_heard_ms: int


class Health(TypedDict):
    """`health`: `status` "ok" or "degraded", each part, live sessions, requests in
    flight, and each event source's last seq."""

    ok: bool
    status: str
    parts: dict[str, PartHealth]
    sessions: int
    in_flight: int
    last_seq: dict[str, int]
