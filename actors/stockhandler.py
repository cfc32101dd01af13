"""The seed's stock-handler.worker: owns products; runs the purchase saga.

A thin shell around `vending.stock.Stock`: a client request takes its op's row's
path (vending/ops.py). `here`: the row's rule answers at once. `saga` (buy):
reserve units (committed) -> the gatekeeper charges the buyer (its commit is the
point of no return) -> settle the reservation; see docs/purchase-saga.md.
`authorize` (sell, delete_product): the gatekeeper checks the caller first, then
the rule runs here.
"""

from __future__ import annotations

import itertools
import logging
from functools import partial
from typing import Any

import pykka

from vending import purchase
from vending.call import Call
from vending.db import Database
from vending.errors import ClientError
from vending.ops import TABLE
from vending.requests import Request
from vending.stock import SCHEMA, Stock

from .backend import BackendActor, Chore
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
#: Seconds between looks for stale reservations, while some purchase holds units.
RESOLVE_STALE_EVERY = 5.0


class StockHandlerActor(BackendActor):
    role = "stock-handler"
    db_name = "stock.sqlite3"
    schema = SCHEMA

    @classmethod
    def fifo_endpoints(cls, config: Config) -> list[str]:
        return [config.endpoints.post]

    def build(self, db: Database) -> None:
        self.stock = Stock(db, clock=self.env.clock.time)
        self.events = self.stock.events
        # Purchase ids: a random half per actor start, then a counter. Unique as a
        # uuid4 is, and each start's ids rise, so the `reservations` and `purchases`
        # keys (stock.sqlite3, gatekeeper.sqlite3) are appended where the last one
        # went instead of dirtying a random B-tree page each (measured: half the
        # per-row cost of a commit), and no uuid4 per buy.
        self._pid_prefix = self.env.entropy.uuid_hex()[:16]
        self._pids = itertools.count(1)

    def rolled_back(self) -> None:
        self.stock.reload_held()  # after the ROLLBACK: the table is the truth again

    def recover(self) -> None:
        # Reservations a crash left: settled as their `resolved` answers come in.
        # None once all are, so later periodic resolves do not set the future again.
        self._recovering: set[str] | None = set(self.stock.reservations())
        self._recovered: pykka.ThreadingFuture[bool] = pykka.ThreadingFuture()
        for pid in sorted(self._recovering):  # one order, whatever the hash seed
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

    def upkeep(self, now: float) -> list[Chore]:
        return [*super().upkeep(now),
                Chore(RESOLVE_STALE_EVERY, partial(self.transact, self._resolve_stale),
                      self._holding)]

    def _holding(self) -> bool:
        return self.stock.holding()

    def expire(self) -> None:
        self.stock.housekeeping()

    def _resolve_stale(self) -> None:
        for pid in self.stock.reservations(older_than=STALE_RESERVATION):
            self._resolve(pid)

    def _resolve(self, pid: str) -> None:
        self.send(self.config.endpoints.deposit, Resolve(pid, self.config.endpoints.post))

    def handle(self, message: Message) -> None:
        self.faults.hit("stock-handler.in_batch")
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
            self.send_now(message.rt.status_fifo, Status(message.rt, message.reply))
        elif isinstance(message, ClientRequest):
            try:
                self._client_request(message.rt, message.request)
            except ClientError as exc:
                self.answer_client(message.rt, exc.to_reply())
        elif isinstance(message, Authorized):
            self._authorized(message)
        else:
            log.warning("stock handler: dropped a %r message", type(message).__name__)

    def _client_request(self, rt: ReturnTicket, req: Request) -> None:
        row, ends = TABLE[req.op], self.config.endpoints
        if row.path == "saga":
            step = row.rule(self.stock, Call(req, pid=f"{self._pid_prefix}{next(self._pids):016x}"))
            self.send(ends.deposit, Charge(step, rt, ends.post))
            self.schedule_upkeep()  # it may hold units now: stale holds are looked for
        elif row.path == "authorize":
            self.send(ends.deposit, Authorize(rt, req, ends.post))
        else:
            self.answer_client(rt, self.stock.answer(Call(req)).reply)

    def _authorized(self, message: Authorized) -> None:
        if message.reply is not None:
            self.answer_client(message.rt, message.reply)
            return
        if message.grant is None:
            log.warning("stock handler: an authorized message with neither answer nor grant")
            return
        call = Call(message.request, who=message.grant)
        self.answer_client(message.rt, self.stock.authorized(call).reply)
