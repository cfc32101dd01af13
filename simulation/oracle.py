"""What must hold after every step (docs/simulation.md, "The oracle").

The oracle reads the committed state of both databases through its own
read-only connections (so it sees exactly what survived, never an open
transaction), the messages on the status fifo, and every final reply clients
got. It checks docs/protocol.md's guarantees:

- events: per source, every `seq` once and in order (+1 each, never back);
- events equal the committed effects: the money they add up to is what the
  users hold; each product row has its latest `product` event (same uid,
  seller, name, cost) and a deleted one has a `product_deleted`;
- purchases atomic across the two owners: per product, units sold <= units the
  gatekeeper charged for <= units sold + units still reserved; no purchase is
  both charged and fenced; nothing negative (SQLite's CHECKs hold too);
- acknowledged effects durable: every `ok` reply to a state-changing request
  has its idempotency row in its owner's database, checked when it arrives and
  again after every process crash;
- idempotency: a request retried with the same `req_id` never gets a different
  `ok` reply, nor a refusal after an `ok`;
- every request answered or timed out: the front door holds no request past its
  deadline, and no request is answered twice (two statuses for one ticket);
- at the end, once clients are quiet: what clients were told (the ledger) is
  what the databases hold, per buyer and per product, and nothing is oversold.
  An `ok` its client never saw (`missed_reply`; or, when none exists, the kept
  reply of an `idem` row as it goes: `_key_gone`) counts there once the
  request's key may be gone.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Callable, Collection
from functools import partial
from pathlib import Path
from typing import Any

from tools.ledger import Ledger
from vending.events import KEEP
from vending.gate import Gate
from vending.requests import STATE_CHANGING_OPS

from .clock import EPOCH

__all__ = ["Oracle"]

ROLES = ("gatekeeper", "stock-handler")
#: How long events are kept before housekeeping deletes them (vending/events.py).
EVENTS_KEPT = KEEP
#: How long a request's idempotency key is kept from its row's creation (vending/gate.py,
#: vending/stock.py: the same), which follows the request's first try.
IDEM_KEPT = Gate.idem_ttl
#: Slack past a request's deadline before "never answered" (the front door's tick).
ANSWER_SLACK = 1.0
_STOCK_OPS = frozenset({"sell", "delete_product"})
#: The tables the storage checks read, per database; `users` only for `deposit`.
READS = {"gatekeeper": ("users", "events", "purchases", "aborted"),
         "stock-handler": ("events", "reservations", "products")}


class Oracle:
    """Checks; a violation is one line. Runs on the simulation's thread."""

    def __init__(self, data_dir: Path, clock: Callable[[], float] = lambda: 0.0) -> None:
        #: The simulated wall clock (`time()`): what events' `at` are written on.
        self._clock = clock
        self._paths = {"gatekeeper": data_dir / "gatekeeper.sqlite3",
                       "stock-handler": data_dir / "stock.sqlite3"}
        self._conns: dict[str, sqlite3.Connection] = {}
        self.violations: list[str] = []
        self.ledger = Ledger()
        self._seq = {"gatekeeper": 0, "stock-handler": 0}
        self._seq_at = {"gatekeeper": 0.0, "stock-handler": 0.0}  # the newest seen's `at`
        self._money = 0                      # what deposit/purchase/reset events add up to
        self._charged: dict[str, int] = {}   # product_uid -> units charged (purchase events)
        self._products: dict[str, dict[str, Any] | None] = {}  # latest event per product
        # (first sent, role, req_id) acknowledged: its `idem` row was written after
        # its first try and is kept 48 h from then, whenever its reply arrived.
        self._acked: list[tuple[float, str, str]] = []
        self._finals: dict[str, dict[str, Any]] = {}  # req_id -> first ok reply
        # req_id -> an ok reply its client missed, and where it was seen: on a
        # connection its client had left (`missed_reply`), or, no reply existing,
        # kept in its `idem` row as the row went (`_key_gone`).
        self._missed: dict[str, tuple[dict[str, Any], str]] = {}
        self._statused: set[tuple[int, int]] = set()  # (incarnation, ticket)
        self._touched: set[str] = set()  # products changed since the last check
        self._reserved: dict[str, int] = {}  # units held per product at the last check
        self._rowids = (0, 0)  # purchases, aborted: the last rowids checked
        self._tick_checked: tuple[object, float] | None = None  # (door, its last tick)
        #: Per database, the tables of `READS` written since its last check (`watch`).
        self.written: dict[str, set[str]] = {role: set() for role in ROLES}
        self._watched: set[str] = set()
        #: The databases whose `idem` rows may have gone since their last recheck.
        self._idem_gone: set[str] = set(ROLES)
        self._held: tuple[int, int] = (0, 0)  # users' deposits at the last read: sum, least

    def fail(self, line: str) -> None:
        self.violations.append(line)

    def _db(self, role: str) -> sqlite3.Connection | None:
        conn = self._conns.get(role)
        if conn is None:
            path = self._paths[role]
            if not path.exists():
                return None
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
            self._conns[role] = conn
        return conn

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def watch(self, path: Path | None, conn: sqlite3.Connection, *, wrote: bool = True,
              stored: bool = False) -> None:
        """`conn`, an actor's just opened on `path`, tells the oracle from now on
        what it writes that the checks read: by triggers (`triggers`), temporary
        ones in that connection only, or (`stored`) those the file holds already
        (simulation/disk.py, `new_file`), which call the functions registered
        here. A write to a table of `READS` marks it in `written` (one that rolls
        back too: that only costs a read that finds nothing new); a row of `idem`
        deleted or rekeyed marks the database for the next `recheck_durable`, and
        hands its key and kept reply to `_key_gone`. `wrote`: opening it may have
        written (not when the file was at its schema's version already: the schema
        then runs nothing)."""
        role = self.role_of(path)
        if role is None:
            return
        self._watched.add(role)
        marks = self.written[role]
        marks.update(READS[role])
        if wrote:
            self._idem_gone.add(role)
        conn.create_function("sim_wrote", 1, marks.add)
        conn.create_function("sim_idem_gone", 2, partial(self._key_gone, role))
        if not stored:
            conn.executescript(f"BEGIN;{self.triggers(role, temp=True)}COMMIT;")

    @staticmethod
    def triggers(role: str, *, temp: bool = False) -> str:
        """The triggers that tell the oracle what a connection to `role`'s file
        writes (`watch`), as one script: `temp`, for that connection only; else to
        be stored in the file, for every connection that registers their functions."""
        triggers = [(table, verb, f"sim_wrote('{table}')") for table in READS[role]
                    for verb in ("INSERT", "UPDATE OF deposit" if table == "users" else "UPDATE",
                                 "DELETE")]
        triggers += [("idem", verb, "sim_idem_gone(OLD.req_id, OLD.reply)")
                     for verb in ("DELETE", "UPDATE OF scope, req_id")]
        kind = "TEMP TRIGGER" if temp else "TRIGGER"
        return "".join(
            f"CREATE {kind} sim_{table}_{verb.split()[0].lower()} AFTER {verb}"
            f" ON main.{table} BEGIN SELECT {call}; END;" for table, verb, call in triggers)

    def role_of(self, path: Path | None) -> str | None:
        """Whose database `path` is (None: not one the oracle reads)."""
        return next((r for r, p in self._paths.items() if p == path), None)

    def version(self, role: str) -> int | None:
        """The schema version `role`'s file is at (None: there is no file yet)."""
        conn = self._db(role)
        return None if conn is None else int(conn.execute("PRAGMA user_version").fetchone()[0])

    def _marked(self, role: str, full: bool, changed: Collection[str]) -> set[str]:
        """The tables of `role` to read now (and the marks cleared): every one for a
        full check or a database written without the triggers (`watch`)."""
        marks = self.written[role]
        if full or (role in changed and role not in self._watched):
            tables = set(READS[role])
        else:
            tables = set(marks)
        marks.clear()
        return tables

    # -- storage, after a step that committed ------------------------------------
    def check_storage(self, full: bool = False, changed: Collection[str] = ROLES) -> None:
        """The storage checks; `full`: every product, not only those changed since
        the last check (the end of a run, and after a crash). `changed`: the
        databases written since the last check.

        A table the checks read that was not written since the last check (`watch`
        marks every write) reads as it did then, so it is not read again: what it
        gave then is compared with what the other tables give now. A database
        with none of them written is not read at all, except for what depends on
        it through the other (a new purchase event's product in the stock
        handler's)."""
        gk, sh = self._db("gatekeeper"), self._db("stock-handler")
        if gk is None or sh is None:
            return
        tables = self._marked("gatekeeper", full, changed)
        if tables:
            gk.execute("BEGIN")  # one snapshot for the database's whole check
            try:
                if "events" in tables:
                    self._events("gatekeeper", gk)
                if "users" in tables:
                    self._held = gk.execute("SELECT coalesce(sum(deposit), 0),"
                                            " coalesce(min(deposit), 0) FROM users").fetchone()
                if "purchases" in tables or "aborted" in tables:
                    self._fenced_and_charged(gk)
            finally:
                gk.execute("COMMIT")
            money, least = self._held
            if money != self._money:
                self.fail(f"money: users hold {money}, events add up to {self._money}")
            if least < 0:
                self.fail(f"negative deposit {least}")
        tables = self._marked("stock-handler", full, changed)
        if tables or self._touched:
            sh.execute("BEGIN")
            try:
                if "events" in tables:
                    self._events("stock-handler", sh)
                self._stock(sh, full, "reservations" in tables)
            finally:
                sh.execute("COMMIT")

    def _events(self, role: str, conn: sqlite3.Connection) -> None:
        last = self._seq[role]
        rows = conn.execute("SELECT seq, topic, at, body FROM events WHERE seq > ?"
                            " ORDER BY seq", (last,)).fetchall()
        if not rows:
            # Nothing past the last seen: the newest may still have gone back. Rows
            # older than the events' retention are deleted on purpose (all of them
            # after a quiet simulated day) while their sequence goes on, so the newest
            # seen may be missing only once it is that old.
            top = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            if top < last and self._seq_at[role] >= self._clock() - EVENTS_KEPT:
                self.fail(f"events: {role} seq went back from {last} to {top} (a committed"
                          " event was lost)")
                self._seq[role] = top
            return
        for seq, topic, at, body in rows:
            if seq != last + 1:
                self.fail(f"events: {role} seq {seq} follows {last}")
            last = seq
            self._seq_at[role] = at
            self._apply(topic, json.loads(body))
        self._seq[role] = last

    def _apply(self, topic: str, body: dict[str, Any]) -> None:
        if topic == "deposit":
            self._money += body["amount"]
        elif topic == "purchase":
            self._money -= body["spent"] + sum(body["change"])
            uid = body["product_uid"]
            self._charged[uid] = self._charged.get(uid, 0) + body["amount"]
            self._touched.add(uid)
        elif topic in ("reset", "user_deleted"):
            self._money -= sum(body["change"])
        elif topic == "product":
            uid = body["product"]["product_uid"]
            self._products[uid] = body["product"]
            self._touched.add(uid)
        elif topic == "product_deleted":
            self._products[body["product_uid"]] = None
            self._touched.add(body["product_uid"])

    def _fenced_and_charged(self, gk: sqlite3.Connection) -> None:
        """No purchase both charged and fenced (the rows added since the last check)."""
        top_p, top_a = self._rowids
        new_p, new_a = gk.execute("SELECT (SELECT coalesce(max(rowid), 0) FROM purchases),"
                                  " (SELECT coalesce(max(rowid), 0) FROM aborted)").fetchone()
        if (new_p, new_a) == (top_p, top_a):
            return
        self._rowids = (new_p, new_a)
        # The new purchases that were fenced, and the new fences of older purchases:
        # each a range of rowids (with `p.rowid > ? OR a.rowid > ?` SQLite would read
        # every purchase, a growing cost over a long run).
        both = gk.execute(
            "SELECT (SELECT count(*) FROM purchases p JOIN aborted a USING(purchase_id)"
            " WHERE p.rowid > ?1) + (SELECT count(*) FROM aborted a JOIN purchases p"
            " USING(purchase_id) WHERE a.rowid > ?2 AND p.rowid <= ?1)",
            (top_p, top_a)).fetchone()[0]
        if both:
            self.fail(f"{both} purchase(s) both charged and fenced")

    def _stock(self, sh: sqlite3.Connection, full: bool, reservations: bool) -> None:
        """Products against their events and purchases; `reservations`: that table
        was written since the last check (else it holds what it held then)."""
        touched = self._touched
        if reservations:
            reserved = dict(sh.execute(
                "SELECT product_uid, sum(amount) FROM reservations GROUP BY product_uid"))
            # Holds and releases write no event: compare the reservations themselves.
            touched |= {u for u in reserved.keys() | self._reserved.keys()
                        if reserved.get(u) != self._reserved.get(u)}
            self._reserved = reserved
        reserved = self._reserved
        self._touched = set()
        cols = "product_uid, seller_uid, product_name, cost, amount, sold"
        if full:
            rows = sh.execute(f"SELECT {cols} FROM products").fetchall()
            touched = set(self._products)
        elif touched:
            marks = ",".join("?" * len(touched))
            rows = sh.execute(f"SELECT {cols} FROM products WHERE product_uid IN ({marks})",
                              sorted(touched)).fetchall()
        else:
            return
        listed = set()
        for uid, seller, name, cost, amount, sold in rows:
            listed.add(uid)
            event = self._products.get(uid)
            if event is None:
                self.fail(f"events: product {uid} is stored but its last event is not a"
                          " product event")
            elif (event["seller_uid"], event["product_name"], event["cost"]) != (
                    seller, name, cost):
                self.fail(f"events: product {uid} differs from its last event")
            if amount < 0:
                self.fail(f"negative stock {uid}: {amount}")
            charged = self._charged.get(uid, 0)
            if not sold <= charged <= sold + reserved.get(uid, 0):
                self.fail(f"purchase atomicity: {uid} sold {sold}, charged {charged},"
                          f" reserved {reserved.get(uid, 0)}")
        for uid in sorted(touched):
            if self._products.get(uid) is not None and uid not in listed:
                self.fail(f"events: product {uid} has a product event but is not stored")

    # -- statuses and replies --------------------------------------------------------
    def status_sent(self, incarnation: int, message: dict[str, Any]) -> None:
        """A Status left a backend for the front door (the network's tap)."""
        if message.get("k") != "status":
            return
        key = (incarnation, _ticket(message["rt"]))
        if key in self._statused:
            self.fail(f"ticket {key[1]} answered twice: a second status"
                      f" {_short(message['reply'])}")
        self._statused.add(key)

    def final_reply(self, who: str, message: dict[str, Any], reply: dict[str, Any],
                    now: float, sent: float = 0.0) -> None:
        """A client got its final reply (after any retries); `sent`: the simulated
        time it first sent the request."""
        req_id = message.get("req_id")
        ok = bool(reply.get("ok"))
        if req_id is not None and not ok and req_id in self._missed:
            missed, on = self._missed.pop(req_id)
            if now - sent <= IDEM_KEPT:
                self.fail(f"idempotency: {who} {message['op']} {req_id} answered ok ({on})"
                          f" then {_short(reply)}")
                return
            # Its key may be gone: a retry can no longer learn that it took effect
            # (docs/protocol.md, section 4), so the ok its client missed counts. Not
            # checked durable: it was never acknowledged, and its row may be gone.
            self.ledger.record(who, message, missed)
            return
        if ok and req_id is not None:
            self._missed.pop(req_id, None)
        if req_id is not None:
            first = self._finals.get(req_id)
            if first is not None:
                if _strip(reply) != _strip(first):
                    self.fail(f"idempotency: {who} {message['op']} {req_id} answered"
                              f" {_short(first)} then {_short(reply)}")
                return
            if ok:
                self._finals[req_id] = reply
        if not ok:
            return
        self.ledger.record(who, message, reply)
        if message["op"] in STATE_CHANGING_OPS and req_id is not None:
            role = "stock-handler" if message["op"] in _STOCK_OPS else "gatekeeper"
            self._acked.append((sent, role, req_id))
            self._durable(role, req_id, sent)

    def missed_reply(self, message: dict[str, Any], reply: dict[str, Any]) -> None:
        """A reply to a request still in flight reached a connection its client had
        given up on (the REQ socket is closed: the client never reads it). An ok one
        means the effect happened: a retry must get that reply again while the
        request's key is kept (`final_reply` checks it), and once the key may have
        expired, the ledger counts the effect."""
        req_id = message.get("req_id")
        # A reply a net fault held back past its request's final answer lands on a
        # connection left since, while a later request is in flight: it answers that
        # earlier request (its echoed req_id says which), not this one.
        if req_id is not None and reply.get("req_id") == req_id and reply.get("ok") \
                and message["op"] in STATE_CHANGING_OPS:
            self._missed.setdefault(req_id, (reply, "on a connection it had left"))

    def _key_gone(self, role: str, req_id: str, kept: str | None) -> None:
        """A row of `role`'s `idem` is deleted or rekeyed (its trigger, inside the
        actor's transaction): the key `req_id` may be gone, and with it what a retry
        could learn. `kept`: the reply it held (None: a claim; another owner keeps it).

        A kept ok whose request has had no ok answer yet is the effect of a request
        still in flight whose reply no client ever saw: lost with its process (a
        crash after the COMMIT, before the status left) or dropped by the front door
        (its deadline passed first). No reply exists anywhere for `missed_reply` to
        note, so the oracle learns the effect from what is stored, as the row goes:
        it counts once its key may be gone, as a missed ok does (`final_reply`). A
        row is expired 48 h after its creation, which follows its request's first
        try, so a retry answered after this is past the key's life."""
        self._idem_gone.add(role)
        if kept is None or req_id in self._finals:
            return  # the usual expiry: its client was told already
        reply = json.loads(kept)
        if reply.get("ok"):
            self._missed.setdefault(req_id, (reply, "kept, never sent"))

    def _durable(self, role: str, req_id: str, sent: float) -> None:
        # `idem` is a log in id order (vending/idempotency.py), with no index on
        # req_id or `created`: its row was written after the request was first sent,
        # by the same simulated clock, and lately, so a walk from the newest row
        # finds it after a few (a second of slack for rounding).
        conn = self._db(role)
        if conn is None or conn.execute(
                "SELECT 1 FROM idem WHERE created >= ? AND req_id=? ORDER BY id DESC LIMIT 1",
                (EPOCH + sent - 1.0, req_id)).fetchone() is None:
            self._lost(role, req_id)

    def _lost(self, role: str, req_id: str) -> None:
        self.fail(f"durability: acknowledged {req_id} has no stored effect in {role}")

    def recheck_durable(self, since: float) -> None:
        """After a crash: everything acknowledged that was first sent since `since` is
        still stored (older idempotency keys may have been expired on purpose: a key is
        kept 48 h from its row's creation, which follows the request's first try, not
        its reply: a request retried for hours is acknowledged long after its row was
        made).

        Only in a database whose `idem` rows may have gone since its last recheck
        (`watch`): each acknowledged key was stored when its reply arrived
        (`_durable`) or at that recheck, and a key stays stored until its row is
        deleted or rekeyed."""
        gone, self._idem_gone = self._idem_gone, set()
        if not gone:
            return
        wanted: dict[str, list[str]] = {}
        for sent, role, req_id in self._acked:
            if sent >= since and role in gone:
                wanted.setdefault(role, []).append(req_id)
        for role, req_ids in sorted(wanted.items()):
            # One scan of the table per crash: `idem` has no index on req_id, so a
            # lookup by req_id alone would scan it anyway, once per acknowledgement.
            conn = self._db(role)
            stored = set() if conn is None else {
                row[0] for row in conn.execute("SELECT req_id FROM idem")}
            for req_id in req_ids:
                if req_id not in stored:
                    self._lost(role, req_id)

    def check_deadlines(self, door: Any) -> None:
        """No request the front door holds is past its deadline at its last tick."""
        # Between two ticks a request only joins (due after the tick) or leaves the
        # heap, so once per tick sees all there is to see.
        tick = (door, door.last_tick)
        if tick == self._tick_checked:
            return
        self._tick_checked = tick
        deadlines = door._deadlines
        pending = door._pending
        while deadlines and deadlines[0][1] not in pending:
            heapq.heappop(deadlines)  # answered: the door skips these too
        if deadlines and deadlines[0][0] + ANSWER_SLACK < door.last_tick:
            self.fail(f"request #{deadlines[0][1]} not answered {ANSWER_SLACK}s past its"
                      " deadline")

    def settled(self) -> bool:
        """No purchase is half done (no reservation left to settle)."""
        sh = self._db("stock-handler")
        return sh is None or sh.execute("SELECT count(*) FROM reservations").fetchone()[0] == 0

    # -- the end -----------------------------------------------------------------------
    def check_ledger(self, buyers: dict[str, str]) -> None:
        """With nothing in flight: what clients were told is what is stored."""
        gk, sh = self._db("gatekeeper"), self._db("stock-handler")
        if gk is None or sh is None:
            return
        expected = self.ledger.expected_deposits()
        for name, username in sorted(buyers.items()):
            row = gk.execute("SELECT deposit FROM users WHERE username=?", (username,)
                             ).fetchone()
            have = row[0] if row else 0
            if have != expected.get(name, 0):
                self.fail(f"ledger: buyer {name} holds {have}, was told {expected.get(name, 0)}")
        stock = dict(sh.execute("SELECT product_uid, amount FROM products"))
        for uid, units in sorted(self.ledger.expected_stock().items()):
            if stock.get(uid) != units:
                self.fail(f"ledger: {uid} has {stock.get(uid)} units, sellers and buyers were"
                          f" told {units}")
            if self.ledger.sold.get(uid, 0) > self.ledger.added.get(uid, 0):
                self.fail(f"oversell: {uid}")


def _ticket(rt: Any) -> int:
    """The ticket of a return ticket as the wire carries it (a map, or a list)."""
    return int(rt["ticket"] if isinstance(rt, dict) else rt[2])


def _strip(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k != "req_id"}


def _short(reply: dict[str, Any]) -> str:
    return "ok" if reply.get("ok") else str(reply.get("error"))
