"""Fairness in the backend actors, driven with no thread (docs/design.md, "Fairness").

Reads (ops whose table row changes no state) wait in a read queue, fair per
source address, served after the batch's heartbeats and writes; password work
waits in the gatekeeper's queue, fair per address, and starts only once the
batch that asked for it committed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from actor_harness import (
    CONFIG,
    ENDS,
    PASSWORD,
    ManualPool,
    build,
    deliver,
    register,
    request,
    run_told,
)
from clocks import WallJump

from actors import backend, faults
from actors.env import Env
from actors.gatekeeper import GatekeeperActor
from actors.messages import ServeReads
from actors.stockhandler import StockHandlerActor
from actors.wire import Alive, ClientRequest, Heartbeat, Status
from vending.ops import OPS, STATE_CHANGING_OPS

A, B = "127.0.0.2", "127.0.0.3"


def events(peer: str) -> ClientRequest:
    return request("events", None, peer, source="gatekeeper", since=0, limit=10)


def answered(outbox: Any) -> list[tuple[int, str]]:
    """(ticket, "ok" or error code) of the statuses sent, in order."""
    return [(s.rt.ticket, "ok" if s.reply.get("ok") else s.reply["error"])
            for s in outbox.take(ENDS.status) if isinstance(s, Status)]


def built(cls: type[Any], env: Env | None = None, **config: Any) -> Any:
    return build(cls, dataclasses.replace(CONFIG, **config), env or Env())


@pytest.fixture
def one_read_per_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read turn's time runs out after its first read."""
    monkeypatch.setattr(backend, "READ_TURN", 0.0)


@pytest.fixture
def clock() -> WallJump:
    return WallJump()


@pytest.fixture
def gk_pool(clock: WallJump) -> Iterator[tuple[Any, ManualPool]]:
    """A gatekeeper whose password work waits in a pool the test runs, on `clock`."""
    pool = ManualPool()
    actor = built(GatekeeperActor, Env(clock=clock, password_pool=lambda workers: pool),
                  crypto_workers=1, crypto_per_address=3)
    yield actor, pool
    actor.cleanup()


def test_reads_are_the_ops_that_change_no_state() -> None:
    assert backend.READ_OPS == OPS - STATE_CHANGING_OPS
    assert {"events", "products", "product", "profile"} <= backend.READ_OPS


def test_heartbeats_then_writes_then_reads(gatekeeper: Any) -> None:
    ann = register(gatekeeper, "buyer", "ann")
    reads = [events(A) for _ in range(3)]
    deposit = request("deposit", ann, B, amount=5)
    deliver(gatekeeper, *reads, deposit, Heartbeat(ENDS.status))
    sent = gatekeeper.push.take()
    assert isinstance(sent[0], Alive) and sent[0].role == "gatekeeper", \
        "the heartbeat is answered before any client work"
    assert [s.rt.ticket for s in sent[1:]] == [deposit.rt.ticket] + [r.rt.ticket for r in reads]


def test_reads_take_turns_over_addresses(gatekeeper: Any, one_read_per_turn: None) -> None:
    flood = [events(A) for _ in range(3)]
    user = events(B)
    deliver(gatekeeper, *flood, user)
    assert answered(gatekeeper.push) == [(flood[0].rt.ticket, "ok")]
    assert run_told(gatekeeper) == 3  # one ServeReads per turn left
    assert [t for t, _ in answered(gatekeeper.push)] == [
        user.rt.ticket, flood[1].rt.ticket, flood[2].rt.ticket]


def test_a_read_turn_drains_the_fifos_first(gatekeeper: Any, one_read_per_turn: None) -> None:
    ann = register(gatekeeper, "buyer", "ann")
    deliver(gatekeeper, events(A), events(A))
    gatekeeper.push.take()
    deposit = request("deposit", ann, B, amount=5)
    arrived = [Heartbeat(ENDS.status).to_wire(), deposit.to_wire()]
    gatekeeper._inlet = SimpleNamespace(drain=lambda: [arrived.pop(0) for _ in list(arrived)])
    gatekeeper._attached = True
    try:
        gatekeeper.on_receive(ServeReads())
    finally:
        gatekeeper._attached = False
    sent = gatekeeper.push.take()
    assert isinstance(sent[0], Alive) and sent[0].role == "gatekeeper"
    assert sent[1].rt.ticket == deposit.rt.ticket, "the write before the read"
    assert len(sent) == 3


def test_an_address_past_its_share_of_reads_is_refused_alone() -> None:
    handler = built(StockHandlerActor, reads_per_address=2, max_reads=3)
    try:
        flood = [request("products", None, A) for _ in range(3)]
        others = [request("products", None, B), request("products", None, "127.0.0.4")]
        deliver(handler, *flood, *others)
        got = dict(answered(handler.push))
        assert got[flood[2].rt.ticket] == "RATE_LIMITED"
        assert got[others[0].rt.ticket] == "ok"
        assert got[others[1].rt.ticket] == "UNAVAILABLE", "the total bounds all addresses"
        assert [got[r.rt.ticket] for r in flood[:2]] == ["ok", "ok"]
    finally:
        handler.cleanup()


def test_in_process_reads_are_bound_by_the_total_only() -> None:
    handler = built(StockHandlerActor, reads_per_address=1, max_reads=5)
    try:
        reads = [request("products") for _ in range(3)]  # no address: the embedding program
        deliver(handler, *reads)
        assert [code for _, code in answered(handler.push)] == ["ok"] * 3
    finally:
        handler.cleanup()


def test_stale_reads_are_dropped_unanswered(gatekeeper: Any) -> None:
    stale = events(A)
    deliver(gatekeeper, ClientRequest(stale.rt, stale.request, A, deadline=1.0))
    assert answered(gatekeeper.push) == [] and gatekeeper.stale_dropped == 1


def auth(name: str, peer: str, kind: str = "buyer") -> ClientRequest:
    return request("auth", None, peer, time.time() + 60, token=kind, username=name,
                   password=PASSWORD)


def test_password_work_takes_turns_over_addresses(gk_pool: tuple[Any, ManualPool]) -> None:
    gk, pool = gk_pool
    register(gk, "buyer", "ann")
    flood = [auth("ann", A, "new_buyer") for _ in range(5)]
    login = auth("ann", B)
    deliver(gk, *flood, login)
    got = dict(answered(gk.push))
    assert [got.get(r.rt.ticket) for r in flood] == [None] * 3 + ["RATE_LIMITED"] * 2
    assert len(pool.waiting) == 1, "one worker: one job started"
    pool.run_next()             # the flood's first
    run_told(gk)
    assert answered(gk.push) == [(flood[0].rt.ticket, "DUPLICATE_USERNAME")]
    pool.run_next()             # then the other address's login, not the flood's second
    run_told(gk)
    assert answered(gk.push) == [(login.rt.ticket, "ok")]
    while pool.waiting:
        pool.run_next()
        run_told(gk)
    assert [c for _, c in answered(gk.push)] == ["DUPLICATE_USERNAME"] * 2
    assert len(gk.password_work) == 0 and gk._crypto_running == 0


def test_password_work_of_a_batch_that_fails_on_storage_never_starts(
        gk_pool: tuple[Any, ManualPool]) -> None:
    """Issue 21 item 7: the client is told UNAVAILABLE; its check must not run later."""
    gk, pool = gk_pool
    ann = register(gk, "buyer", "ann")
    login = auth("ann", B)
    faults.ACTIVE["gatekeeper.commit"] = "full"
    try:
        deliver(gk, login, request("deposit", ann, A, amount=5))
    finally:
        faults.ACTIVE.pop("gatekeeper.commit", None)
    assert {c for _, c in answered(gk.push)} == {"UNAVAILABLE"}
    assert pool.waiting == [] and len(gk.password_work) == 0
    sessions = gk.db.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    deliver(gk, request("deposit", ann, A, amount=5))  # storage back: a write commits
    assert [c for _, c in answered(gk.push)] == ["ok"]
    assert pool.waiting == [] and run_told(gk) == 0
    assert gk.db.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == sessions


def test_a_password_check_finished_after_its_deadline_commits_nothing(
        gk_pool: tuple[Any, ManualPool], clock: WallJump) -> None:
    gk, pool = gk_pool
    register(gk, "buyer", "ann")
    sessions = gk.db.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    deliver(gk, auth("ann", B))
    assert len(pool.waiting) == 1
    clock.ahead = 3600  # the front door answered UNAVAILABLE meanwhile
    pool.run_next()
    run_told(gk)
    assert answered(gk.push) == [] and gk.stale_dropped == 1
    assert gk.db.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == sessions
