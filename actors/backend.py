"""What the gatekeeper and stock handler share: an event loop of their own that
owns their fifos' PULL ends, one transaction per drained batch, statuses sent
only after the commit, and failure handling.

Heartbeats are answered before anything else in a batch, and reads wait in a
read queue fair per source address, served in short read turns after the
batch's writes (docs/design.md, "Fairness"): no read flood delays a state
change or makes the actor look dead.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import zmq

from transport.events import EventPublisher
from transport.fifo import Backpressure, FifoInlet
from transport.loop import EventLoop, Timer
from vending.db import Database, StorageFault, storage_fault
from vending.errors import RateLimited, Unavailable
from vending.events import Event, EventLog
from vending.fairqueue import FairQueue, Refused
from vending.ops import OPS, STATE_CHANGING_OPS
from vending.schema import Schema

from .config import Config
from .env import REAL, Env, Outbox
from .messages import Batch, Ready, ServeReads, Tick
from .runtime import LoopActor
from .wire import (
    Alive,
    BadMessage,
    ClientRequest,
    Heartbeat,
    Message,
    ReturnTicket,
    Status,
    from_wire,
)

log = logging.getLogger(__name__)


@dataclass
class BackendStats:
    """A backend's counters for `vending serve --metrics`: kept by the wiring, so
    they outlive restarts of the actor; written in the actor's thread, read by
    the metrics scrape (plain ints and a bool: a snapshot needs no lock)."""

    storage_ok: bool = True
    storage_faults: int = 0
    #: The newest event seq: after each commit when events are collected (they
    #: are embedded, or split with --events), else at each heartbeat's answer (1 s).
    last_seq: int = 0
    #: Statuses and messages a full fifo refused (dropped: the client retries).
    fifo_refused: int = 0
    #: Requests dropped because their deadline passed while they sat in the fifo.
    stale_dropped: int = 0


FailureFn = Callable[[str], None]


class Publisher(Protocol):
    """Where committed events go: the loop's PUB socket (`EventPublisher`), or a fake."""

    @property
    def wanted(self) -> bool:
        """Someone subscribes (else events are not worth encoding)."""

    def publish(self, topic: str, body: dict[str, Any]) -> None: ...


#: Client ops whose table row (vending/ops.py) says they change no state: they
#: write nothing (a session touch is skipped while storage fails) and act only
#: through the database and their status. They wait in the read queue, never in
#: a batch: a new read op inherits that from its row.
READ_OPS = OPS - STATE_CHANGING_OPS

#: A read turn serves reads for at most this long (at least one read), then the
#: fifos are drained again: writes and heartbeats wait for one turn at most.
READ_TURN = 0.02

#: While the storage fails, reads try their optional writes again every TICK
#: seconds; expiry first runs a TICK after the start.
TICK = 1.0
#: Expiry (old kept replies, sessions, events) every this many seconds.
EXPIRE_EVERY = 600.0


class Chore:
    """A piece of a backend's upkeep: `run` every `every` seconds while `wanted()`
    says it has something to do, first `first` seconds after the start (`every` if
    None). Without `wanted`, always wanted. One not wanted at its time is not due
    (`due` inf) until it is again: then it is due `every` later (`schedule_upkeep`)."""

    __slots__ = ("due", "every", "run", "wanted")

    def __init__(self, every: float, run: Callable[[], object],
                 wanted: Callable[[], bool] | None = None, *, first: float | None = None,
                 now: float = 0.0) -> None:
        self.every = every
        self.run = run
        self.wanted = wanted
        self.due = math.inf if wanted is not None else now + (every if first is None
                                                               else first)


class BackendPorts:
    """A backend's fifos (the PULL ends, `inlet`) and its events' PUB socket: opened
    on the loop its actor runs on and kept across restarts of the actor, so the
    supervisor restarts it on the same loop and nothing re-binds."""

    def __init__(self, ctx: zmq.Context[Any], loop: EventLoop, inlet: FifoInlet,
                 publisher: EventPublisher | None = None) -> None:
        self.ctx = ctx
        self.loop = loop
        self.inlet = inlet
        self.publisher = publisher

    def open(self) -> None:
        """Bind (loop thread); on a bind error nothing stays open."""
        try:
            self.inlet.open(self.ctx)
            if self.publisher is not None:
                self.publisher.open(self.ctx, self.loop)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close (loop thread), readers first: the loop outlives its sockets."""
        self.inlet.detach(self.loop)
        self.inlet.close()
        if self.publisher is not None:
            self.publisher.close(self.loop)


class BackendActor(LoopActor):
    """Owns one database and, through its loop, the PULL end of its fifos.

    Subclasses set `db_name` and `schema`, implement `build` (make the rules
    object over the database) and `handle` (one fifo message, inside the batch
    transaction), and may override `recover`, `expire`, `upkeep` and `handle_other`.
    `build` sets `events`, the rules' `EventLog`: what it stores in a transaction
    is published once that transaction has committed (`flush`), never if it
    rolled back.
    """

    role = "backend"
    db_name = ""
    schema: Schema | str = ""

    def __init__(self, loop: EventLoop, inlet: FifoInlet, ctx: zmq.Context[Any],
                 config: Config, failed: FailureFn, memory_db: Database | None = None,
                 publisher: Publisher | None = None,
                 stats: BackendStats | None = None, env: Env = REAL) -> None:
        super().__init__(loop)
        #: The clock, storage, fifos and fault points this actor uses (actors/env.py).
        self.env = env
        self.clock = env.clock
        self.faults = env.faults
        self.stats = stats if stats is not None else BackendStats()
        self.ctx = ctx
        self.config = config
        self._failed = failed
        self._inlet = inlet
        #: The one upkeep timer, armed for `_tick_at` (`schedule_upkeep`).
        self._tick: Timer | None = None
        self._tick_at = math.inf
        self._attached = False
        self._answered_early: set[ReturnTicket] = set()
        # With `--data-dir :memory:` the database is the wiring's too, for the same
        # reason: a restarted instance must find the state its predecessor left.
        self._memory_db = memory_db
        self._out: list[tuple[str, Message]] = []
        #: `send_now`'s messages, sent when the batch's work is done, before COMMIT.
        self._early: list[tuple[str, Message]] = []
        self.stale_dropped = 0
        #: The storage fault in force, None while writes commit.
        self.storage: StorageFault | None = None
        #: Transactions refused by the storage, since this actor started.
        self.storage_faults = 0
        self.db: Database | None = None
        self.push: Outbox | None = None
        self._publisher = publisher
        self.publisher: Publisher | None = None
        self.events: EventLog | None = None
        #: Events of committed transactions, published by the next `flush`.
        self._committed: list[Event] = []
        self.trusted = all(e.startswith("inproc://") for e in self.fifo_endpoints(config))
        #: Reads waiting for a read turn, round-robin over source addresses.
        self.reads: FairQueue[ClientRequest] = FairQueue(config.reads_per_address,
                                                          config.max_reads)
        self._read_turn_due = False
        self._chores = self.upkeep(self.clock.monotonic())
        #: The last answer to a heartbeat, what it told and its wire map: the same
        #: answer again (most are) is neither built nor written again.
        self._told: tuple[str, int, int] | None = None
        self._alive = Alive(self.role)
        self._alive_wire = self._alive.to_wire()

    # -- subclass hooks ------------------------------------------------------
    @classmethod
    def fifo_endpoints(cls, config: Config) -> list[str]:
        raise NotImplementedError

    def build(self, db: Database) -> None:
        raise NotImplementedError

    def handle(self, message: Message) -> None:
        raise NotImplementedError

    def recover(self) -> None:
        """After start: resume work a crash left half done."""

    def upkeep(self, now: float) -> list[Chore]:
        """The pieces of periodic upkeep, in the order a tick runs them, for an
        actor starting at `now` (monotonic); subclasses add theirs after these.
        Each piece that reads or writes the database runs in a transaction of its
        own (`transact`), and the tick comes only when one is due (`schedule_upkeep`)."""
        # Only a write that commits shows the storage is back, and with nothing but
        # reads coming none would be tried: the next read tries its optional write
        # again (docs/simulation.md, "Bugs it found").
        return [Chore(TICK, self._retry_optional_writes, self._storage_failing_now),
                Chore(EXPIRE_EVERY, partial(self.transact, self.expire), first=TICK, now=now)]

    def expire(self) -> None:
        """Delete what has expired (kept replies, sessions, events), in a transaction."""

    def _retry_optional_writes(self) -> None:
        if self.db is not None:
            self.db.optional_writes = True

    def _storage_failing_now(self) -> bool:
        return self.storage is not None

    def handle_other(self, message: Any) -> Any:
        raise TypeError(f"{self.role}: unexpected message {type(message).__name__}")

    def committed(self) -> None:
        """A transaction committed: what it set going outside the database may go on."""

    def rolled_back(self) -> None:
        """A transaction rolled back: undo what it set going outside the database, and
        forget what the rules cached from it."""

    # -- lifecycle -------------------------------------------------------------
    def on_start(self) -> None:
        self.open(self._memory_db or self.env.database(self.config.db_path(self.db_name),
                                                       self.schema),
                  self.env.pushers(self.ctx), self._publisher)
        # The batch is told, not handled in the socket callback, so a failure in
        # it takes pykka's path (on_failure, supervisor). Same thread: no wake-up.
        tell = self.tell_here
        self._inlet.attach(self.loop, lambda batch: tell(Batch(batch)))
        self._attached = True
        self.schedule_upkeep()

    def open(self, db: Database, push: Outbox, publisher: Publisher | None = None) -> None:
        """Take the database, the outbox and the events' publisher, and finish what a
        crash left half done.

        Split from `on_start` so tests drive the handlers with a fake outbox and
        no thread (tests/actors).
        """
        self.db = db
        hit, point = self.faults.hit, f"{self.role}.commit"
        db.before_commit = lambda: hit(point)
        self.build(db)
        self.push = push
        self.publisher = publisher
        if self.events is not None:
            self.events.enabled = self.config.publish_events
            self.events.collect = publisher is not None
        with db.transaction():
            self.recover()
        if self.events is not None:
            self._committed += self.events.take_committed()
        self.flush()
        self._gauges()

    def _gauges(self) -> None:
        """Refresh what `stats` reads from the database."""
        self.stats.storage_ok = self.storage is None
        if self.events is not None and self.db is not None and self.storage is None:
            self.stats.last_seq = self.events.last_seq()

    def on_stop(self) -> None:
        self.cleanup()

    def on_failure(self, *exc_info: Any) -> None:
        self.cleanup()
        self._failed(self.role)

    def cleanup(self) -> None:
        if self._attached:
            self._inlet.detach(self.loop)
            self._attached = False
        if self._tick is not None:
            self._tick.cancel()
        if self.push is not None:
            self.push.close()
            self.push = None
        if self.db is not None and self.db is not self._memory_db:
            self.db.close()
        self.db = None
        self.publisher = None  # the loop's: it outlives this instance

    # -- messages ----------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Batch):
            self._batch(self._read(message.messages))
            return None
        if isinstance(message, ServeReads):
            self._read_turn_due = False
            # What arrived meanwhile first: a heartbeat or a write never waits
            # for more than one read turn.
            self._batch(self._read(self._inlet.drain() if self._attached else []))
            return None
        if isinstance(message, Tick):
            self._upkeep()
            return None
        if isinstance(message, Ready):
            return True
        return self.handle_other(message)

    # -- upkeep: a tick only when a chore is due -----------------------------------
    def _upkeep(self) -> None:
        """The tick: the chores due, then the next tick armed."""
        self._tick, self._tick_at = None, math.inf  # it fired
        now = self.clock.monotonic()
        for chore in self._chores:
            if chore.due <= now:
                wanted = chore.wanted
                if wanted is None or wanted():
                    chore.run()
                # One that runs only while wanted is due again only if it still is
                # (the run may have found nothing left, no purge pending): asked below.
                chore.due = now + chore.every if wanted is None else math.inf
        self.flush()
        self._gauges()
        self.schedule_upkeep()

    def schedule_upkeep(self) -> None:
        """Arm the tick for the first chore due: the one place that knows when this
        backend next has upkeep to do (loop thread). Called at the start, after each
        tick, and where a chore may have come to be wanted: a storage fault
        (`_storage_failing`), a purchase's hold, a seller's purge (the subclasses)."""
        now = self.clock.monotonic()
        due = math.inf
        for chore in self._chores:
            if chore.due == math.inf and chore.wanted is not None and chore.wanted():
                chore.due = now + chore.every
            if chore.due < due:
                due = chore.due
        if due < self._tick_at:
            if self._tick is not None:
                self._tick.cancel()
            tell = self.tell_here
            self._tick_at = due
            self._tick = self.loop.call_later(due - now, lambda: tell(Tick()))

    def _read(self, items: list[dict[str, Any]]) -> list[Message]:
        """The messages of a drained batch; one that is not ours is dropped (logged)."""
        messages = []
        trusted = self.trusted
        for item in items:
            try:
                messages.append(from_wire(item, trusted))
            except BadMessage as exc:
                log.warning("%s: dropped a fifo message: %s", self.role, exc)
        return messages

    def _batch(self, messages: list[Message]) -> None:
        """Heartbeats answered first; then the writes, in one transaction whose
        output leaves after COMMIT; reads queued, and a read turn served.

        While storage is failing, one transaction per message, so each write
        tries afresh.
        """
        self._out = []
        if self._answered_early:
            self._answered_early = set()
        writes = self._triage(messages)
        if self.storage is not None:
            for message in writes:
                self.transact(partial(self.handle, message), [message])
        elif writes:
            def run() -> None:
                for message in writes:
                    self.handle(message)
            fault = self._attempt(run, writes)
            if fault is not None:
                # Storage turned bad under this batch: all of it is refused (side
                # effects outside the database, such as password work queued,
                # were undone with it: `rolled_back`).
                self._refuse(writes, Unavailable(fault.client_message()))
        if writes or self._out:
            # Heartbeats and reads alone (most batches of one) committed nothing:
            # only the refusals of reads that found their queue full may wait.
            self.flush()
        self._serve_reads()

    def _triage(self, messages: list[Message]) -> list[Message]:
        """Answer heartbeats now, drop stale requests, queue reads; the rest (the
        writes and the actors' own messages) to be handled in this batch."""
        for message in messages:
            if isinstance(message, Heartbeat):
                # Now, before any client work: liveness is about this actor
                # answering, and it still does while its storage fails.
                alive, wire = self.alive()
                self._push_out(message.back, alive, wire)
        writes: list[Message] = []
        for message in messages:
            if isinstance(message, ClientRequest):  # only a client's request goes stale
                if self._stale(message):
                    continue
                if message.request.op in READ_OPS:
                    self._queue_read(message)
                    continue
            elif isinstance(message, Heartbeat):
                continue
            writes.append(message)
        return writes

    def _queue_read(self, message: ClientRequest) -> None:
        # In-process callers (no address) are the embedding program: one key in the
        # round-robin, bound by the total only.
        refused = self.reads.push(message.peer or "local", message,
                                  capped=message.peer is not None)
        if refused is Refused.KEY:
            self.answer_client(message.rt, RateLimited(
                "too many reads waiting from your address; retry later").to_reply())
        elif refused is Refused.ALL:
            self.answer_client(message.rt, Unavailable("too many reads at once; retry").to_reply())

    def _serve_reads(self) -> None:
        """One read turn: queued reads, round-robin over addresses, for up to
        READ_TURN seconds; then a `ServeReads` told to this actor comes back for
        the rest, after whatever the fifos hold by then."""
        if not self.reads:
            return
        self._out = []
        if self._answered_early:
            self._answered_early = set()
        ends = self.clock.monotonic() + READ_TURN
        while self.reads:
            popped = self.reads.pop()
            assert popped is not None
            message = popped[1]
            if self._stale(message):
                continue
            work = partial(self.handle, message)
            assert self.db is not None
            trying = self.storage is not None and self.db.optional_writes
            # A storage fault while trying (see `upkeep`) turns optional writes off
            # again: the read is then served without its write.
            if not (trying and self._attempt(work, [message]) is None):
                self.transact(work, [message])
            if self.clock.monotonic() >= ends:
                break
        self.flush()
        if self.reads and not self._read_turn_due:
            self._read_turn_due = True
            self.tell_here(ServeReads())

    def transact(self, work: Callable[[], None], answering: list[Message] | None = None) -> bool:
        """Run `work` in one transaction; True if it committed.

        A storage fault (disk full, read-only, I/O error) rolls it back, drops
        what it queued to send, and answers every request in `answering` at once
        with UNAVAILABLE naming the storage: a condition, not a bug, so the actor
        is not restarted. Any other exception is a bug: rolled back, answered
        UNAVAILABLE, and raised to pykka (on_failure, the supervisor restarts us).
        """
        fault = self._attempt(work, answering)
        if fault is not None:
            self._refuse(answering, Unavailable(fault.client_message()))
        return fault is None

    def _attempt(self, work: Callable[[], None],
                 answering: list[Message] | None) -> StorageFault | None:
        """`work` in one transaction; the storage fault that refused it, if one did."""
        assert self.db is not None
        mark, changes = len(self._out), self.db.conn.total_changes
        try:
            with self.db.transaction():
                work()
                self._send_early()
        except Exception as exc:
            # What was final before it failed still goes (`send_now`).
            self._send_early()
            # Rolled back: nothing of it happened, so every caller may retry.
            del self._out[mark:]
            self.rolled_back()
            if self.events is not None:
                self.events.discard()
            fault = storage_fault(exc)
            if fault is None:
                self._refuse(answering, Unavailable(f"{self.role} failed; retry"))
                self.flush()
                raise
            self._storage_failing(fault)
            return fault
        self.committed()
        if self.events is not None:
            self._committed += self.events.take_committed()
        if self.storage is not None and self.db.conn.total_changes != changes:
            self._storage_writable()  # a write committed: the storage is back
        return None

    def _refuse(self, messages: list[Message] | None, error: Unavailable) -> None:
        refusal = error.to_reply()
        for message in messages or ():
            rt = getattr(message, "rt", None)
            if isinstance(rt, ReturnTicket) and rt not in self._answered_early:
                self.answer_client(rt, refusal)

    def _storage_failing(self, fault: StorageFault) -> None:
        """One log line when the storage turns bad (or its trouble changes kind),
        not one per batch."""
        self.storage_faults += 1
        self.stats.storage_faults += 1
        self.stats.storage_ok = False
        if self.storage is None or self.storage.full != fault.full:
            log.error("%s: storage %s: %s; writes are refused (UNAVAILABLE) until it"
                      " recovers, reads are still served", self.role,
                      "full" if fault.full else "failing", fault.reason)
        self.storage = fault
        if self.db is not None:
            self.db.optional_writes = False
        self.schedule_upkeep()  # the retries' tick

    def _storage_writable(self) -> None:
        log.warning("%s: storage writable again", self.role)
        self.storage = None
        self.stats.storage_ok = True
        if self.db is not None:
            self.db.optional_writes = True

    def _stale(self, message: Message) -> bool:
        """A request whose deadline passed while it waited (the front door has
        answered UNAVAILABLE already): dropped, not applied behind its back."""
        if (isinstance(message, ClientRequest) and message.deadline
                and self.clock.time() > message.deadline):
            self.stale_dropped += 1
            self.stats.stale_dropped += 1
            return True
        return False

    def alive(self) -> tuple[Alive, dict[str, Any]]:
        """The answer to a heartbeat (alive, and what `health` reports of this role)
        and its wire map."""
        storage = "failing" if self.storage is not None else "ok"
        try:
            last_seq = self.events.last_seq() if self.events is not None else -1
            sessions = self.live_sessions()
        except sqlite3.Error:
            told = ("failing", -1, -1)  # a read failed: the storage says enough
        else:
            told = (storage, last_seq, sessions)
            if last_seq >= 0:
                self.stats.last_seq = last_seq  # the metrics' too, once a second
        if told != self._told:
            self._told = told
            self._alive = Alive(self.role, *told)
            self._alive_wire = self._alive.to_wire()
        return self._alive, self._alive_wire

    def live_sessions(self) -> int:
        """Live sessions this role holds (-1: it holds none)."""
        return -1

    def send(self, endpoint: str, message: Message) -> None:
        """Queue a message to go out once the current transaction has committed."""
        self._out.append((endpoint, message))

    def send_now(self, endpoint: str, message: Message) -> None:
        """Send before the current transaction commits: only for what is already
        durable elsewhere. A status sent so is final: a rollback does not refuse it.

        Sent when the batch's messages have been handled, before its COMMIT (or, if
        one of them fails, before the others are refused), all to one fifo in one
        frame; at once while fault points are armed, so "before sending X" still
        finds everything before X sent."""
        if isinstance(message, Status):
            self._answered_early.add(message.rt)
        if self.faults.armed():
            self._push_out(endpoint, message)
            return
        self._early.append((endpoint, message))

    def _send_early(self) -> None:
        early, self._early = self._early, []
        if early:
            self._send_out(early)

    def answer_client(self, rt: ReturnTicket, reply: dict[str, Any],
                      ended: bool = False) -> None:
        """Queue the client's final reply, to its front door's status fifo after COMMIT."""
        self.send(rt.status_fifo, Status(rt, reply, ended))

    def flush(self) -> None:
        """After COMMIT: publish the committed events, then send what was queued."""
        if self._early:
            self._send_early()  # a `send_now` outside a batch's work (none today) must not wait
        events, self._committed = self._committed, []
        if events:
            self.stats.last_seq = max(self.stats.last_seq, events[-1].seq)
        if self.publisher is not None and self.publisher.wanted:
            for event in events:
                self.publisher.publish(event.topic, event.body())
        out, self._out = self._out, []
        self._send_out(out)

    def _send_out(self, out: list[tuple[str, Message]]) -> None:
        """Send `out`: one frame per fifo (`send_many`), or one by one while fault
        points are armed (the simulator's always are), so that a fault "before
        sending X" finds everything queued before X already sent."""
        if len(out) < 2 or self.faults.armed():
            for endpoint, message in out:
                self._push_out(endpoint, message)
            return
        by_fifo: dict[str, list[Message]] = {}
        for endpoint, message in out:
            by_fifo.setdefault(endpoint, []).append(message)
        assert self.push is not None
        send_many = getattr(self.push, "send_many", None)
        for endpoint, messages in by_fifo.items():
            if send_many is None or len(messages) == 1:
                for message in messages:
                    self._push_out(endpoint, message)
                continue
            try:
                send_many(endpoint, [m.to_wire() for m in messages])
            except Backpressure:
                self.stats.fifo_refused += 1
                log.warning("%s: %s is full, dropped some of %d messages", self.role,
                            endpoint, len(messages))

    def _push_out(self, endpoint: str, message: Message,
                  wire: dict[str, Any] | None = None) -> None:
        """Send `message` now; `wire`: its map, if made already."""
        assert self.push is not None
        kind = message.request.op if isinstance(message, ClientRequest) else message.kind
        self.faults.hit(f"{self.role}.before_send.{kind}")
        try:
            self.push.send(endpoint, message.to_wire() if wire is None else wire)
        except Backpressure:
            self.stats.fifo_refused += 1
            log.warning("%s: %s is full, dropped a %s message", self.role, endpoint, kind)
