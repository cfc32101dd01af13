"""Simulated buyers and sellers: real request maps, Lazy Pirate retries.

A client sends one request at a time on its connection and waits its timeout
(`TIMEOUT` in the fixed configuration; a seed may draw another, swarm.py)
simulated seconds for the reply. No reply: it drops the connection, opens a new
one (a new ROUTER identity) and sends the same request again, same `req_id`,
as docs/protocol.md tells clients to do. `UNAVAILABLE`: the same request again
after a backoff. Any other reply is final. A client never gives up on a
request that changes state, so every effect it asked for is eventually known
to it (the oracle's ledger counts only what was acknowledged).

What a client does next comes from its own RNG (seeded from the simulation's
seed and its name), or from a script of requests a test queued
(`SimClient.deposit(...)` etc.).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transport.codec import decode, encode
from transport.loop import Timer
from vending.coins import COINS
from vending.limits import MAX_REQUEST_BYTES
from vending.requests import SESSION_OPS, STATE_CHANGING_OPS

from .fifos import Channel
from .loop import Scheduler
from .swarm import MIXES, TIMEOUTS

__all__ = ["PASSWORD", "TIMEOUT", "Attempt", "SimClient"]

#: How long a client waits for a reply (a little over the front door's deadline).
TIMEOUT = TIMEOUTS[0]
BACKOFF, MAX_BACKOFF = 0.25, 8.0
PASSWORD = "simulated-password"


@dataclass
class Attempt:
    """One request, through all its retries."""

    message: dict[str, Any]
    started: float
    tries: int = 0
    replies: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] | None = None
    #: `message` encoded, once: every try sends the same bytes.
    body: bytes = b""
    #: When the current try was sent, the world's crashes, clock jumps, stalls and
    #: broken or held links then, and whether a `net` fault lost it
    #: (`World.retried` tells why a try failed).
    sent_at: tuple[float, int, int, int, int, bool] = (0.0, 0, 0, 0, 0, False)


class SimClient:
    """One buyer or seller. Runs on the simulation's thread (timers, replies)."""

    def __init__(self, world: Any, name: str, role: str, *, think: float,
                 autonomous: bool = True) -> None:
        self.world = world
        self.sched: Scheduler = world.sched
        self.name, self.role = name, role
        self.username = name
        self.peer = f"10.0.{len(world.clients) // 250}.{len(world.clients) % 250 + 1}"
        self.rng = random.Random(f"{world.seed}:client:{name}")
        self.think = think
        self.autonomous = autonomous
        profile = world.profile
        #: What it asks for (swarm.MIXES) and how long it waits for a reply.
        self.mix = profile.mix
        self._thresholds = MIXES[profile.mix]
        self.timeout: float = profile.timeout
        self._beat: float = profile.beat
        self.script: deque[dict[str, Any]] = deque()
        self.session: dict[str, str] = {}
        #: When the current session was made, and last used with an ok reply.
        self.session_started = self.session_used = 0.0
        self.registered = False
        self.current: Attempt | None = None
        self.history: list[Attempt] = []
        self._conn: Channel | None = None
        self._identity = b""
        self._conns = 0
        self._req = 0
        #: The timer of the current try, or of the next request.
        self._waiting: Timer | None = None
        self.known_products: list[str] = []
        self.my_products: list[str] = []
        self.balance = 0
        self.stopped = False
        self.on_final: Callable[[SimClient, Attempt], None] | None = None

    # -- scripting (tests) ------------------------------------------------------
    def request(self, op: str, **fields: Any) -> None:
        """Queue a request; session fields are added when it is sent."""
        self.script.append({"op": op, **fields})
        self._kick()

    def deposit(self, amount: int) -> None:
        self.request("deposit", amount=amount)

    def buy(self, product_uid: str, amount: int = 1) -> None:
        self.request("buy", product_uid=product_uid, amount=amount)

    def reset(self) -> None:
        self.request("reset")

    def sell(self, product_name: str, cost: int, amount: int) -> None:
        self.request("sell", product_name=product_name, cost=cost, amount=amount)

    @property
    def replies(self) -> list[dict[str, Any]]:
        """Final replies so far, in order."""
        return [a.final for a in self.history if a.final is not None]

    # -- the plan -------------------------------------------------------------------
    def start(self) -> None:
        self._schedule_next(self.rng.uniform(0, self.think))

    def _kick(self) -> None:
        if self.current is None and self._waiting is None:
            self._schedule_next(0.0)

    def _schedule_next(self, delay: float) -> None:
        if self.stopped:
            return
        if self._beat and delay:
            now = self.sched.clock.now
            delay = math.ceil((now + delay) / self._beat) * self._beat - now
        self._waiting = self.sched.call_later(delay, self._next)

    def _next(self) -> None:
        self._waiting = None
        if self.current is not None or self.stopped:
            return
        message = self._plan()
        if message is None:
            return
        if message["op"] in STATE_CHANGING_OPS:
            self._req += 1
            message["req_id"] = f"{self.name}-{self._req}"
        self.current = Attempt(message, self.sched.clock.now)
        self.world.requests += 1
        self._try()

    def _plan(self) -> dict[str, Any] | None:
        if not self.registered:
            return self._auth(f"new_{self.role}")
        if not self.session:
            return self._auth(self.role)
        if self.script:
            queued = self.script.popleft()
            return queued if queued["op"] == "auth" else {**queued, **self.session}
        if not self.autonomous or self.world.quiescing:
            return None
        plan = self._plan_buyer() if self.role == "buyer" else self._plan_seller()
        if plan["op"] != "auth":
            plan.update(self.session)
        return plan

    def _auth(self, token: str) -> dict[str, Any]:
        return {"op": "auth", "token": token, "username": self.username, "password": PASSWORD}

    def _plan_buyer(self) -> dict[str, Any]:
        rng = self.rng
        r = rng.random()
        auth, products, reset, profile, buy = (MIXES["reads"] if self.world.reads_only
                                               else self._thresholds)
        if r < auth:
            return self._auth("buyer")
        if r < products or not self.known_products:
            return {"op": "products"}
        if r < reset:
            self.balance = 0
            return {"op": "reset"}
        if r < profile:
            return {"op": "profile"}
        if self.balance >= 20 or r < buy:
            self.balance = 0
            return {"op": "buy", "product_uid": rng.choice(self.known_products),
                    "amount": rng.randint(1, 2)}
        coin = rng.choice(COINS)
        self.balance += coin
        return {"op": "deposit", "amount": coin}

    def _plan_seller(self) -> dict[str, Any]:
        rng = self.rng
        r = rng.random()
        if r < self._thresholds[0]:
            return self._auth("seller")
        scarce = self.mix == "scarce"
        if not self.my_products or (r < 0.12 and len(self.my_products) < 4):
            return {"op": "sell", "product_name": f"{self.name}-{len(self.my_products)}",
                    "cost": 5 * rng.randint(1, 8), "amount": rng.randint(1, 2 if scarce else 6)}
        if self.mix == "reads" or self.world.reads_only:
            return {"op": "products"}
        uid = rng.choice(self.my_products)
        if r < (0.4 if scarce else 0.25):
            return {"op": "sell", "product_uid": uid, "amount": -rng.randint(1, 2)}
        return {"op": "sell", "product_uid": uid, "amount": rng.randint(1, 2 if scarce else 4)}

    # -- the wire --------------------------------------------------------------------
    def _try(self) -> None:
        attempt = self.current
        assert attempt is not None
        attempt.tries += 1
        if self._conn is None or self._conn.closed:
            self._connect()
        assert self._conn is not None
        if not attempt.body:
            attempt.body = encode(attempt.message)
            assert len(attempt.body) <= MAX_REQUEST_BYTES
        world = self.world
        world.attempts += 1
        lost = not world.client_send(self, self._conn, attempt.body)
        attempt.sent_at = (self.sched.clock.now, world.crashes, world.fault_kinds["clock"],
                           world.stalls, world.links, lost)
        self._waiting = self.sched.call_later(self.timeout, self._timed_out)

    def _connect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self.world.forget_identity(self._identity)
        self._conns += 1
        self._identity = f"{self.name}#{self._conns}".encode()
        self._conn = self.world.client_connect(self, self._identity)

    def _timed_out(self) -> None:
        self._waiting = None
        if self.current is None:
            return
        # Lazy Pirate: the socket may be wedged; a new one, the same request.
        self.world.retried(self.current)
        self._connect()
        self._try()

    def deliver(self, identity: bytes, data: bytes) -> None:
        """A reply came back on connection `identity`."""
        attempt = self.current
        if attempt is None:
            return
        reply = decode(data, MAX_REQUEST_BYTES * 16)
        if not isinstance(reply, dict):
            return
        if identity != self._identity:
            # A reply to a try we gave up on: the REQ socket is long closed, nobody
            # reads it; the oracle notes what it would have said.
            self.world.oracle.missed_reply(attempt.message, reply)
            return
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None
        attempt.replies.append(reply)
        if reply.get("error") == "UNAVAILABLE":
            self.world.retried(attempt, reply)
            delay = min(MAX_BACKOFF, BACKOFF * 2 ** min(attempt.tries, 6))
            self._waiting = self.sched.call_later(self.rng.uniform(0, delay), self._retry)
            return
        attempt.final = reply
        self.current = None
        self.history.append(attempt)
        self._learn(attempt.message, reply, attempt.started)
        if self.on_final is not None:
            self.on_final(self, attempt)
        self._schedule_next(self.rng.expovariate(1.0 / self.think) if self.think else 0.0)

    def _retry(self) -> None:
        self._waiting = None
        if self.current is not None:
            self._try()

    def _learn(self, message: dict[str, Any], reply: dict[str, Any], sent: float) -> None:
        op = message["op"]
        if reply.get("error") == "UNAUTHORIZED" and op != "auth":
            if message.get("wsess_uid") == self.session.get("wsess_uid"):
                self.world.session_refused(self)
            self.session = {}
            return
        if not reply.get("ok"):
            if op == "auth" and message["token"].startswith("new_") \
                    and reply.get("error") == "DUPLICATE_USERNAME":
                self.registered = True  # an earlier try of ours registered it
            return
        if op == "auth":
            self.registered = True
            self.session = {"wsess_uid": reply["wsess_uid"], "token": reply["token"]}
            # Made when one of its tries was handled: at the first send at the earliest
            # (a retry after a clock jump may replay a session long idle).
            self.session_started = self.session_used = sent
            return
        if op in SESSION_OPS and message.get("wsess_uid") == self.session.get("wsess_uid"):
            # It touched the session (products, product do not) when one of its tries
            # was handled: at the first send at the earliest (a retry may be a replay).
            self.session_used = max(self.session_used, sent)
        if op == "products":
            self.known_products = sorted(p["product_uid"] for p in reply.get("products", []))
        elif op == "sell" and "product_uid" not in message:
            self.my_products.append(reply["product"]["product_uid"])

    def busy(self) -> bool:
        return self.current is not None
