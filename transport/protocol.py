"""The client side of docs/protocol.md, with no I/O of its own.

What every client of the front door shares whatever moves its bytes: the typed
operations as `Call`s (the request map and how to read its reply), the session
they carry, the `req_id` given to ops that change state, the Lazy Pirate retry
policy, turning a failed reply into its `VendingError`, and the REQ socket a
retry throws away. `transport.client`
(blocking) and `transport.aio` (asyncio) only send frames and wait for replies.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar, cast

import zmq

from vending.errors import Unavailable, error_for_code
from vending.ops import STATE_CHANGING_OPS, TABLE

from .codec import DecodeError, decode_map, encode
from .results import (
    AuthReply,
    EventsPage,
    Health,
    HistoryPage,
    ProductPage,
    Profile,
    Purchase,
    UserDeleted,
)

__all__ = ["DEFAULT_BACKOFF", "DEFAULT_ENDPOINT", "DEFAULT_RETRIES", "DEFAULT_TIMEOUT",
           "MAX_PAUSE", "Call", "LazyReq", "NoReply", "Product", "Retry", "SessionState",
           "worst_case"]

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"

#: The clients' defaults, for a person waiting at a prompt: a missing server is
#: reported within `worst_case()` = 2 x 2.0 + 0.2 = 4.2 s (docs/protocol.md,
#: "Timeouts and retries"). A program that would rather wait gives its own.
DEFAULT_TIMEOUT, DEFAULT_RETRIES, DEFAULT_BACKOFF = 2.0, 1, 0.2
#: No pause between tries is ever longer, however many retries are asked for.
MAX_PAUSE = 2.0


def worst_case(timeout: float, retries: int, backoff: float) -> float:
    """The longest one request can take with no server answering: every try's
    `timeout` plus every pause at its bound."""
    return (retries + 1) * timeout + sum(_bound(backoff, n) for n in range(1, retries + 1))


def _bound(backoff: float, retry: int) -> float:
    """The longest pause before retry number `retry` (1, 2, ...): exponential, capped."""
    return min(MAX_PAUSE, backoff * float(2 ** min(retry - 1, 30)))

T = TypeVar("T")
S = TypeVar("S", bound=zmq.Socket[Any])


#: Jitter needs no reproducibility, only independence between clients.
_RNG = random.Random()


class Product(TypedDict):
    product_uid: str
    seller_uid: str
    product_name: str
    cost: int
    amount: int


class NoReply(Unavailable):
    """Nothing usable came back at all: most likely no server at that endpoint."""


class LazyReq(Generic[S]):
    """A REQ socket opened on first use and dropped after a failed try (a REQ socket
    that got no reply cannot send again); from a blocking or an asyncio context.

    `client_key`: this client's CurveZMQ (public, secret) pair, for a server that
    admits only known clients (`serve --curve-clients`); else a fresh pair per socket.
    """

    def __init__(self, ctx: zmq.Context[S],
                 client_key: tuple[bytes, bytes] | None = None) -> None:
        self._ctx = ctx
        self._client_key = client_key
        self._sock: S | None = None

    def get(self, endpoint: str, server_key: bytes | None) -> S:
        if self._sock is None:
            sock = self._ctx.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)  # an abandoned try must not hold the close
            if server_key is not None:
                sock.curve_serverkey = server_key
                sock.curve_publickey, sock.curve_secretkey = \
                    self._client_key or zmq.curve_keypair()
            sock.connect(endpoint)
            self._sock = sock
        return self._sock

    def drop(self) -> None:
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None


def checked(reply: dict[str, Any]) -> dict[str, Any]:
    """The reply if it is a success; else raise the `VendingError` it names."""
    if not reply.get("ok"):
        raise error_for_code(str(reply.get("error")), str(reply.get("message", "")))
    return reply


class Retry:
    """One request's tries, the Lazy Pirate way (ZeroMQ Guide, lpclient).

    For each pause from `pauses()`: wait it, send `frame` on a fresh or reusable
    socket, wait up to the timeout; hand what came back (or None) to `final`; if it
    is not final, drop the socket. Then `result` is the reply or raises `NoReply`.
    Every try sends the same bytes, so the same `req_id`: a retry never applies an
    effect twice.

    The pause before retry n is drawn uniformly from [0, min(MAX_PAUSE,
    backoff * 2**(n-1))] ("full jitter"): clients that timed out together spread
    their retries out instead of hitting a loaded server again together.
    """

    def __init__(self, message: dict[str, Any], retries: int, backoff: float,
                 rng: random.Random | None = None) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if message.get("op") in STATE_CHANGING_OPS and "req_id" not in message:
            message = {**message, "req_id": uuid.uuid4().hex}
        self.frame = encode(message)
        self.tries = retries + 1
        self._backoff = backoff
        self._rng = rng or _RNG
        self._reply: dict[str, Any] | None = None

    def pauses(self) -> Iterator[float]:
        """The pause before each try: none before the first."""
        yield 0.0
        for retry in range(1, self.tries):
            yield self._rng.uniform(0.0, _bound(self._backoff, retry))

    def final(self, data: bytes | None) -> bool:
        """Take one try's answer; True when it needs no retry (anything but UNAVAILABLE)."""
        if data is None:
            return False
        try:
            reply = decode_map(data, max_bytes=1 << 30)
        except DecodeError:
            return False
        self._reply = reply
        return reply.get("error") != "UNAVAILABLE"

    def result(self, endpoint: str) -> dict[str, Any]:
        if self._reply is None:
            raise NoReply(f"no reply from {endpoint} after {self.tries} tries; "
                          "is `vending serve` running there?")
        return self._reply


@dataclass(frozen=True)
class Call(Generic[T]):
    """One operation: the request map, and what the caller gets from its reply."""

    message: dict[str, Any]
    result: Callable[[dict[str, Any]], T]


def _message(op: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"op": op, **{k: v for k, v in fields.items() if v is not None}}


def _whole(reply: dict[str, Any]) -> dict[str, Any]:
    return reply


R = TypeVar("R")


def _typed(call: Call[dict[str, Any]], kind: type[R]) -> Call[R]:
    """`call`, its reply given the `TypedDict` the protocol promises (transport/results.py)."""
    return Call(call.message, cast(Callable[[dict[str, Any]], R], call.result))


class SessionState:
    """The session a client carries, and the calls of every op (sans I/O)."""

    def __init__(self) -> None:
        self.wsess_uid: str | None = None
        self.token: str | None = None
        self.user_uid: str | None = None
        self.role: str | None = None

    def _call(self, op: str, **fields: Any) -> Call[dict[str, Any]]:
        return Call(_message(op, fields), _whole)

    def _session_call(self, op: str, **fields: Any) -> Call[dict[str, Any]]:
        """A call in this session; an op whose row ends the session forgets it once
        answered."""
        call = self._call(op, wsess_uid=self.wsess_uid or "", token=self.token or "", **fields)
        if not TABLE[op].ends_session:
            return call

        def ended(reply: dict[str, Any]) -> dict[str, Any]:
            self.wsess_uid = self.token = None
            return reply
        return Call(call.message, ended)

    def _auth_call(self, kind: str, username: str, password: str,
                   req_id: str | None) -> Call[dict[str, Any]]:
        def logged_in(reply: dict[str, Any]) -> dict[str, Any]:
            self.wsess_uid, self.token = reply["wsess_uid"], reply["token"]
            self.user_uid, self.role = reply["user_uid"], reply["role"]
            return reply
        return Call(_message("auth", {"token": kind, "username": username,
                                      "password": password, "req_id": req_id}), logged_in)

    # The typed operations, shared by the blocking and the asyncio client.
    def _register(self, username: str, password: str, role: str,
                  req_id: str | None) -> Call[AuthReply]:
        return _typed(self._auth_call(f"new_{role}", username, password, req_id), AuthReply)

    def _login(self, username: str, password: str, role: str,
               req_id: str | None) -> Call[AuthReply]:
        return _typed(self._auth_call(role, username, password, req_id), AuthReply)

    def _deposit(self, amount: int, req_id: str | None) -> Call[int]:
        return Call(self._session_call("deposit", amount=amount, req_id=req_id).message,
                    lambda r: int(r["deposit"]))

    def _buy(self, product_uid: str, amount: int, req_id: str | None) -> Call[Purchase]:
        return _typed(self._session_call("buy", product_uid=product_uid, amount=amount,
                                         req_id=req_id), Purchase)

    def _sell(self, **fields: Any) -> Call[Product]:
        return Call(self._session_call("sell", **fields).message, _product)

    def _delete_product(self, product_uid: str, req_id: str | None) -> Call[str]:
        return Call(self._session_call("delete_product", product_uid=product_uid,
                                       req_id=req_id).message, lambda r: str(r["product_uid"]))

    def _reset(self, req_id: str | None) -> Call[list[int]]:
        return Call(self._session_call("reset", req_id=req_id).message,
                    lambda r: list(r["change"]))

    def _products(self, seller_uid: str | None) -> Call[list[Product]]:
        return Call(_message("products", {"seller_uid": seller_uid}),
                    lambda r: list(r["products"]))

    def _find_products(self, name: str | None, seller_uid: str | None, after: str | None,
                       limit: int) -> Call[ProductPage]:
        return _typed(Call(_message("products", {"name": name, "seller_uid": seller_uid,
                                                 "after": after, "limit": limit}),
                           _whole), ProductPage)

    def _change_password(self, password: str, new_password: str,
                         req_id: str | None) -> Call[int]:
        return Call(self._session_call("change_password", password=password,
                                       new_password=new_password, req_id=req_id).message,
                    lambda r: int(r["ended"]))

    def _history(self, before: int | None, limit: int | None) -> Call[HistoryPage]:
        return _typed(self._session_call("history", before=before, limit=limit), HistoryPage)

    def _health(self) -> Call[Health]:
        return _typed(self._call("health"), Health)

    def _product(self, product_uid: str) -> Call[Product]:
        return Call(_message("product", {"product_uid": product_uid}), _product)

    def _profile(self) -> Call[Profile]:
        return _typed(self._session_call("profile"), Profile)

    def _logout(self, op: str, req_id: str | None) -> Call[int]:
        call = self._session_call(op, req_id=req_id)
        return Call(call.message, lambda r: int(call.result(r)["ended"]))

    def _delete_user(self, password: str, req_id: str | None) -> Call[UserDeleted]:
        return _typed(self._session_call("delete_user", password=password, req_id=req_id),
                      UserDeleted)

    def _events(self, source: str, since: int, limit: int) -> Call[EventsPage]:
        return _typed(Call(_message("events", {"source": source, "since": since,
                                               "limit": limit}), _whole), EventsPage)

    def _ping(self) -> Call[str]:
        return Call(_message("ping", {}), lambda r: str(r["version"]))


def _product(reply: dict[str, Any]) -> Product:
    return reply["product"]  # type: ignore[no-any-return]
