"""`vending chaos`: SIGKILL a loaded server again and again; prove nothing is lost.

Each cycle starts `vending serve` on one data folder, re-sends every request
whose reply was lost in the previous crash (same `req_id`, so it applies at
most once), then lets buyers and sellers run until the server is SIGKILLed at
a random moment. At the end, against the server's own answers:

* lost: acknowledged requests whose retry (same `req_id`) does not replay the
  same reply, i.e. an effect or its record did not survive;
* violations: money or stock not conserved per buyer and product, a negative
  value, or a database failing `PRAGMA integrity_check`.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transport.client import Client
from vending.coins import COINS
from vending.errors import Unavailable

from .ledger import Ledger
from .serverproc import ServerProcess
from .split import SplitDeployment

PASSWORD = "chaos-password"


@dataclass
class Sent:
    """One state-changing request and, once known, its final reply."""

    who: str
    message: dict[str, Any]
    reply: dict[str, Any] | None = None


@dataclass
class Summary:
    cycles: int = 0
    acknowledged: int = 0
    retried: int = 0
    lost: int = 0
    violations: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"chaos: cycles={self.cycles} acknowledged={self.acknowledged} "
                f"retried={self.retried} lost={self.lost} violations={len(self.violations)}")


class _Actor:
    """A simulated buyer or seller with its own client and session."""

    def __init__(self, name: str, role: str, rng: random.Random) -> None:
        self.name, self.role, self.rng = name, role, rng
        self.session: dict[str, str] = {}

    def login(self, client: Client, register: bool) -> None:
        kind = ("new_" if register else "") + self.role
        reply = client.call("auth", token=kind, username=self.name, password=PASSWORD,
                            req_id=f"auth-{self.name}-{uuid.uuid4().hex[:8]}")
        self.session = {"wsess_uid": reply["wsess_uid"], "token": reply["token"]}

    def next_message(self, products: list[str]) -> dict[str, Any]:
        r = self.rng.random()
        if self.role == "seller":
            if not products or r < 0.2:
                msg = {"op": "sell", "product_name": f"item-{self.rng.randrange(1000)}",
                       "cost": 5 * self.rng.randint(1, 20), "amount": self.rng.randint(0, 20)}
            else:
                msg = {"op": "sell", "product_uid": self.rng.choice(products),
                       "amount": self.rng.randint(1, 10)}
        elif r < 0.5 or not products:
            msg = {"op": "deposit", "amount": self.rng.choice(COINS)}
        elif r < 0.85:
            msg = {"op": "buy", "product_uid": self.rng.choice(products),
                   "amount": self.rng.randint(1, 2)}
        else:
            msg = {"op": "reset"}
        return {**msg, **self.session, "req_id": uuid.uuid4().hex}


class Chaos:
    def __init__(self, data_dir: Path, *, buyers: int = 4, sellers: int = 2,
                 seconds: float = 2.0, seed: int = 0, split: bool = False,
                 progress: Callable[[str], None] | None = None) -> None:
        self.data_dir = data_dir
        self.rng = random.Random(seed)
        self.seconds = seconds
        self.progress = progress or (lambda text: None)
        self.actors = [_Actor(f"b{i}", "buyer", random.Random(self.rng.random()))
                       for i in range(buyers)]
        self.actors += [_Actor(f"s{i}", "seller", random.Random(self.rng.random()))
                        for i in range(sellers)]
        self.sent: list[Sent] = []
        self.pending: list[Sent] = []
        self.products: list[str] = []
        self._lock = threading.Lock()
        self.summary = Summary()
        # Split: each cycle SIGKILLs the next role in turn (gatekeeper, stock handler,
        # front doors) while the others keep running.
        self.server: ServerProcess | SplitDeployment = (
            SplitDeployment(data_dir, extra=["--request-timeout", "3"]) if split
            else ServerProcess(data_dir, extra=["--request-timeout", "3"]))

    # -- one cycle ---------------------------------------------------------------
    def cycle(self, first: bool) -> None:
        self.server.start()
        with Client(self.server.endpoint, timeout=5, retries=5) as client:
            for actor in self.actors:
                actor.login(client, register=first)
            self._resolve_pending(client)
        stop = threading.Event()
        endpoints = self.server.endpoints
        workers = [threading.Thread(target=self._work,
                                    args=(a, stop, endpoints[i % len(endpoints)]))
                   for i, a in enumerate(self.actors)]
        for w in workers:
            w.start()
        time.sleep(self.rng.uniform(0.2, self.seconds))  # let load build before the kill
        self.server.kill()
        stop.set()
        for w in workers:
            w.join()
        self.summary.cycles += 1

    def _resolve_pending(self, client: Client) -> None:
        """Re-send what the crash left unanswered, same req_id, until it is final."""
        pending, self.pending = self.pending, []
        for item in pending:
            self.summary.retried += 1
            item.reply = client.request(item.message)
            if item.reply.get("error") == "UNAVAILABLE":
                self.pending.append(item)
            else:
                self._record(item)

    def _work(self, actor: _Actor, stop: threading.Event, endpoint: str) -> None:
        with Client(endpoint, timeout=2, retries=0) as client:
            while not stop.is_set():
                with self._lock:
                    products = list(self.products)
                item = Sent(actor.name, actor.next_message(products))
                try:
                    item.reply = client.request(item.message)
                except Unavailable:
                    item.reply = None
                with self._lock:
                    self.sent.append(item)
                    if item.reply is None or item.reply.get("error") == "UNAVAILABLE":
                        item.reply = None
                        self.pending.append(item)
                        return  # the server is down: this actor waits for the next cycle
                    self._record(item)

    def _record(self, item: Sent) -> None:
        assert item.reply is not None
        if item.reply.get("ok"):
            self.summary.acknowledged += 1
            product = item.reply.get("product")
            if isinstance(product, dict) and product["product_uid"] not in self.products:
                self.products.append(product["product_uid"])

    # -- the checks ----------------------------------------------------------------
    def verify(self) -> None:
        if isinstance(self.server, SplitDeployment):
            # Check the split roles' files with the all-in-one server, which settles
            # every reservation before it says ready.
            self.server.kill_all()
            self.server = ServerProcess(self.data_dir, extra=["--request-timeout", "3"])
        self.server.start()
        with Client(self.server.endpoint, timeout=5, retries=5) as client:
            self._resolve_pending(client)
            if self.pending:
                self.summary.violations.append(f"{len(self.pending)} requests never answered")
            for item in self.sent:
                if item.reply and item.reply.get("ok"):
                    again = client.request(item.message)
                    again.pop("req_id", None)
                    first = {k: v for k, v in item.reply.items() if k != "req_id"}
                    if again != first:
                        self.summary.lost += 1
            self._check_conservation(client)
        code = self.server.terminate()
        if code != 0:
            self.summary.violations.append(f"serve exited {code} on SIGTERM")
        for name in ("gatekeeper.sqlite3", "stock.sqlite3"):
            with sqlite3.connect(self.data_dir / name) as conn:
                result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                self.summary.violations.append(f"{name}: {result}")

    def _check_conservation(self, client: Client) -> None:
        ledger = Ledger()
        for item in self.sent:
            ledger.record(item.who, item.message, item.reply)
        sessions = {a.name: a.session for a in self.actors if a.role == "buyer"}
        # Reservations a crash left behind were settled before the server said ready.
        self.summary.violations += ledger.problems(client, sessions)


def run_chaos(cycles: int, *, data_dir: Path | None = None, buyers: int = 4, sellers: int = 2,
              seconds: float = 2.0, seed: int = 0, split: bool = False,
              progress: Callable[[str], None] | None = None) -> Summary:
    with tempfile.TemporaryDirectory(prefix="vending-chaos-") as tmp:
        chaos = Chaos(data_dir or Path(tmp), buyers=buyers, sellers=sellers, seconds=seconds,
                      seed=seed, split=split, progress=progress)
        try:
            for n in range(cycles):
                chaos.cycle(first=n == 0)
                killed = (f" (killed {chaos.server.last_killed})"
                          if isinstance(chaos.server, SplitDeployment) else "")
                chaos.progress(f"cycle {n + 1}/{cycles}{killed}: acknowledged "
                               f"{chaos.summary.acknowledged}, awaiting retry "
                               f"{len(chaos.pending)}")
            chaos.verify()
        finally:
            if isinstance(chaos.server, SplitDeployment):
                chaos.server.kill_all()
            else:
                chaos.server.kill()
        return chaos.summary
