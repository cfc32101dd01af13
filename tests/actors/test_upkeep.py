"""A backend's upkeep (actors/backend.py `Chore`, `schedule_upkeep`): its loop is asked for
a tick only when a piece of upkeep is due, and a tick runs only what is due. Driven
with a hand clock and an unstarted loop that keeps the timers asked of it."""

from __future__ import annotations

from typing import Any

from actor_harness import ENDS, Timers, build, deliver, register, request
from clocks import HandClock
from test_backend_handlers import one

from actors import faults
from actors.backend import EXPIRE_EVERY, TICK
from actors.env import Env
from actors.gatekeeper import COUNT_SESSIONS_EVERY, RESEND_PURGES_EVERY, GatekeeperActor
from actors.messages import Tick
from actors.stockhandler import RESOLVE_STALE_EVERY, StockHandlerActor
from actors.wire import (
    Alive,
    Authorize,
    Authorized,
    Charge,
    Charged,
    Heartbeat,
    Purge,
    Purged,
    Resolve,
    Status,
)


def statements_at_tick(actor: Any, clock: HandClock, at: float) -> int:
    """Move the clock to `at`, as the armed timer would fire, and tick: how many SQL
    statements the tick ran."""
    clock.now = at
    statements: list[str] = []
    actor.db.conn.set_trace_callback(statements.append)
    actor.on_receive(Tick())
    actor.db.conn.set_trace_callback(None)
    return len(statements)


def test_a_stock_handler_ticks_for_expiry_and_for_stale_holds_only_while_it_holds(
        ) -> None:
    clock, loop = HandClock(), Timers()
    gatekeeper = build(GatekeeperActor, env=Env(clock=clock))
    stock = build(StockHandlerActor, env=Env(clock=clock), loop=loop)
    try:
        start = clock.now
        assert loop.next_in() == TICK  # expiry, a second after the start
        assert statements_at_tick(stock, clock, start + TICK) > 0
        assert loop.next_in() == EXPIRE_EVERY  # nothing else is due: no tick meanwhile
        # A product, and a purchase that holds a unit and is never charged.
        sam = register(gatekeeper, "seller", "sam")
        deliver(stock, request("sell", sam, product_name="cola", cost=35, amount=3))
        deliver(gatekeeper, one(stock.push, ENDS.deposit, Authorize))
        deliver(stock, one(gatekeeper.push, ENDS.post, Authorized))
        uid = one(stock.push, ENDS.status, Status).reply["product"]["product_uid"]
        assert loop.next_in() == EXPIRE_EVERY  # a write, but nothing held
        ann = register(gatekeeper, "buyer", "ann")
        deliver(stock, request("buy", ann, product_uid=uid, amount=1))
        pid = one(stock.push, ENDS.deposit, Charge).step.pid
        assert loop.next_in() == RESOLVE_STALE_EVERY  # armed sooner: a purchase holds
        held_at = clock.now
        with stock.db.transaction():  # held long enough to be asked about
            stock.db.conn.execute("UPDATE reservations SET at = at - 60")
        assert statements_at_tick(stock, clock, held_at + RESOLVE_STALE_EVERY) > 0
        assert stock.push.take(ENDS.deposit) == [Resolve(pid, ENDS.post)]
        assert loop.next_in() == RESOLVE_STALE_EVERY  # still held: asked again
        deliver(stock, Charged(pid, one_rt(ann), True, {"ok": True}))  # settled
        stock.push.take()
        # The check due finds nothing held: no statement, and no tick until expiry.
        assert statements_at_tick(stock, clock, held_at + 2 * RESOLVE_STALE_EVERY) == 0
        assert loop.next_in() == start + TICK + EXPIRE_EVERY - clock.now
    finally:
        gatekeeper.cleanup()
        stock.cleanup()


def one_rt(cred: dict[str, Any]) -> Any:
    """A return ticket in `cred`'s session, as the buy's."""
    return request("profile", cred).rt


def test_a_pending_purge_is_sent_again_every_few_seconds_until_it_is_done() -> None:
    clock, loop = HandClock(), Timers()
    gatekeeper = build(GatekeeperActor, env=Env(clock=clock), loop=loop)
    try:
        statements_at_tick(gatekeeper, clock, clock.now + TICK)  # the first expiry
        assert loop.next_in() == EXPIRE_EVERY
        with gatekeeper.db.transaction():  # a seller deleted, its Purge lost
            gatekeeper.db.conn.execute("INSERT INTO purges VALUES(7, 'seller_gone')")
        with gatekeeper.db.transaction():  # found as a restart finds it
            gatekeeper.recover()
        gatekeeper.flush()
        assert gatekeeper.push.take(ENDS.post) == [Purge(7, ENDS.deposit)]
        assert loop.next_in() == RESEND_PURGES_EVERY
        statements_at_tick(gatekeeper, clock, clock.now + RESEND_PURGES_EVERY)
        assert gatekeeper.push.take(ENDS.post) == [Purge(7, ENDS.deposit)]  # again
        assert loop.next_in() == RESEND_PURGES_EVERY
        deliver(gatekeeper, Purged(7))
        # The next re-send reads none pending: then no tick for purges any more.
        assert statements_at_tick(gatekeeper, clock, clock.now + RESEND_PURGES_EVERY) > 0
        assert gatekeeper.push.take(ENDS.post) == []
        assert loop.next_in() is not None and loop.next_in() > RESEND_PURGES_EVERY
    finally:
        gatekeeper.cleanup()


def test_while_storage_fails_a_tick_each_second_turns_optional_writes_back_on(
        armed: list[str]) -> None:
    clock, loop = HandClock(), Timers()
    gatekeeper = build(GatekeeperActor, env=Env(clock=clock), loop=loop)
    try:
        statements_at_tick(gatekeeper, clock, clock.now + TICK)
        ann = register(gatekeeper, "buyer", "ann")
        assert loop.next_in() == EXPIRE_EVERY
        faults.ACTIVE["gatekeeper.commit"] = "ioerror"
        armed.append("gatekeeper.commit")
        deliver(gatekeeper, request("deposit", ann, amount=5))  # refused by the storage
        assert gatekeeper.db.optional_writes is False
        assert loop.next_in() == TICK  # armed sooner: the storage needs its retry tick
        statements_at_tick(gatekeeper, clock, clock.now + TICK)
        assert gatekeeper.db.optional_writes is True  # the next read tries its write
        assert loop.next_in() == TICK
        faults.ACTIVE.pop("gatekeeper.commit")
        deliver(gatekeeper, request("deposit", ann, amount=5))  # commits: storage back
        gatekeeper.push.take()
        statements_at_tick(gatekeeper, clock, clock.now + TICK)
        assert loop.next_in() is not None and loop.next_in() > TICK  # expiry only
    finally:
        gatekeeper.cleanup()


def test_live_sessions_are_counted_when_a_heartbeat_asks_at_most_every_few_seconds(
        ) -> None:
    clock, loop = HandClock(), Timers()
    gatekeeper = build(GatekeeperActor, env=Env(clock=clock), loop=loop)
    try:
        register(gatekeeper, "buyer", "ann")
        deliver(gatekeeper, Heartbeat(ENDS.status))
        assert gatekeeper.push.take() == [Alive("gatekeeper", "ok", 1, 0)]  # counted at start
        clock.now += COUNT_SESSIONS_EVERY
        deliver(gatekeeper, Heartbeat(ENDS.status))
        assert gatekeeper.push.take() == [Alive("gatekeeper", "ok", 1, 1)]
        register(gatekeeper, "buyer", "bob")
        clock.now += COUNT_SESSIONS_EVERY / 2
        deliver(gatekeeper, Heartbeat(ENDS.status))
        assert gatekeeper.push.take() == [Alive("gatekeeper", "ok", 2, 1)]  # not yet
        # No timer was ever armed for the count: it rides on the heartbeats.
        assert loop.next_in() == TICK
    finally:
        gatekeeper.cleanup()
