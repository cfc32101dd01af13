"""A Python client for the vending front door.

One `Client` per thread (it owns a ZeroMQ REQ socket). A failed reply raises
a `VendingError` subclass carrying the SPEC.md code. Requests that change
state get a `req_id` unless you give one, and every retry reuses it, so a
retry after a timeout or `UNAVAILABLE` never applies an effect twice.
Retries follow the ZeroMQ Guide's Lazy Pirate: poll with a timeout; on
timeout close the socket (LINGER 0), open a new one, send again.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, TypedDict

import zmq

from vending.errors import Unavailable, VendingError, error_for_code
from vending.requests import STATE_CHANGING_OPS

from .codec import DecodeError, decode_map, encode

__all__ = ["DEFAULT_ENDPOINT", "Client", "Product"]

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"


class Product(TypedDict):
    product_uid: str
    seller_uid: str
    product_name: str
    cost: int
    amount: int


class Client:
    """Talks to one front door; remembers the session after `register`/`login`."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, *, context: zmq.Context[Any] | None = None,
                 timeout: float = 5.0, retries: int = 3, backoff: float = 0.2,
                 server_key: bytes | None = None) -> None:
        self.endpoint = endpoint
        self._own_ctx = context is None
        self._ctx = context or zmq.Context()
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        #: The server's CurveZMQ public key (Z85): set it to talk to a `--curve-secret` server.
        self.server_key = server_key
        self._sock: zmq.Socket[Any] | None = None
        self.wsess_uid: str | None = None
        self.token: str | None = None
        self.user_uid: str | None = None
        self.role: str | None = None

    # -- plumbing ------------------------------------------------------------
    def _socket(self) -> zmq.Socket[Any]:
        if self._sock is None:
            self._sock = self._ctx.socket(zmq.REQ)
            self._sock.setsockopt(zmq.LINGER, 0)
            if self.server_key is not None:
                self._sock.curve_serverkey = self.server_key
                self._sock.curve_publickey, self._sock.curve_secretkey = zmq.curve_keypair()
            self._sock.connect(self.endpoint)
        return self._sock

    def _reset_socket(self) -> None:
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request map, return the reply map as it came (ok or not).

        Retries on timeout and on `UNAVAILABLE` (same bytes, same req_id).

        Raises:
            Unavailable: no usable answer after all retries.
        """
        if message.get("op") in STATE_CHANGING_OPS and "req_id" not in message:
            message = {**message, "req_id": uuid.uuid4().hex}
        frame = encode(message)
        reply: dict[str, Any] | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * attempt)  # back off before retrying a loaded server
            sock = self._socket()
            sock.send(frame)
            if not sock.poll(int(self.timeout * 1000), zmq.POLLIN):
                self._reset_socket()  # a REQ socket that got no reply cannot send again
                continue
            try:
                reply = decode_map(sock.recv(), max_bytes=1 << 30)
            except DecodeError:
                self._reset_socket()
                continue
            if reply.get("error") != "UNAVAILABLE":
                return reply
        if reply is not None:
            return reply
        raise Unavailable(f"no reply from {self.endpoint} after {self.retries + 1} tries")

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send `op` with `fields` (None values left out); raise on a failed reply."""
        message = {"op": op, **{k: v for k, v in fields.items() if v is not None}}
        reply = self.request(message)
        if not reply.get("ok"):
            raise error_for_code(str(reply.get("error")), str(reply.get("message", "")))
        return reply

    def _session_call(self, op: str, **fields: Any) -> dict[str, Any]:
        return self.call(op, wsess_uid=self.wsess_uid or "", token=self.token or "", **fields)

    # -- operations ------------------------------------------------------------
    def register(self, username: str, password: str, role: str = "buyer",
                 req_id: str | None = None) -> dict[str, Any]:
        return self._auth(f"new_{role}", username, password, req_id)

    def login(self, username: str, password: str, role: str = "buyer",
              req_id: str | None = None) -> dict[str, Any]:
        return self._auth(role, username, password, req_id)

    def _auth(self, kind: str, username: str, password: str, req_id: str | None) -> dict[str, Any]:
        reply = self.call("auth", token=kind, username=username, password=password, req_id=req_id)
        self.wsess_uid, self.token = reply["wsess_uid"], reply["token"]
        self.user_uid, self.role = reply["user_uid"], reply["role"]
        return reply

    def deposit(self, amount: int, req_id: str | None = None) -> int:
        return int(self._session_call("deposit", amount=amount, req_id=req_id)["deposit"])

    def buy(self, product_uid: str, amount: int = 1, req_id: str | None = None) -> dict[str, Any]:
        return self._session_call("buy", product_uid=product_uid, amount=amount, req_id=req_id)

    def sell(self, product_name: str, cost: int, amount: int,
             req_id: str | None = None) -> Product:
        reply = self._session_call("sell", product_name=product_name, cost=cost, amount=amount,
                                   req_id=req_id)
        return reply["product"]  # type: ignore[no-any-return]

    def update_product(self, product_uid: str, *, product_name: str | None = None,
                       cost: int | None = None, amount: int | None = None,
                       req_id: str | None = None) -> Product:
        reply = self._session_call("sell", product_uid=product_uid, product_name=product_name,
                                   cost=cost, amount=amount, req_id=req_id)
        return reply["product"]  # type: ignore[no-any-return]

    def delete_product(self, product_uid: str, req_id: str | None = None) -> str:
        return str(self._session_call("delete_product", product_uid=product_uid,
                                      req_id=req_id)["product_uid"])

    def reset(self, req_id: str | None = None) -> list[int]:
        return list(self._session_call("reset", req_id=req_id)["change"])

    def products(self, seller_uid: str | None = None) -> list[Product]:
        return list(self.call("products", seller_uid=seller_uid)["products"])

    def product(self, product_uid: str) -> Product:
        return self.call("product", product_uid=product_uid)["product"]  # type: ignore[no-any-return]

    def profile(self) -> dict[str, Any]:
        return self._session_call("profile")

    def logout(self, req_id: str | None = None) -> int:
        ended = int(self._session_call("logout", req_id=req_id)["ended"])
        self.wsess_uid = self.token = None
        return ended

    def logout_all(self, req_id: str | None = None) -> int:
        ended = int(self._session_call("logout_all", req_id=req_id)["ended"])
        self.wsess_uid = self.token = None
        return ended

    def delete_user(self, password: str, req_id: str | None = None) -> dict[str, Any]:
        reply = self._session_call("delete_user", password=password, req_id=req_id)
        self.wsess_uid = self.token = None
        return reply

    def ping(self) -> str:
        return str(self.call("ping")["version"])

    def close(self) -> None:
        self._reset_socket()
        if self._own_ctx:
            self._ctx.term()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ += ["VendingError"]
