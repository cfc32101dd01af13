"""A Python client for the vending front door.

One `Client` per thread (it owns a ZeroMQ REQ socket). A failed reply raises
a `VendingError` subclass carrying the code in docs/protocol.md. Requests that
change state get a `req_id` unless you give one, and every retry reuses it, so
a retry after a timeout or `UNAVAILABLE` never applies an effect twice.
Retries follow the ZeroMQ Guide's Lazy Pirate (`transport.protocol.Retry`).
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

import zmq

from vending.errors import VendingError

from .protocol import (
    DEFAULT_BACKOFF,
    DEFAULT_ENDPOINT,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    Call,
    LazyReq,
    NoReply,
    Product,
    Retry,
    SessionState,
    checked,
    worst_case,
)
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

__all__ = ["DEFAULT_ENDPOINT", "Client", "NoReply", "Product", "VendingError"]

T = TypeVar("T")


class Client(SessionState):
    """Talks to one front door; remembers the session after `register`/`login`.

    Each request is tried up to `retries` + 1 times, waiting `timeout` seconds
    for each try's reply, with a jittered pause before each retry (at most
    `backoff`, then doubling, never over `MAX_PAUSE`). With no server answering,
    a call raises `NoReply` after at most `worst_case_seconds`: 4.2 s with the
    defaults (2 tries of 2 s). Give more for a program that would rather wait,
    e.g. `Client(ep, timeout=5, retries=3)` (21.4 s at worst).
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, *, context: zmq.Context[Any] | None = None,
                 timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                 backoff: float = DEFAULT_BACKOFF, server_key: bytes | None = None,
                 client_key: tuple[bytes, bytes] | None = None) -> None:
        super().__init__()
        self.endpoint = endpoint
        self._own_ctx = context is None
        self._ctx = context or zmq.Context()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        #: The server's CurveZMQ public key (Z85): set it to talk to a `--curve-secret` server.
        self.server_key = server_key
        #: `client_key`: this client's (public, secret) CurveZMQ pair, for a server
        #: started with --curve-clients (read a NAME.key_secret from `vending keygen` with
        #: `actors.system.load_curve_keypair`).
        self._req = LazyReq(self._ctx, client_key)

    @property
    def worst_case_seconds(self) -> float:
        """The longest a call takes when no server answers (every try and pause)."""
        return worst_case(self.timeout, self.retries, self.backoff)

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request map, return the reply map as it came (ok or not).

        Retries on timeout and on `UNAVAILABLE` (same bytes, same req_id), at most
        `retries` times, after a jittered pause.

        Raises:
            NoReply: nothing came back after all tries (an `Unavailable`).
        """
        retry = Retry(message, self.retries, self.backoff)
        for pause in retry.pauses():
            if pause:
                time.sleep(pause)
            sock = self._req.get(self.endpoint, self.server_key)
            sock.send(retry.frame)
            if sock.poll(int(self.timeout * 1000), zmq.POLLIN) and retry.final(sock.recv()):
                break
            self._req.drop()
        return retry.result(self.endpoint)

    def _run(self, call: Call[T]) -> T:
        return call.result(checked(self.request(call.message)))

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send `op` with `fields` (None values left out); raise on a failed reply."""
        return self._run(self._call(op, **fields))

    # -- operations ------------------------------------------------------------
    def register(self, username: str, password: str, role: str = "buyer",
                 req_id: str | None = None) -> AuthReply:
        return self._run(self._register(username, password, role, req_id))

    def login(self, username: str, password: str, role: str = "buyer",
              req_id: str | None = None) -> AuthReply:
        return self._run(self._login(username, password, role, req_id))

    def deposit(self, amount: int, req_id: str | None = None) -> int:
        return self._run(self._deposit(amount, req_id))

    def buy(self, product_uid: str, amount: int = 1, req_id: str | None = None) -> Purchase:
        return self._run(self._buy(product_uid, amount, req_id))

    def sell(self, product_name: str, cost: int, amount: int,
             req_id: str | None = None) -> Product:
        return self._run(self._sell(product_name=product_name, cost=cost, amount=amount,
                                    req_id=req_id))

    def update_product(self, product_uid: str, *, product_name: str | None = None,
                       cost: int | None = None, amount: int | None = None,
                       req_id: str | None = None) -> Product:
        return self._run(self._sell(product_uid=product_uid, product_name=product_name,
                                    cost=cost, amount=amount, req_id=req_id))

    def delete_product(self, product_uid: str, req_id: str | None = None) -> str:
        return self._run(self._delete_product(product_uid, req_id))

    def reset(self, req_id: str | None = None) -> list[int]:
        return self._run(self._reset(req_id))

    def products(self, seller_uid: str | None = None) -> list[Product]:
        return self._run(self._products(seller_uid))

    def find_products(self, name: str | None = None, *, seller_uid: str | None = None,
                        after: str | None = None, limit: int = 100) -> ProductPage:
        """One page of products by product_uid, past `after`, whose names hold `name`
        (case-insensitive); with `more`, the next page is
        `after=page["products"][-1]["product_uid"]`."""
        return self._run(self._find_products(name, seller_uid, after, limit))

    def change_password(self, password: str, new_password: str,
                        req_id: str | None = None) -> int:
        """Change the account's password; the other sessions end (their count
        is returned), this one stays."""
        return self._run(self._change_password(password, new_password, req_id))

    def history(self, before: int | None = None, limit: int | None = None) -> HistoryPage:
        """The account's own entries, newest first, older than the entry id `before`;
        with `more`, the next page is `before=page["entries"][-1]["id"]`."""
        return self._run(self._history(before, limit))

    def health(self) -> Health:
        """Every part's state as the front door sees it (`status`: ok / degraded)."""
        return self._run(self._health())

    def product(self, product_uid: str) -> Product:
        return self._run(self._product(product_uid))

    def profile(self) -> Profile:
        return self._run(self._profile())

    def logout(self, req_id: str | None = None) -> int:
        return self._run(self._logout("logout", req_id))

    def logout_all(self, req_id: str | None = None) -> int:
        return self._run(self._logout("logout_all", req_id))

    def delete_user(self, password: str, req_id: str | None = None) -> UserDeleted:
        return self._run(self._delete_user(password, req_id))

    def events(self, source: str, since: int = 0, limit: int = 100) -> EventsPage:
        """Stored events of `source` with seq > `since`: {events, last_seq}
        (docs/protocol.md §6a)."""
        return self._run(self._events(source, since, limit))

    def ping(self) -> str:
        return self._run(self._ping())

    def close(self) -> None:
        self._req.drop()
        if self._own_ctx:
            self._ctx.term()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
