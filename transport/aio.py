"""An asyncio client for the vending front door (zmq.asyncio), for asyncio programs.

The same typed methods, `VendingError`s and safe retries as `transport.Client`:
both are built on `transport.protocol`, this one only awaits instead of blocking.
Concurrent calls on one `AsyncClient` take turns (one REQ socket, one request at
a time); open one client per concurrent conversation for parallelism. A call
cancelled while waiting drops its socket, so the next call starts clean.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import zmq
import zmq.asyncio

from .protocol import (
    DEFAULT_BACKOFF,
    DEFAULT_ENDPOINT,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    Call,
    LazyReq,
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

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(SessionState):
    """Talks to one front door from an event loop; remembers the session after login.

    `context` may be a plain `zmq.Context` (e.g. an embedded `VendingSystem`'s, for
    its inproc endpoint): it is shadowed, never terminated here. `timeout`,
    `retries` and `backoff` work as in `transport.Client`: with no server
    answering, a call raises `NoReply` after at most `worst_case_seconds` (4.2 s
    with the defaults).
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, *,
                 context: zmq.Context[Any] | None = None,
                 timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
                 backoff: float = DEFAULT_BACKOFF, server_key: bytes | None = None,
                 client_key: tuple[bytes, bytes] | None = None) -> None:
        super().__init__()
        self.endpoint = endpoint
        self._own_ctx = context is None
        if context is None:
            self._ctx = zmq.asyncio.Context()
        elif isinstance(context, zmq.asyncio.Context):
            self._ctx = context
        else:
            self._ctx = zmq.asyncio.Context.shadow(context)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.server_key = server_key
        #: `client_key`: this client's (public, secret) CurveZMQ pair, for a server
        #: started with --curve-clients (read a NAME.key_secret from `vending keygen` with
        #: `actors.system.load_curve_keypair`).
        self._req = LazyReq(self._ctx, client_key)
        self._turn = asyncio.Lock()

    @property
    def worst_case_seconds(self) -> float:
        """The longest a call takes when no server answers (every try and pause)."""
        return worst_case(self.timeout, self.retries, self.backoff)

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request map, return the reply map as it came (ok or not).

        Retries on timeout and on `UNAVAILABLE` (same bytes, same req_id), at most
        `retries` times, after a jittered pause.

        Raises:
            NoReply: nothing came back after all tries (an `Unavailable`).
        """
        retry = Retry(message, self.retries, self.backoff)
        async with self._turn:
            try:
                for pause in retry.pauses():
                    if pause:
                        await asyncio.sleep(pause)
                    sock = self._req.get(self.endpoint, self.server_key)
                    await sock.send(retry.frame)
                    if (await sock.poll(int(self.timeout * 1000))
                            and retry.final(await sock.recv())):
                        break
                    self._req.drop()
            except BaseException:
                self._req.drop()  # cancelled mid-request: the socket's state is unknown
                raise
        return retry.result(self.endpoint)

    async def _run(self, call: Call[T]) -> T:
        return call.result(checked(await self.request(call.message)))

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send `op` with `fields` (None values left out); raise on a failed reply."""
        return await self._run(self._call(op, **fields))

    async def register(self, username: str, password: str, role: str = "buyer",
                       req_id: str | None = None) -> AuthReply:
        return await self._run(self._register(username, password, role, req_id))

    async def login(self, username: str, password: str, role: str = "buyer",
                    req_id: str | None = None) -> AuthReply:
        return await self._run(self._login(username, password, role, req_id))

    async def deposit(self, amount: int, req_id: str | None = None) -> int:
        return await self._run(self._deposit(amount, req_id))

    async def buy(self, product_uid: str, amount: int = 1,
                  req_id: str | None = None) -> Purchase:
        return await self._run(self._buy(product_uid, amount, req_id))

    async def sell(self, product_name: str, cost: int, amount: int,
                   req_id: str | None = None) -> Product:
        return await self._run(self._sell(product_name=product_name, cost=cost, amount=amount,
                                          req_id=req_id))

    async def update_product(self, product_uid: str, *, product_name: str | None = None,
                             cost: int | None = None, amount: int | None = None,
                             req_id: str | None = None) -> Product:
        return await self._run(self._sell(product_uid=product_uid, product_name=product_name,
                                          cost=cost, amount=amount, req_id=req_id))

    async def delete_product(self, product_uid: str, req_id: str | None = None) -> str:
        return await self._run(self._delete_product(product_uid, req_id))

    async def reset(self, req_id: str | None = None) -> list[int]:
        return await self._run(self._reset(req_id))

    async def products(self, seller_uid: str | None = None) -> list[Product]:
        return await self._run(self._products(seller_uid))

    async def find_products(self, name: str | None = None, *, seller_uid: str | None = None,
                        after: str | None = None, limit: int = 100) -> ProductPage:
        """One page of products by product_uid, past `after`, whose names hold `name`
        (case-insensitive); with `more`, the next page is
        `after=page["products"][-1]["product_uid"]`."""
        return await self._run(self._find_products(name, seller_uid, after, limit))

    async def change_password(self, password: str, new_password: str,
                        req_id: str | None = None) -> int:
        """Change the account's password; the other sessions end (their count
        is returned), this one stays."""
        return await self._run(self._change_password(password, new_password, req_id))

    async def history(self, before: int | None = None, limit: int | None = None) -> HistoryPage:
        """The account's own entries, newest first, older than the entry id `before`;
        with `more`, the next page is `before=page["entries"][-1]["id"]`."""
        return await self._run(self._history(before, limit))

    async def health(self) -> Health:
        """Every part's state as the front door sees it (`status`: ok / degraded)."""
        return await self._run(self._health())

    async def product(self, product_uid: str) -> Product:
        return await self._run(self._product(product_uid))

    async def profile(self) -> Profile:
        return await self._run(self._profile())

    async def logout(self, req_id: str | None = None) -> int:
        return await self._run(self._logout("logout", req_id))

    async def logout_all(self, req_id: str | None = None) -> int:
        return await self._run(self._logout("logout_all", req_id))

    async def delete_user(self, password: str, req_id: str | None = None) -> UserDeleted:
        return await self._run(self._delete_user(password, req_id))

    async def events(self, source: str, since: int = 0, limit: int = 100) -> EventsPage:
        """Stored events of `source` with seq > `since`: {events, last_seq}
        (docs/protocol.md §6a)."""
        return await self._run(self._events(source, since, limit))

    async def ping(self) -> str:
        return await self._run(self._ping())

    def close(self) -> None:
        self._req.drop()
        if self._own_ctx:
            self._ctx.term()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
