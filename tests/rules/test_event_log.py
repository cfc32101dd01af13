"""EventLog's own bookkeeping (vending/events.py): what the shell takes after COMMIT,
what a rollback forgets, last_seq before any event, and what housekeeping keeps."""

from __future__ import annotations

import pytest
from rules_world import T0, World

from vending import GATE_SCHEMA, STOCK_SCHEMA, Database, Gate, Stock
from vending.events import KEEP, Event, EventLog


def test_take_committed_hands_over_each_event_once_oldest_first() -> None:
    world = World()
    log = world.acc.events
    log.collect = True
    ann = world.register("buyer", "ann")
    world.deposit(ann, 5, 10)
    taken = log.take_committed()
    assert taken == [
        Event("user", "gatekeeper", 1, T0, {"role": "buyer"}),
        Event("deposit", "gatekeeper", 2, T0, {"amount": 5}),
        Event("deposit", "gatekeeper", 3, T0, {"amount": 10}),
    ]
    assert log.take_committed() == []
    world.deposit(ann, 20)
    assert [(e.topic, e.seq, e.fields) for e in log.take_committed()] == [
        ("deposit", 4, {"amount": 20})]


def test_discard_forgets_what_a_rollback_undid() -> None:
    world = World()
    log = world.acc.events
    log.collect = True
    with pytest.raises(RuntimeError), world.acc.db.transaction():
        log.emit("deposit", amount=5)
        raise RuntimeError("rolled back")
    log.discard()
    assert log.take_committed() == []
    with world.acc.db.transaction():
        log.emit("deposit", amount=10)
    assert [(e.seq, e.fields) for e in log.take_committed()] == [(1, {"amount": 10})]


def test_without_collect_nothing_is_remembered_but_all_is_stored() -> None:
    world = World()
    world.register("buyer", "ann")
    assert world.acc.events.take_committed() == []
    assert world.acc.events.last_seq() == 1


def test_last_seq_is_zero_before_any_event() -> None:
    world = World()
    assert world.acc.events.last_seq() == 0
    assert world.stock.events.last_seq() == 0
    assert world.acc.events.reply(0, 10) == {"ok": True, "events": [], "last_seq": 0}


def test_last_seq_is_read_from_the_file_once_and_again_after_a_rollback() -> None:
    """Asked at every heartbeat and tick: the file is read only when the seq is not
    known (first ask, or a rollback undid the seqs given since the last commit)."""
    world = World()
    world.register("buyer", "ann")
    db, log = world.acc.db, world.acc.events
    log._forget_seq()  # as a fresh start: known only from the file
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    assert log.last_seq() == 1
    assert len(statements) == 1
    assert log.last_seq() == 1 and log.last_seq() == 1
    assert len(statements) == 1, statements
    with pytest.raises(RuntimeError), db.transaction():
        log.emit("deposit", amount=5)
        assert log.last_seq() == 2
        raise RuntimeError("rolled back")
    statements.clear()
    assert log.last_seq() == 1  # the stored one, read again
    assert len(statements) == 1
    with db.transaction():
        log.emit("deposit", amount=5)
    statements.clear()
    assert log.last_seq() == 2 and statements == []


def test_housekeeping_keeps_what_is_younger_than_keep() -> None:
    world = World()
    world.register("buyer", "ann")                  # at T0
    world.tick(KEEP / 2)
    world.deposit(world.login("buyer", "ann"), 5)   # at T0 + KEEP/2 (a login stores none)
    log = world.acc.events
    with world.acc.db.transaction():
        assert log.housekeeping() == 0
    world.tick(KEEP / 2 + 1)                        # the first is older than KEEP now
    with world.acc.db.transaction():
        assert log.housekeeping() == 1
    assert [(e.seq, e.topic) for e in log.since(0, 10)] == [(2, "deposit")]
    assert log.last_seq() == 2


def test_events_are_kept_as_long_as_the_idempotency_keys() -> None:
    """Gate and Stock keep their events for their `idem_ttl`, not a fixed 48 h."""
    now = [T0]
    acc = Gate(Database(None, GATE_SCHEMA), clock=lambda: now[0], idem_ttl=3600.0)
    stock = Stock(Database(None, STOCK_SCHEMA), clock=lambda: now[0], idem_ttl=3600.0)
    for log, db in ((acc.events, acc.db), (stock.events, stock.db)):
        with db.transaction():
            log.emit("deposit", amount=5)
    now[0] = T0 + 3601
    for log, db in ((acc.events, acc.db), (stock.events, stock.db)):
        with db.transaction():
            assert log.housekeeping() == 1
        assert log.since(0, 10) == []


def test_housekeeping_by_seq_never_deletes_a_young_event_if_the_clock_stepped_back() -> None:
    """Old events are found by seq, with no index on `at` (vending/events.py): those
    before the first young one. A clock that stepped back leaves an old event after a
    young one: kept until a later run, never a young one deleted."""
    now = [T0]
    db = Database(None, GATE_SCHEMA)
    log = EventLog(db, "gatekeeper", lambda: now[0], keep=100.0)
    with db.transaction():
        for at in (T0, T0 + 1, T0 + 150, T0 + 2, T0 + 160):  # seq 1..5
            now[0] = at
            log.emit("deposit", amount=5)
    now[0] = T0 + 200  # older than keep: at < T0 + 100, seqs 1, 2 and 4
    with db.transaction():
        assert log.housekeeping() == 2
    assert [e.seq for e in log.since(0, 10)] == [3, 4, 5]
    now[0] = T0 + 255  # seq 3 is old now too, and 4 behind it goes with it
    with db.transaction():
        assert log.housekeeping() == 2
    assert [e.seq for e in log.since(0, 10)] == [5]
    now[0] = T0 + 1000  # every event old: all go, and seqs go on from the newest
    with db.transaction():
        assert log.housekeeping() == 1
        log.emit("deposit", amount=5)
    assert [e.seq for e in log.since(0, 10)] == [6]
