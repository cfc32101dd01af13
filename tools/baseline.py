"""The benchmark's baseline: the leanest single-thread server on the same rules and storage.

One thread, one ROUTER socket, the whole live state in memory (users, sessions,
products, kept replies), loaded from its database at start. It drains what has
arrived (up to `BATCH` requests), answers each from memory, and records the
batch in ONE transaction that writes only what changed: the touched user,
session and product rows (upserts), the new kept replies and the new events.
Replies leave after that COMMIT (WAL, `synchronous=FULL`, as the system). Both
owners' tables live in one file (`FILE`; the stock handler's named `stock_*`),
so a batch is one BEGIN ... COMMIT with one fsync, atomic as a whole, where the
system's two files need its purchase saga. A failed commit reloads the state
from disk and answers the whole batch `UNAVAILABLE`: nothing of it happened.

The same request checks (`vending.requests.parse_request`), error codes and
their order, idempotency policy (`vending.idempotency.NOT_KEPT`), coins, login
throttle, argon2 and token sealing as the system; the same tables and events,
but kept replies go to an append-only log (`KEPT_SCHEMA`), not the indexed `idem`.
What it leaves out, being a yardstick and not a product: supervision, deadlines,
live event publishing, argon2 off the loop (a login stalls the loop ~30 ms),
housekeeping (expired kept replies and events are never dropped), the
registration limit and known addresses, and the ops the bench never sends that
came after it (`change_password`, `history`, `health`, paging of `products`):
those answer BAD_REQUEST.

Run by `vending bench` as `python -m tools.baseline --bind EP --data-dir DIR`.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

import vending
from transport.codec import DecodeError, decode_map, encode
from vending import credentials, limits, sqlcount
from vending.coins import make_change
from vending.db import Database, insert_rows
from vending.errors import (
    BadRequest,
    BuyersOnly,
    ClientError,
    DuplicateUsername,
    InsufficientDeposit,
    InsufficientStock,
    InvalidCredentials,
    NotOwner,
    ProductNotFound,
    RateLimited,
    SellersOnly,
    Unauthorized,
    Unavailable,
    VendingError,
)
from vending.gate import SCHEMA as GATE_SCHEMA
from vending.idempotency import NOT_KEPT
from vending.jsontext import compact
from vending.requests import AUTH_KINDS, Request, parse_request
from vending.sessions import SessionPolicy
from vending.stock import SCHEMA as STOCK_SCHEMA
from vending.stock_rules import _check_cost
from vending.throttle import LoginThrottle
from vending.wallet import check_coin

__all__ = ["LeanServer", "main"]

#: Requests answered per transaction at most.
BATCH = 512
#: Kept replies as an append-only log, read whole at start (memory is the index). The
#: system's `idem` table is keyed by (scope, req_id), so a batch's replies land on as
#: many B-tree pages as it has accounts: measured under the bench's load, a batch
#: wrote 38 WAL pages with `idem` and 14 with this log, and its commit cost half the
#: CPU. A row whose req_id is NULL forgets the scope's earlier ones (a deleted user's
#: logins), so even that is an append.
KEPT_SCHEMA = """CREATE TABLE IF NOT EXISTS kept(
  scope TEXT NOT NULL, req_id TEXT, fp TEXT, reply TEXT, sealed BLOB, created REAL NOT NULL)"""
#: Both owners' tables in one file: a batch is one transaction, one COMMIT and one
#: fsync, atomic as a whole (two files in WAL mode commit one after the other).
FILE = "baseline.sqlite3"
#: Events by source (docs/protocol.md §6a), each numbered on its own as in the system.
EVENT_TABLES = {"gatekeeper": "events", "stock-handler": "stock_events"}


def stock_tables() -> str:
    """The stock handler's tables (vending/stock.py), named stock_* beside the
    gatekeeper's (its `events` and `idem` have the same names): version 1's SQL,
    which may run again at every start (all `IF NOT EXISTS`); later versions
    rebuild tables, once, and only `idem`, which the baseline does not use (its
    replies go to `kept`)."""
    return re.sub(r"\b(products|reservations|idem|events)", r"stock_\1", STOCK_SCHEMA.base)


_NOTICE = "There is already an active session using your account"
_SNDMORE, _NOBLOCK, _RCVMORE = int(zmq.SNDMORE), int(zmq.NOBLOCK), int(zmq.RCVMORE)


@dataclass(slots=True)
class User:
    account_id: int
    user_uid: str
    username: str
    role: str
    pw_hash: str
    deposit: int
    deposited: int
    spent: int
    returned: int
    created: float


@dataclass(slots=True)
class Sess:
    wsess_uid: str
    account_id: int
    user_uid: str
    role: str
    token_hash: bytes
    created: float
    last_seen: float
    ended: float | None


@dataclass(slots=True)
class Product:
    seq: int
    product_uid: str
    seller_account: int
    seller_uid: str
    product_name: str
    cost: int
    amount: int
    added: int
    sold: int

    def public(self) -> dict[str, Any]:
        return {"product_uid": self.product_uid, "seller_uid": self.seller_uid,
                "product_name": self.product_name, "cost": self.cost, "amount": self.amount}


@dataclass(slots=True)
class Kept:
    """A kept reply: its request's fingerprint, the reply (JSON text) and a sealed token."""

    fp: str
    text: str | None
    sealed: bytes | None


class Writes:
    """What one batch changed, written in its one transaction."""

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.gone_users: list[int] = []
        self.sessions: dict[str, Sess] = {}
        self.products: dict[str, Product] = {}
        self.gone_products: list[str] = []
        #: In order, for the kept-reply log (KEPT_SCHEMA): (scope, req_id, fp, reply,
        #: sealed, created); req_id None forgets the scope's earlier ones.
        self.kept: list[tuple[str, str | None, str | None, str | None, bytes | None,
                              float]] = []
        #: by table (EVENT_TABLES): (topic, at, body)
        self.events: dict[str, list[tuple[str, float, str]]] = {
            t: [] for t in EVENT_TABLES.values()}

    def empty(self) -> bool:
        return not (self.users or self.gone_users or self.sessions or self.products
                    or self.gone_products or self.kept or any(self.events.values()))


class LeanServer:
    def __init__(self, data_dir: Path, policy: SessionPolicy | None = None,
                 clock: Callable[[], float] = time.time, events: bool = True) -> None:
        self.policy = policy or SessionPolicy()
        #: False: no events stored (`vending bench --events-off`, as `vending serve` then)
        self.store_events = events
        self.clock = clock
        self.throttle = LoginThrottle()
        # The system's tables (the stock handler's renamed) and durability, in one file.
        self.db = Database(data_dir / FILE, GATE_SCHEMA)
        self.conn = self.db.conn
        # Every statement IF NOT EXISTS: a start cut short is completed by the next one.
        self.conn.executescript(f"{KEPT_SCHEMA};\n{stock_tables()}")
        self.w = Writes()
        self.load()

    # -- state ---------------------------------------------------------------
    def load(self) -> None:
        """Everything live, from disk (at start, and after a failed commit)."""
        c = self.conn
        self.users: dict[str, User] = {}
        self.accounts: dict[int, User] = {}
        for row in c.execute("SELECT account_id, user_uid, username, role, pw_hash, deposit,"
                             " deposited, spent, returned, created FROM users"):
            u = User(*row)
            self.users[u.user_uid] = self.accounts[u.account_id] = u
        seq = c.execute("SELECT seq FROM sqlite_sequence WHERE name='users'").fetchone()
        self.next_account = max([seq[0] if seq else 0, *self.accounts]) + 1
        self.sessions: dict[str, Sess] = {}
        self.live_of: dict[int, set[str]] = {}
        for row in c.execute("SELECT wsess_uid, account_id, user_uid, role, token_hash, created,"
                             " last_seen, ended FROM sessions"):
            s = Sess(*row)
            self.sessions[s.wsess_uid] = s
            if s.ended is None:
                self.live_of.setdefault(s.account_id, set()).add(s.wsess_uid)
        self.products: dict[str, Product] = {}
        for row in c.execute("SELECT seq, product_uid, seller_account, seller_uid, product_name,"
                             " cost, amount, added, sold FROM stock_products"):
            p = Product(*row)
            self.products[p.product_uid] = p
        seq = c.execute("SELECT seq FROM sqlite_sequence WHERE name='stock_products'"
                        ).fetchone()
        seqs = [p.seq for p in self.products.values()]
        self.next_product = max([seq[0] if seq else 0, *seqs]) + 1
        self.kept: dict[tuple[str, str], Kept] = {}
        for scope, req_id, fp, text, sealed in c.execute(
                "SELECT scope, req_id, fp, reply, sealed FROM kept ORDER BY rowid"):
            if req_id is None:
                self._forget(scope)
            else:
                self.kept[(scope, req_id)] = Kept(fp, text, sealed)
        self.w = Writes()

    def commit(self) -> None:
        """Record the batch's changes in one transaction (the batch's only SQL writes).

        Raises:
            sqlite3.Error: the storage refused; memory was reloaded from it first,
            so nothing of the batch happened.
        """
        w = self.w
        self.w = Writes()
        if w.empty():
            return
        try:
            self._write(w)
        except sqlite3.Error:
            self.load()
            raise

    def _write(self, w: Writes) -> None:
        c = self.conn
        with self.db.transaction():
            insert_rows(
                c, "INSERT INTO users(account_id, user_uid, username, role, pw_hash, deposit,"
                " deposited, spent, returned, created)",
                [(u.account_id, u.user_uid, u.username, u.role, u.pw_hash, u.deposit,
                  u.deposited, u.spent, u.returned, u.created) for u in w.users.values()],
                "ON CONFLICT(account_id) DO UPDATE SET deposit=excluded.deposit,"
                " deposited=excluded.deposited, spent=excluded.spent,"
                " returned=excluded.returned")
            if w.gone_users:
                c.executemany("DELETE FROM users WHERE account_id=?",
                              [(a,) for a in w.gone_users])
            insert_rows(
                c, "INSERT OR REPLACE INTO sessions(wsess_uid, account_id, user_uid, role,"
                " token_hash, created, last_seen, ended)",
                [(s.wsess_uid, s.account_id, s.user_uid, s.role, s.token_hash, s.created,
                  s.last_seen, s.ended) for s in w.sessions.values()])
            insert_rows(
                c, "INSERT INTO stock_products(seq, product_uid, seller_account, seller_uid,"
                " product_name, cost, amount, added, sold)",
                [(p.seq, p.product_uid, p.seller_account, p.seller_uid, p.product_name,
                  p.cost, p.amount, p.added, p.sold) for p in w.products.values()],
                "ON CONFLICT(seq) DO UPDATE SET product_name=excluded.product_name,"
                " cost=excluded.cost, amount=excluded.amount, added=excluded.added,"
                " sold=excluded.sold")
            if w.gone_products:
                c.executemany("DELETE FROM stock_products WHERE product_uid=?",
                              [(uid,) for uid in w.gone_products])
            insert_rows(c, "INSERT INTO kept(scope, req_id, fp, reply, sealed, created)",
                        w.kept)
            for table, rows in w.events.items():
                insert_rows(c, f"INSERT INTO {table}(topic, at, body)", rows)

    # -- helpers ---------------------------------------------------------------
    def emit(self, table: str, topic: str, fields: dict[str, Any]) -> None:
        if not self.store_events:
            return
        self.w.events[table].append((topic, self.clock(), compact(fields)))

    def keep(self, scope: str, req: Request, reply: dict[str, Any],
             sealed: bytes | None = None) -> None:
        if req.req_id is None:
            return
        fp = req.fingerprint()
        text = compact(reply if "token" not in reply else
                       {k: v for k, v in reply.items() if k != "token"})
        self.kept[(scope, req.req_id)] = Kept(fp, text, sealed)
        self.w.kept.append((scope, req.req_id, fp, text, sealed, self.clock()))

    def _forget(self, scope: str) -> None:
        self.kept = {k: v for k, v in self.kept.items() if k[0] != scope}

    def lookup(self, scope: str, req: Request) -> Kept | None:
        if req.req_id is None:
            return None
        kept = self.kept.get((scope, req.req_id))
        if kept is not None and kept.fp != req.fingerprint():
            raise BadRequest("req_id was already used for a different request")
        return kept

    def live(self, s: Sess, now: float) -> bool:
        return (s.ended is None and now - s.last_seen <= self.policy.idle
                and now - s.created <= self.policy.max_age)

    def end_session(self, s: Sess, now: float) -> None:
        s.ended = now
        self.w.sessions[s.wsess_uid] = s
        live = self.live_of.get(s.account_id)
        if live is not None:
            live.discard(s.wsess_uid)

    def live_sessions(self, account_id: int, now: float) -> list[Sess]:
        sessions = (self.sessions[w] for w in self.live_of.get(account_id, ()))
        return [s for s in sessions if self.live(s, now)]

    def user_dirty(self, u: User) -> None:
        self.w.users[u.account_id] = u

    def product_dirty(self, p: Product) -> None:
        self.w.products[p.product_uid] = p

    # -- answering ---------------------------------------------------------------
    def answer(self, req: Request, peer: str | None) -> dict[str, Any]:
        op = req.op
        if op == "ping":
            return {"ok": True, "version": vending.__version__}
        if op == "products":
            seller = req.args.get("seller_uid")
            return {"ok": True, "products": [
                p.public() for uid, p in sorted(self.products.items())
                if seller is None or p.seller_uid == seller]}
        if op == "product":
            p = self.products.get(req.args["product_uid"])
            if p is None:
                return ProductNotFound(f"no product {req.args['product_uid']}").to_reply()
            return {"ok": True, "product": p.public()}
        if op == "events":
            return self.events(req.args)
        if op == "auth":
            return self.auth(req, peer)
        if op not in self.RULES and op != "profile":
            # Ops the bench never sends (vending/ops.py has them all): not served here.
            raise BadRequest(f"{op!r} is not served by the benchmark's baseline")
        return self.session_op(req, peer)

    def session_op(self, req: Request, peer: str | None) -> dict[str, Any]:
        """Every op in a session: the session, its kept reply, then the op's rule."""
        now = self.clock()
        s = self.sessions.get(req.wsess_uid)
        if s is None or not hmac.compare_digest(s.token_hash,
                                                credentials.hash_token(req.token)):
            raise Unauthorized("token is unknown or was not issued with this wsess_uid")
        live = self.live(s, now)
        if live and now - s.last_seen >= self.policy.touch_every:
            s.last_seen = now
            self.w.sessions[s.wsess_uid] = s
        op = req.op
        scope = f"a:{s.account_id}"
        if op != "profile":
            kept = self.lookup(scope, req)
            if kept is not None and kept.text is not None:
                reply: dict[str, Any] = json.loads(kept.text)
                return reply
        if not live:
            raise Unauthorized("session has ended or expired")
        user = self.accounts.get(s.account_id)
        if user is None:
            raise Unauthorized("account no longer exists")
        if op == "profile":
            return {"ok": True, "user_uid": user.user_uid, "username": user.username,
                    "role": user.role, "deposit": user.deposit, "active_sessions": sum(
                        1 for o in self.live_sessions(user.account_id, now)
                        if o.wsess_uid != s.wsess_uid)}
        rule = self.RULES[op]
        try:
            reply = rule(self, req, s, user, peer)
        except ClientError as exc:
            reply = exc.to_reply()
            unkept = op == "delete_user" and exc.code == "INVALID_CREDENTIALS"
            if exc.code in NOT_KEPT or unkept:
                return reply
        self.keep(scope, req, reply)
        return reply

    # -- the rules, each on a live session's user -----------------------------------
    def deposit(self, req: Request, s: Sess, u: User, peer: str | None) -> dict[str, Any]:
        amount = req.args["amount"]
        if u.role != "buyer":
            raise BuyersOnly("only buyers can deposit")
        check_coin(u.deposit, amount)
        u.deposit += amount
        u.deposited += amount
        self.user_dirty(u)
        self.emit("events", "deposit", {"amount": amount})
        return {"ok": True, "deposit": u.deposit}

    def give_back(self, u: User) -> list[int]:
        change = make_change(u.deposit)
        u.returned += u.deposit
        u.deposit = 0
        self.user_dirty(u)
        return change

    def reset(self, req: Request, s: Sess, u: User, peer: str | None) -> dict[str, Any]:
        if u.role != "buyer":
            raise BuyersOnly("only buyers can reset a deposit")
        change = self.give_back(u)
        self.emit("events", "reset", {"change": change})
        return {"ok": True, "change": change, "deposit": 0}

    def buy(self, req: Request, s: Sess, u: User, peer: str | None) -> dict[str, Any]:
        uid, units = req.args["product_uid"], req.args["amount"]
        if u.role != "buyer":
            raise BuyersOnly("only buyers can buy")
        p = self.products.get(uid)
        if p is None:
            return ProductNotFound(f"no product {uid}").to_reply()
        if p.amount < units:
            return InsufficientStock(f"only {p.amount} units of {uid} left").to_reply()
        total = p.cost * units
        if u.deposit < total:
            raise InsufficientDeposit(f"deposit {u.deposit} is less than cost {total}")
        rest = u.deposit - total
        change = make_change(rest)
        u.spent += total
        u.returned += rest
        u.deposit = 0
        self.user_dirty(u)
        p.amount -= units
        p.sold += units
        self.product_dirty(p)
        self.emit("events", "purchase", {"product_uid": uid, "amount": units, "spent": total,
                                         "change": change})
        self.emit("stock_events", "product", {"product": p.public(), "kind": "sold"})
        return {"ok": True, "product_uid": uid, "product_name": p.product_name,
                "amount": units, "spent": total, "change": change, "deposit": 0}

    def _seller(self, u: User) -> None:
        if u.role != "seller":
            raise SellersOnly("only sellers can do this")

    def _owned(self, uid: str, u: User) -> Product:
        p = self.products.get(uid)
        if p is None:
            raise ProductNotFound(f"no product {uid}")
        if p.seller_account != u.account_id:
            raise NotOwner(f"{uid} belongs to another seller")
        return p

    def sell(self, req: Request, s: Sess, u: User, peer: str | None) -> dict[str, Any]:
        self._seller(u)
        args = req.args
        if "product_uid" not in args:
            _check_cost(args["cost"])
            seq = self.next_product
            self.next_product += 1
            p = Product(seq, f"p{seq:010d}", u.account_id, u.user_uid, args["product_name"],
                        args["cost"], args["amount"], args["amount"], 0)
            self.products[p.product_uid] = p
            kind = "created"
        else:
            p = self._owned(args["product_uid"], u)
            if "cost" in args:
                _check_cost(args["cost"])
            delta = args.get("amount", 0)
            if p.amount + delta < 0:
                raise InsufficientStock(
                    f"only {p.amount} units of {p.product_uid} can be taken out")
            if p.amount + delta > limits.STOCK_MAX:
                return BadRequest(f"amount would take stock above {limits.STOCK_MAX}").to_reply()
            p.product_name = args.get("product_name", p.product_name)
            p.cost = args.get("cost", p.cost)
            p.amount += delta
            p.added += delta
            kind = "updated"
        self.product_dirty(p)
        product = p.public()
        self.emit("stock_events", "product", {"product": product, "kind": kind})
        return {"ok": True, "product": product}

    def delete_product(self, req: Request, s: Sess, u: User,
                       peer: str | None) -> dict[str, Any]:
        self._seller(u)
        p = self._owned(req.args["product_uid"], u)
        self._drop_product(p)
        return {"ok": True, "product_uid": p.product_uid}

    def _drop_product(self, p: Product) -> None:
        del self.products[p.product_uid]
        self.w.products.pop(p.product_uid, None)
        self.w.gone_products.append(p.product_uid)
        self.emit("stock_events", "product_deleted", {"product_uid": p.product_uid,
                                                      "seller_uid": p.seller_uid})

    def logout(self, req: Request, s: Sess, u: User, peer: str | None) -> dict[str, Any]:
        self.end_session(s, self.clock())
        return {"ok": True, "ended": 1}

    def logout_all(self, req: Request, s: Sess, u: User, peer: str | None) -> dict[str, Any]:
        now = self.clock()
        ended = self.live_sessions(u.account_id, now)
        for o in ended:
            self.end_session(o, now)
        return {"ok": True, "ended": len(ended)}

    def delete_user(self, req: Request, s: Sess, u: User, peer: str | None) -> dict[str, Any]:
        now = self.clock()
        if self.throttle.blocked(u.user_uid, peer, now):
            raise RateLimited("too many failed logins; try again later")
        if not credentials.verify_password(u.pw_hash, req.args["password"]):
            self.throttle.failed(u.user_uid, peer, now)
            raise InvalidCredentials("wrong password")
        self.throttle.succeeded(u.user_uid, peer)
        change = self.give_back(u)
        del self.users[u.user_uid], self.accounts[u.account_id]
        self.w.users.pop(u.account_id, None)
        self.w.gone_users.append(u.account_id)
        for o in self.live_sessions(u.account_id, now):
            self.end_session(o, now)
        scope = "u:" + u.user_uid
        self._forget(scope)
        self.w.kept.append((scope, None, None, None, None, now))
        self.emit("events", "user_deleted", {"role": u.role, "change": change,
                                             **_seller_uid(u.role, u.user_uid)})
        if u.role == "seller":
            for p in sorted((p for p in self.products.values()
                             if p.seller_account == u.account_id),
                            key=lambda p: p.product_uid):
                self._drop_product(p)
        return {"ok": True, "user_uid": u.user_uid, "change": change}

    RULES: dict[str, Callable[[LeanServer, Request, Sess, User, str | None],
                              dict[str, Any]]] = {
        "deposit": deposit, "reset": reset, "buy": buy, "sell": sell,
        "delete_product": delete_product, "logout": logout, "logout_all": logout_all,
        "delete_user": delete_user}

    # -- auth --------------------------------------------------------------------
    def auth(self, req: Request, peer: str | None) -> dict[str, Any]:
        role, register = AUTH_KINDS[req.args["token"]]
        user_uid = f"{role}_{req.args['username']}"
        scope, now = "u:" + user_uid, self.clock()
        kept = self.lookup(scope, req)
        if kept is not None and (kept.text is None or not json.loads(kept.text).get("ok")):
            kept = None
        if (kept is not None or not register) and self.throttle.blocked(user_uid, peer, now):
            return RateLimited("too many failed logins; try again later").to_reply()
        password = req.args["password"]
        if kept is not None:
            secret = credentials.open_seal(kept.sealed or b"", password)
            if secret is None:
                self.throttle.failed(user_uid, peer, now)
                return InvalidCredentials("unknown account or wrong password").to_reply()
            self.throttle.succeeded(user_uid, peer)
            assert kept.text is not None
            reply: dict[str, Any] = {**json.loads(kept.text), "token": secret.decode()}
            return reply
        token, wsess_uid = credentials.new_token(), credentials.new_wsess_uid()
        seen = self.users.get(user_uid)
        if register:
            if seen is not None:
                return DuplicateUsername(f"{user_uid} is already registered").to_reply()
            u = User(self.next_account, user_uid, req.args["username"], role,
                     credentials.hash_password(password), 0, 0, 0, 0, now)
            self.next_account += 1
            self.users[user_uid] = self.accounts[u.account_id] = u
            self.user_dirty(u)
            self.emit("events", "user", {"role": role, **_seller_uid(role, user_uid)})
            reply = {"ok": True, "token": token, "wsess_uid": wsess_uid, "user_uid": user_uid,
                     "role": role, "deposit": 0}
        else:
            if not credentials.verify_password(seen.pw_hash if seen else None, password):
                self.throttle.failed(user_uid, peer, now)
                return InvalidCredentials("unknown account or wrong password").to_reply()
            assert seen is not None
            u = seen
            self.throttle.succeeded(user_uid, peer)
            others = len(self.live_sessions(u.account_id, now))
            reply = {"ok": True, "token": token, "wsess_uid": wsess_uid, "user_uid": user_uid,
                     "role": u.role, "deposit": u.deposit,
                     "active_sessions": min(others, self.policy.per_account - 1)}
            if reply["active_sessions"]:
                reply["notice"] = _NOTICE
        self._open_session(wsess_uid, token, u, now)
        sealed = credentials.seal(token.encode(), password) if req.req_id is not None else None
        self.keep(scope, req, reply, sealed)
        return reply

    def _open_session(self, wsess_uid: str, token: str, u: User, now: float) -> None:
        """A new session; the least recently used ones past the per-account bound end."""
        live = sorted(self.live_sessions(u.account_id, now), key=lambda o: o.last_seen)
        for o in live[:max(0, len(live) - self.policy.per_account + 1)]:
            self.end_session(o, now)
        s = Sess(wsess_uid, u.account_id, u.user_uid, u.role,
                 credentials.hash_token(token), now, now, None)
        self.sessions[wsess_uid] = s
        self.live_of.setdefault(u.account_id, set()).add(wsess_uid)
        self.w.sessions[wsess_uid] = s

    def events(self, args: Any) -> dict[str, Any]:
        table = EVENT_TABLES[args["source"]]
        rows = self.conn.execute(
            f"SELECT seq, topic, at, body FROM {table} WHERE seq > ? ORDER BY seq LIMIT ?",
            (args.get("since", 0), args.get("limit", limits.EVENTS_LIMIT_DEFAULT))).fetchall()
        last = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name=?",
                                 (table,)).fetchone()
        return {"ok": True, "events": [
            {"topic": topic, "source": args["source"], "seq": seq, "at": at, **json.loads(body)}
            for seq, topic, at, body in rows], "last_seq": last[0] if last else 0}

    # -- the loop --------------------------------------------------------------------
    def serve(self, endpoint: str, stop: threading.Event) -> None:
        ctx: zmq.Context[Any] = zmq.Context()
        router = ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.bind(endpoint)
        # The bound endpoint: a port-0 one names the port it got (tools/serverproc.py).
        bound = router.getsockopt(zmq.LAST_ENDPOINT).decode()
        print(f"baseline ready on {bound}", file=sys.stderr, flush=True)
        recv, more, send, again = router.recv, router.getsockopt, router.send, zmq.Again
        try:
            while not stop.is_set():
                if not router.poll(100):
                    continue
                out: list[list[bytes]] = []
                while len(out) < BATCH:
                    try:
                        frames = [recv(_NOBLOCK)]
                    except again:
                        break
                    # Not recv_multipart: its enum flags cost a microsecond a message.
                    while more(_RCVMORE):
                        frames.append(recv(_NOBLOCK))
                    frames[-1] = encode(self._one(frames[-1]))
                    out.append(frames)
                try:
                    self.commit()
                except sqlite3.Error as exc:
                    # Nothing of the batch happened (memory is back to what is stored).
                    refusal = encode(Unavailable(f"storage: {exc}; retry").to_reply())
                    for frames in out:
                        frames[-1] = refusal
                for frames in out:
                    # Not send_multipart: its flags are enum Flags, a third of its cost.
                    for frame in frames[:-1]:
                        send(frame, _SNDMORE)
                    send(frames[-1], 0)
        finally:
            router.close(0)
            ctx.term()

    def _one(self, body: bytes) -> dict[str, Any]:
        try:
            req = parse_request(decode_map(body))
        except DecodeError as exc:
            return BadRequest(str(exc)).to_reply()
        except VendingError as exc:
            return exc.to_reply()
        try:
            reply = self.answer(req, None)
        except ClientError as exc:
            reply = exc.to_reply()
        if req.req_id is not None:
            reply["req_id"] = req.req_id  # every reply is a dict made for this request
        return reply


def _seller_uid(role: str, user_uid: str) -> dict[str, str]:
    return {"user_uid": user_uid} if role == "seller" else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.baseline")
    parser.add_argument("--bind", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    sqlcount.from_environ()  # `vending bench --count-sql` only
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    events = os.environ.get("VENDING_EVENTS") != "off"  # `vending bench --events-off`
    LeanServer(args.data_dir, events=events).serve(args.bind, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
