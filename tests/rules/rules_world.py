"""Tier-1 helpers, imported by the tests as `rules_world`.

Drive the pure rules the way the shells do, without actors or sockets.

`World` plays the shell: it parses a request and answers it by its row in
vending/ops.py through vending/local.py (each owner's step in its own
transaction, argon2 `CryptoJob`s finished in place, the purchase saga for `buy`),
and turns `ClientError` exceptions into wire replies. Time comes from `world.now`.
"""

from __future__ import annotations

import itertools
from typing import Any

from vending import (
    GATE_SCHEMA,
    STOCK_SCHEMA,
    ClientError,
    CryptoJob,
    Database,
    Gate,
    Grant,
    LoginThrottle,
    Outcome,
    SessionPolicy,
    Stock,
    ThrottleConfig,
    local,
    parse_request,
)
from vending.call import Call
from vending.ops import TABLE, ops_of

T0 = 1_700_000_000.0
GATEKEEPER_SESSION_OPS = ops_of("gatekeeper", session=True)
PASSWORD = "correct horse"


finish = local.finish


class World:
    def __init__(self, policy: SessionPolicy | None = None,
                 throttle: ThrottleConfig | None = None) -> None:
        self.now = T0
        clock = lambda: self.now  # noqa: E731
        self.acc = Gate(Database(None, GATE_SCHEMA), policy=policy or SessionPolicy(),
                        throttle=LoginThrottle(throttle), clock=clock)
        self.stock = Stock(Database(None, STOCK_SCHEMA), clock=clock)
        self._ids = itertools.count(1)
        self.last: Outcome | None = None

    def second_half(self, job: CryptoJob) -> Outcome:
        """A job's argon2 work, then its finish in a later transaction of its own,
        as the gatekeeper runs them (state may have changed in between)."""
        result = job.run()
        with self.acc.db.transaction():
            return job.finish(result)

    def tick(self, seconds: float) -> None:
        self.now += seconds

    # -- accounts --------------------------------------------------------
    def auth(self, kind: str, username: str, password: str = PASSWORD, *,
             req_id: str | None = None, peer: str | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"op": "auth", "token": kind, "username": username,
                               "password": password}
        if req_id is not None:
            msg["req_id"] = req_id
        return self.call(msg, peer=peer)

    def register(self, role: str, username: str, password: str = PASSWORD) -> dict[str, Any]:
        reply = self.auth("new_" + role, username, password)
        assert reply["ok"], reply
        return reply

    def login(self, role: str, username: str, password: str = PASSWORD) -> dict[str, Any]:
        reply = self.auth(role, username, password)
        assert reply["ok"], reply
        return reply

    def session_outcome(self, cred: dict[str, Any], op: str, **fields: Any) -> Outcome:
        """`Gate.answer` as is: ClientErrors propagate."""
        req = parse_request({"op": op, "wsess_uid": cred["wsess_uid"], "token": cred["token"],
                             **fields})
        with self.acc.db.transaction():
            return finish(self.acc.answer(Call(req)))

    # -- the shell's dispatch ---------------------------------------------
    def op(self, cred: dict[str, Any] | None, op: str, *, peer: str | None = None,
           **fields: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {"op": op, **fields}
        if cred is not None:
            msg.setdefault("wsess_uid", cred["wsess_uid"])
            msg.setdefault("token", cred["token"])
        return self.call(msg, peer=peer)

    def call(self, msg: Any, peer: str | None = None,
             purchase_id: str | None = None) -> dict[str, Any]:
        self.last = None
        try:
            req = parse_request(msg)
            row = TABLE[req.op]
            wsess_uid = f"s_{next(self._ids)}" if row.opens_session else ""
            pid = purchase_id or (f"P{next(self._ids)}" if row.path == "saga" else "")
            self.last = local.answer(self.acc, self.stock, req, wsess_uid=wsess_uid, peer=peer,
                                     pid=pid)
            return self.last.reply
        except ClientError as exc:
            return exc.to_reply()

    # -- shortcuts ----------------------------------------------------------
    def deposit(self, cred: dict[str, Any], *coins: int) -> int:
        reply: dict[str, Any] = {}
        for coin in coins:
            reply = self.op(cred, "deposit", amount=coin)
            assert reply["ok"], reply
        return int(reply["deposit"])

    def create(self, cred: dict[str, Any], name: str = "cola", cost: int = 35,
               amount: int = 10) -> str:
        reply = self.op(cred, "sell", product_name=name, cost=cost, amount=amount)
        assert reply["ok"], reply
        return str(reply["product"]["product_uid"])

    def products(self, seller_uid: str | None = None) -> dict[str, Any]:
        return self.call({"op": "products", "seller_uid": seller_uid})

    def product(self, product_uid: str) -> dict[str, Any]:
        return self.call({"op": "product", "product_uid": product_uid})

    def authorize(self, req: Any) -> Grant | Outcome:
        """The gatekeeper's half of a stock op on the `authorize` path."""
        with self.acc.db.transaction():
            return self.acc.authorize(req)

    def authorized(self, req: Any, who: Grant) -> dict[str, Any]:
        """The stock handler's half, with the gatekeeper's grant."""
        with self.stock.db.transaction():
            return self.stock.authorized(Call(req, who=who)).reply

    def balance(self, user_uid: str) -> int:
        return self.acc.totals()[user_uid]["deposit"]

    def units(self, product_uid: str) -> int:
        return int(self.product(product_uid)["product"]["amount"])


def error(reply: Any) -> str | None:
    """The reply's error code, None for success; checks the failure shape
    (docs/protocol.md §3)."""
    assert isinstance(reply, dict), reply
    if reply.get("ok") is True:
        return None
    assert reply.get("ok") is False and set(reply) == {"ok", "error", "message"}, reply
    assert isinstance(reply["message"], str) and reply["message"], reply
    # docs/protocol.md §3: a sentence naming the field or rule, not the bare code
    # (the fallback text)
    assert reply["message"] != reply["error"], reply
    assert "Traceback" not in reply["message"]
    return str(reply["error"])


#: The `shop` fixture: a world, a logged-in buyer `ann`, a logged-in seller `sam`.
Shop = tuple[World, dict[str, Any], dict[str, Any]]


def encodes_seen(monkeypatch: Any, module: Any, name: str, real: Any) -> list[Any]:
    """Put an encoder that records what it is given in `module.name` (where that module
    looks `real` up), so a test can tell what was encoded, and how often."""
    seen: list[Any] = []

    def recorded(value: Any) -> str:
        seen.append(value)
        return str(real(value))
    monkeypatch.setattr(module, name, recorded)
    return seen
