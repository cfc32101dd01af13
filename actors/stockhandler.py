"""The seed's stock-handler.worker: owns products; runs the purchase saga.

buy: reserve units (committed) -> the gatekeeper charges the buyer (its commit
is the point of no return) -> settle the reservation. sell / delete_product:
the gatekeeper validates the role first, then the change is applied here.
See docs/purchase-saga.md.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pykka

from vending import purchase
from vending.authority import Authorized as VendingAuthorized
from vending.db import Database
from vending.errors import BadRequest, ClientError
from vending.requests import Request
from vending.stock import SCHEMA, Stock

from . import faults
from .backend import BackendActor
from .config import Config
from .messages import AwaitRecovery
from .wire import (
    Authorize,
    Authorized,
    Charge,
    Charged,
    ClientRequest,
    Message,
    Purge,
    Purged,
    Resolve,
    Resolved,
    ReturnTicket,
    Status,
)

log = logging.getLogger(__name__)

#: A reservation older than this is asked about (its charge may be lost).
STALE_RESERVATION = 15.0


class StockHandlerActor(BackendActor):
    role = "stock-handler"
    db_name = "stock.sqlite3"
    schema = SCHEMA

    @classmethod
    def fifo_endpoints(cls, config: Config) -> list[str]:
        return [config.endpoints.post]

    def build(self, db: Database) -> None:
        self.stock = Stock(db)
        self.events = self.stock.events
        self._ticks = 0

    def recover(self) -> None:
        # Reservations a crash left: settled as their `resolved` answers come in.
        # None once all are, so later periodic resolves do not set the future again.
        self._recovering: set[str] | None = set(self.stock.reservations())
        self._recovered: pykka.ThreadingFuture[bool] = pykka.ThreadingFuture()
        for pid in self._recovering:
            self._resolve(pid)
        self._check_recovered()

    def _check_recovered(self) -> None:
        if self._recovering is not None and not self._recovering:
            self._recovering = None
            self._recovered.set(True)

    def handle_other(self, message: Any) -> Any:
        if isinstance(message, AwaitRecovery):
            return self._recovered
        return super().handle_other(message)

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks % 5 == 0:
            for pid in self.stock.reservations(older_than=STALE_RESERVATION):
                self._resolve(pid)
        if self._ticks % 600 == 1:
            self.stock.housekeeping()

    def _resolve(self, pid: str) -> None:
        self.send(self.config.endpoints.deposit, Resolve(pid, self.config.endpoints.post))

    def handle(self, message: Message) -> None:
        faults.hit("stock-handler.in_batch")
        if isinstance(message, Resolved):
            purchase.settle(self.stock, message.pid, message.committed)
            if self._recovering is not None:
                self._recovering.discard(message.pid)
                self._check_recovered()
        elif isinstance(message, Purge):
            self.stock.purge_seller(message.account_id)
            self.send(message.back, Purged(message.account_id))
        elif isinstance(message, Charged):
            purchase.settle(self.stock, message.pid, message.committed)
            # Sent now, not after this batch commits: the gatekeeper's commit is
            # the point of no return, and a settle lost with this transaction is
            # redone by recovery from the reservation row (docs/purchase-saga.md).
            self.send_now(message.rt.status, Status(message.rt, message.reply))
        elif isinstance(message, ClientRequest):
            try:
                self._client_request(message.rt, message.request)
            except ClientError as exc:
                self.status(message.rt, exc.to_reply())
        elif isinstance(message, Authorized):
            self._authorized(message)
        else:
            log.warning("stock handler: dropped a %r message", type(message).__name__)

    def _client_request(self, rt: ReturnTicket, req: Request) -> None:
        ends = self.config.endpoints
        if req.op == "products":
            self.status(rt, self.stock.products(req.args.get("seller_uid")))
        elif req.op == "product":
            self.status(rt, self.stock.product(req.args["product_uid"]))
        elif req.op == "events":
            self.answer_events(rt, req.args)
        elif req.op == "buy":
            self._buy(rt, req)
        elif req.op in ("sell", "delete_product"):
            self.send(ends.deposit, Authorize(rt, req, "seller", ends.post))
        else:
            raise BadRequest(f"{req.op!r} is not a stock-handler op")

    def _buy(self, rt: ReturnTicket, req: Request) -> None:
        step = purchase.reserve(self.stock, uuid.uuid4().hex, req)
        ends = self.config.endpoints
        self.send(ends.deposit, Charge.of(step, rt, ends.post))

    def _authorized(self, message: Authorized) -> None:
        if message.reply is not None:
            self.status(message.rt, message.reply)
            return
        if message.who is None:
            log.warning("stock handler: an authorized message with neither answer nor grant")
            return
        req = message.request
        rule = self.stock.sell if req.op == "sell" else self.stock.delete_product
        try:
            self.status(message.rt, rule(req, VendingAuthorized(*message.who)))
        except ClientError as exc:
            self.status(message.rt, exc.to_reply())
