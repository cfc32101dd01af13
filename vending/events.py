"""The audit trail: every committed effect as an event, kept with the effect.

docs/protocol.md §6a. A rule calls `EventLog.emit` where its effect happens, inside
the owner's transaction, so the event row commits or rolls back with the effect:
never an effect without its event, nor an event without its effect, whatever
crashes. A replayed request (same `req_id`) applies nothing and so emits nothing.

`seq` is the table's AUTOINCREMENT key: +1 per event, from 1. A rolled-back
transaction rolls `sqlite_sequence` back too, so `seq` has no holes; it never
goes back after a restart or after old rows are deleted.

The shell (the actor owning the database) publishes what committed: `emit`
remembers each event while `collect` is on, `take_committed` hands them over
after COMMIT and `discard` forgets them after a rollback. Nothing here knows
how events are published.

Events name no buyer: no token, wsess_uid, password, hash or buyer's uid (a
seller's uid is public, in every product map).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import BadRequest
from .jsontext import compact
from .limits import EVENTS_LIMIT_DEFAULT
from .outcome import Outcome
from .records import quick_init
from .sources import SYSTEM_CLOCK

if TYPE_CHECKING:
    from .db import Database

__all__ = ["DROP_AT_INDEX", "KEEP", "SCHEMA", "SOURCES", "TOPICS", "Event", "EventLog", "read"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, at REAL NOT NULL,
  body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_at ON events(at);
"""

#: Part of a migration of both files: `housekeeping` finds old events by `seq`
#: (stored in the order of their `at`), so the index on `at` only cost a page a commit.
DROP_AT_INDEX = "DROP INDEX IF EXISTS events_at;\n"

#: docs/protocol.md §6a: each topic and its fields (a seller's user_uid is optional).
TOPICS: Mapping[str, frozenset[str]] = {
    "deposit": frozenset({"amount"}),
    "purchase": frozenset({"product_uid", "amount", "spent", "change"}),
    "reset": frozenset({"change"}),
    "product": frozenset({"product", "kind"}),
    "product_deleted": frozenset({"product_uid", "seller_uid"}),
    "user": frozenset({"role"}),
    "user_deleted": frozenset({"role", "change"}),
}
SOURCES = ("gatekeeper", "stock-handler")

#: Events are kept this long (docs/protocol.md §6a: at least 24 hours), like idempotency keys.
KEEP = 48 * 3600.0


@quick_init
@dataclass(frozen=True, slots=True)
class Event:
    topic: str
    source: str
    seq: int
    at: float
    fields: Mapping[str, Any]

    def body(self) -> dict[str, Any]:
        """The published map: source, seq, at and the topic's fields."""
        return {"source": self.source, "seq": self.seq, "at": self.at, **self.fields}

    def to_reply(self) -> dict[str, Any]:
        """One item of the `events` op's reply: the map with its topic."""
        return {"topic": self.topic, **self.body()}


class EventLog:
    """One source's events, in its owner's database. Runs on the owner's thread."""

    def __init__(self, db: Database, source: str,
                 clock: Callable[[], float] = SYSTEM_CLOCK.time, keep: float = KEEP) -> None:
        self._db = db
        self.source = source
        self._clock = clock
        self._keep = keep
        #: Remember emitted events for the shell to publish (off: only stored).
        self.collect = False
        #: Off: nothing is stored nor published (the A/B switch of the benchmark).
        self.enabled = True
        self._pending: list[Event] = []
        #: The newest seq given (stored, or deferred in this transaction); None:
        #: read it from the file when next needed.
        self._seq: int | None = None
        db.on_rollback(self._forget_seq)

    def emit(self, topic: str, **fields: Any) -> None:
        """Store an event in the current transaction (written with the batch's other
        events in one statement just before COMMIT: `Database.defer`)."""
        self.emit_text(topic, fields, compact(fields))

    def emit_text(self, topic: str, fields: dict[str, Any], text: str) -> None:
        """`emit`, given `fields`' JSON text too (vending/jsontext.py `compact`), when the
        rule has encoded the same map already (a deposit's history entry)."""
        if not self.enabled:
            return
        at = self._clock()
        if self._seq is None:
            self._seq = self.last_seq()
        self._seq += 1
        # The seq is given here, not by the INSERT: the rows are written later.
        self._db.defer("INSERT INTO events(seq, topic, at, body)", (self._seq, topic, at, text))
        if self.collect:
            self._pending.append(Event(topic, self.source, self._seq, at, fields))

    def _forget_seq(self) -> None:
        """After a rollback: the seqs given since the last commit were never stored."""
        self._seq = None

    def take_committed(self) -> list[Event]:
        """What the transaction that just committed emitted, oldest first."""
        taken, self._pending = self._pending, []
        return taken

    def discard(self) -> None:
        """The transaction rolled back: its events never happened."""
        self._pending = []

    # -- reads -------------------------------------------------------------
    def since(self, since: int, limit: int) -> list[Event]:
        """Up to `limit` stored events with seq > `since`, oldest first."""
        self._db.write_deferred()
        rows = self._db.conn.execute(
            "SELECT seq, topic, at, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (since, limit))
        return [Event(topic, self.source, seq, at, json.loads(body))
                for seq, topic, at, body in rows]

    def last_seq(self) -> int:
        """The newest seq ever given (0 if none), even if its row has expired."""
        if self._seq is not None:
            return self._seq
        self._db.write_deferred()  # rows deferred before a savepoint rolled back
        row = self._db.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name='events'").fetchone()
        # Kept until a rollback (`_forget_seq`): only `emit` moves it, so asking
        # again (each heartbeat's answer, each tick) needs no statement.
        self._seq = int(row[0]) if row else 0
        return self._seq

    def reply(self, since: int, limit: int) -> dict[str, Any]:
        """The `events` op's reply."""
        return {"ok": True, "events": [e.to_reply() for e in self.since(since, limit)],
                "last_seq": self.last_seq()}

    # -- upkeep ------------------------------------------------------------
    def housekeeping(self) -> int:
        """Delete the events older than `keep`, by `seq` (vending/db.py `delete_old`):
        events are stored in the order of their `at`; how many."""
        # Here, not at the top: clients import this module for `TOPICS`, and must not
        # load the storage modules (tests/process/test_cli_startup.py).
        from .db import delete_old
        return delete_old(self._db.conn, "events", "seq", "at", self._clock() - self._keep)


def read(state: Any, call: Any) -> Outcome:
    """The `events` op's rule: `state.events`' stored events after `since`.

    Runs at the role the request's `source` names (vending/ops.py routes it there).
    """
    log: EventLog = state.events
    if call.args["source"] != log.source:
        raise BadRequest(f"source must be {log.source} here")
    return Outcome(log.reply(call.args.get("since", 0),
                             call.args.get("limit", EVENTS_LIMIT_DEFAULT)))
