"""The simulated buyers and sellers of `vending simulate` (see tools/simulate.py).

Determinism: each user draws every decision from its own `random.Random`,
seeded from the run's seed and the user's name, and from nothing else: not
from replies, not from timing, not from other users. So one seed gives one
*intended* operation list per user (`SimUser.intended`), however the race for
stock turns out. What the server answers still varies from run to run; that
is the point of racing. For the same reason products are named by *slot*
(`s1.0`: seller 1's first product) and costs and initial stock come from a
catalog planned from the seed, never from the server's product list.

Each user runs in its own thread with its own `Client` (Clients are not
thread safe) and records every acknowledged reply in the shared `Ledger`.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transport.client import Client
from vending.coins import COINS
from vending.errors import Unavailable
from vending.requests import STATE_CHANGING_OPS

from .ledger import Ledger

PASSWORD = "simulate-password"
#: Products each seller may create; slot 0 is its scarce one.
SLOTS = 4
#: Ops a seller spends opening its shop (register, create slots 0 and 1).
OPENING = 3
#: How long a buyer waits for the sellers' opening before buying anyway.
OPENING_WAIT = 30.0


@dataclass(frozen=True)
class Op:
    """One intended operation: `kind`, a product slot `key`, a count `n` (coin, units)."""

    kind: str
    key: str = ""
    n: int = 0

    def as_list(self) -> list[str | int]:
        return [self.kind, self.key, self.n]


@dataclass(frozen=True)
class Slot:
    cost: int
    initial: int


def plan_catalog(seed: int, sellers: int, scarce_units: int) -> dict[str, Slot]:
    """Every product any seller may create, with its cost and initial stock.

    Slot 0 is cheap and scarce, so buyers can afford it often and must race for it.
    """
    rng = random.Random(f"{seed}:catalog")
    return {f"s{s}.{k}": Slot(cost=5 * rng.randint(1, 10), initial=scarce_units) if k == 0
            else Slot(cost=5 * rng.randint(2, 40), initial=rng.randint(5, 20))
            for s in range(sellers) for k in range(SLOTS)}


@dataclass
class World:
    """What the users share: the catalog, the product uids sellers learn, the ledger."""

    seed: int
    sellers: int
    scarce_units: int
    #: Makes usernames and product names unique on a server shared with other runs.
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    ledger: Ledger = field(default_factory=Ledger)
    stop: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None

    def __post_init__(self) -> None:
        self.catalog = plan_catalog(self.seed, self.sellers, self.scarce_units)
        self.opened = [threading.Event() for _ in range(self.sellers)]
        self._uids: dict[str, str] = {}
        self._lock = threading.Lock()

    def learn(self, key: str, product_uid: str) -> None:
        with self._lock:
            self._uids[key] = product_uid

    def uid(self, key: str) -> str:
        """The slot's product_uid; one no server has while its create is not acknowledged."""
        with self._lock:
            return self._uids.get(key, f"unlisted-{self.tag}-{key}")

    def wait_for_opening(self) -> None:
        """Let sellers stock their first products, so early buys race for stock
        rather than all failing with PRODUCT_NOT_FOUND. Order only, not intent."""
        limit = time.monotonic() + OPENING_WAIT
        for event in self.opened:
            while not self.stop.is_set() and not event.wait(0.1):
                if time.monotonic() > limit:
                    return


class SimUser:
    """One simulated buyer or seller: plans from its own rng, then acts."""

    def __init__(self, world: World, role: str, index: int, budget: int | None) -> None:
        self.world, self.role, self.index, self.budget = world, role, index, budget
        self.name = f"{role[0]}{index}"
        self.rng = random.Random(f"{world.seed}:{self.name}")
        self.username = f"sim-{world.tag}-{self.name}"
        self.user_uid = f"{role}_{self.username}"
        self.intended: list[Op] = []
        self.kinds: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.requests = 0
        self.unresolved = 0
        self.failure: str | None = None
        self.session: dict[str, str] = {}
        self._balance = 0  # the deposit it *expects*, from its own intents only
        self._created = 0  # slots it has *meant* to create

    # -- the loop ----------------------------------------------------------------
    def run(self, make_client: Callable[[], Client]) -> None:
        client = make_client()
        try:
            while self._more():
                op = self.plan()
                self.intended.append(op)
                self.act(client, op)
                if self.role == "buyer" and len(self.intended) == 1:
                    self.world.wait_for_opening()
                if self.role == "seller" and len(self.intended) == OPENING:
                    self.world.opened[self.index].set()
        except Exception as exc:  # noqa: BLE001 - reported, and it fails the run
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            if self.role == "seller":
                self.world.opened[self.index].set()
            client.close()

    def _more(self) -> bool:
        if self.world.stop.is_set():
            return False
        if self.budget is not None:
            return len(self.intended) < self.budget
        return self.world.deadline is None or time.monotonic() < self.world.deadline

    # -- deciding: rng only --------------------------------------------------------
    def plan(self) -> Op:
        if not self.intended:
            return Op("register")
        return self._plan_buyer() if self.role == "buyer" else self._plan_seller()

    def _plan_buyer(self) -> Op:
        rng = self.rng
        r = rng.random()
        if r < 0.04:
            return Op("relogin")
        if r < 0.08:
            return Op("browse")
        if r < 0.12:
            self._balance = 0
            return Op("reset")
        if not self.world.sellers:
            return self._deposit()
        seller = rng.randrange(self.world.sellers)
        key = f"s{seller}.{rng.choices(range(SLOTS), weights=(45, 30, 15, 10))[0]}"
        units = rng.randint(1, 2)
        price = self.world.catalog[key].cost * units
        if self._balance >= price:
            self._balance = 0
            return Op("buy", key, units)
        if rng.random() < 0.05:
            return Op("buy", key, units)  # impatient: expects INSUFFICIENT_DEPOSIT
        return self._deposit()

    def _deposit(self) -> Op:
        coin = self.rng.choice(COINS)
        self._balance += coin
        return Op("deposit", n=coin)

    def _plan_seller(self) -> Op:
        rng = self.rng
        if self._created < OPENING - 1:
            return self._create()
        r = rng.random()
        if r < 0.04:
            return Op("relogin")
        if r < 0.12 and self._created < SLOTS:
            return self._create()
        if r < 0.18:
            return Op("withdraw", self._slot(rng.randrange(1, self._created)), rng.randint(1, 3))
        if r < 0.25:
            return Op("restock", self._slot(0), 1)  # the scarce one, a unit at a time
        return Op("restock", self._slot(rng.randrange(1, self._created)), rng.randint(1, 8))

    def _create(self) -> Op:
        self._created += 1
        return Op("create", self._slot(self._created - 1))

    def _slot(self, k: int) -> str:
        return f"s{self.index}.{k}"

    # -- acting --------------------------------------------------------------------
    def act(self, client: Client, op: Op) -> None:
        self.kinds[op.kind] += 1
        world = self.world
        if op.kind == "register":
            self._auth(client, f"new_{self.role}")
        elif op.kind == "relogin":
            old = self.session
            if self._auth(client, self.role) and old:
                self.send(client, {"op": "logout", **old})
        elif op.kind == "browse":
            self.send(client, {"op": "products"})
        elif op.kind == "deposit":
            self.send(client, {"op": "deposit", "amount": op.n, **self.session})
        elif op.kind == "buy":
            self.send(client, {"op": "buy", "product_uid": world.uid(op.key), "amount": op.n,
                               **self.session})
        elif op.kind == "reset":
            self.send(client, {"op": "reset", **self.session})
        elif op.kind == "create":
            slot = world.catalog[op.key]
            reply = self.send(client, {"op": "sell", "product_name": f"sim-{world.tag}-{op.key}",
                                       "cost": slot.cost, "amount": slot.initial, **self.session})
            if reply and reply.get("ok"):
                world.learn(op.key, reply["product"]["product_uid"])
        else:  # restock, withdraw
            amount = op.n if op.kind == "restock" else -op.n
            self.send(client, {"op": "sell", "product_uid": world.uid(op.key), "amount": amount,
                               **self.session})

    def _auth(self, client: Client, token: str) -> bool:
        reply = self.send(client, {"op": "auth", "token": token, "username": self.username,
                                   "password": PASSWORD})
        if not reply or not reply.get("ok"):
            return False
        self.session = {"wsess_uid": reply["wsess_uid"], "token": reply["token"]}
        return True

    def send(self, client: Client, message: dict[str, Any]) -> dict[str, Any] | None:
        """One request, its final reply (None: none came), counted and recorded.

        A state-changing request carries one `req_id` through every retry, so
        retrying it cannot apply it twice; one that never got a final reply is
        counted as unresolved, because the ledger cannot know its effect. No
        reply at all raises `Unavailable`, which ends this user's run.
        """
        changes = message["op"] in STATE_CHANGING_OPS
        if changes:
            message = {**message, "req_id": uuid.uuid4().hex}
        reply: dict[str, Any] | None = None
        try:
            for _ in range(2):  # the Client retries too; this outlasts a restarting actor
                reply = client.request(message)
                if reply.get("error") != "UNAVAILABLE":
                    break
        except Unavailable:
            self.unresolved += int(changes)
            raise  # no reply at all, after the Client's retries: the server is gone; stop
        self.requests += 1
        if reply is None or reply.get("error") == "UNAVAILABLE":
            self.errors["UNAVAILABLE"] += 1
            self.unresolved += int(changes)
            return None
        if not reply.get("ok"):
            self.errors[str(reply.get("error"))] += 1
        self.world.ledger.record(self.name, message, reply)
        return reply
