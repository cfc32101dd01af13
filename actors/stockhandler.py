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
from vending.authority import Authorized
from vending.db import Database
from vending.errors import BadRequest, ClientError
from vending.stock import SCHEMA, Stock

from . import faults
from .backend import BackendActor, valid_rt
from .config import Config
from .messages import AwaitRecovery
from .wire import read_request, status_message

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
        self.send(self.config.endpoints.deposit, {"k": "resolve", "pid": pid,
                                                  "back": self.config.endpoints.post})

    def handle(self, message: dict[str, Any]) -> None:
        faults.hit("stock-handler.in_batch")
        kind, rt = message.get("k"), message.get("rt")
        if kind == "resolved":
            purchase.settle(self.stock, str(message.get("pid")), bool(message.get("committed")))
            if self._recovering is not None:
                self._recovering.discard(str(message.get("pid")))
                self._check_recovered()
            return
        if kind == "purge":
            self.stock.purge_seller(int(message.get("account_id", -1)))
            self.send(str(message.get("back")), {"k": "purged",
                                                 "account_id": message.get("account_id")})
            return
        if not valid_rt(rt):
            log.warning("stock handler: dropped %r message without a return ticket", kind)
            return
        try:
            if kind == "charged":
                purchase.settle(self.stock, str(message.get("pid")),
                                bool(message.get("committed")))
                reply = message.get("reply")
                # Sent now, not after this batch commits: the gatekeeper's commit is
                # the point of no return, and a settle lost with this transaction is
                # redone by recovery from the reservation row (docs/purchase-saga.md).
                self.send_now(rt[0], status_message(rt, reply if isinstance(reply, dict)
                                                    else {}))
                return
            req = read_request(message, self.trusted)
            if kind != req.op and kind != "authorized":
                raise BadRequest(f"{kind!r} does not match op {req.op!r}")
            if kind == "products":
                self.status(rt, self.stock.products(req.args.get("seller_uid")))
            elif kind == "product":
                self.status(rt, self.stock.product(req.args["product_uid"]))
            elif kind == "buy":
                self._buy(rt, req, message)
            elif kind in ("sell", "delete_product"):
                self.send(self.config.endpoints.deposit, {
                    "k": "authorize", "role": "seller", "rt": rt, "req": message["req"],
                    "back": self.config.endpoints.post})
            elif kind == "authorized":
                self._authorized(rt, req, message)
            else:
                raise BadRequest(f"{kind!r} is not a stock-handler message")
        except ClientError as exc:
            self.status(rt, exc.to_reply())

    def _buy(self, rt: list[Any], req: Any, message: dict[str, Any]) -> None:
        pid = uuid.uuid4().hex
        step = purchase.reserve(self.stock, pid, req)
        charge: dict[str, Any] = {"k": "charge", "pid": pid, "rt": rt, "req": message["req"],
                                  "back": self.config.endpoints.post}
        if step.stock_error is None:
            charge.update(product_name=step.product_name, cost=step.cost)
        else:
            charge["stock_error"] = step.stock_error
        self.send(self.config.endpoints.deposit, charge)

    def _authorized(self, rt: list[Any], req: Any, message: dict[str, Any]) -> None:
        reply = message.get("reply")
        if isinstance(reply, dict):
            self.status(rt, reply)
            return
        account_id, user_uid, replay_only = message["who"]
        who = Authorized(int(account_id), str(user_uid), bool(replay_only))
        rule = self.stock.sell if req.op == "sell" else self.stock.delete_product
        self.status(rt, rule(req, who))
