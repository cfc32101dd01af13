"""The oracle's storage checks read a table again only when it was written
(docs/simulation.md, "What the oracle skips, and why that is sound"): a write the
events do not explain, made through an actor's own connection, is still seen at
the step it commits."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulation import Simulation
from simulation.oracle import ROLES, Oracle
from simulation.world import _actor_of


@pytest.fixture(params=["stored", "temporary"])
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Simulation]:
    """A world on a folder of its own, whose files hold the oracle's triggers
    (simulation/disk.py), or on a folder it was given, whose files hold only the
    schema: each actor's connection then gets them as temporary triggers."""
    folder = None if request.param == "stored" else tmp_path
    with Simulation(seed=3, faults="none", data_dir=folder) as sim:
        yield sim


def _quiet_shop(sim: Simulation) -> Any:
    """A buyer who registered and deposited, then a minute of nothing: the checks
    have read everything once and found it clean."""
    ann = sim.buyer("ann", autonomous=False, think=0.0)
    ann.deposit(50)
    sim.run(minutes=1)
    assert sim.violations == []
    assert ann.replies[-1]["deposit"] == 50
    return sim.world


def _commit(world: Any, role: str, sql: str) -> None:
    """`sql` committed by `role`'s actor, as its own writes are (one step's work)."""
    db = _actor_of(world.process.refs[role]).db
    with db.transaction() as conn:
        conn.execute(sql)


def test_money_written_without_an_event_is_seen_at_its_commit(sim: Simulation) -> None:
    world = _quiet_shop(sim)
    _commit(world, "gatekeeper",
            "UPDATE users SET deposit = deposit + 5, deposited = deposited + 5")
    sim.run(steps=1)
    assert any(v.startswith("money: users hold 55, events add up to 50")
               for v in sim.violations), sim.violations


def test_a_lost_event_is_seen_at_its_commit(sim: Simulation) -> None:
    world = _quiet_shop(sim)
    _commit(world, "gatekeeper", "DELETE FROM events WHERE seq = (SELECT max(seq) FROM"
            " events)")
    sim.run(steps=1)
    assert any("seq went back" in v for v in sim.violations), sim.violations


def test_a_write_to_a_table_no_check_reads_is_not_read_again(sim: Simulation) -> None:
    """The other side: a commit that writes none of the tables the checks read
    leaves nothing marked, so the next check reads neither database."""
    world = _quiet_shop(sim)
    oracle = world.oracle
    _commit(world, "gatekeeper", "UPDATE users SET created = created")
    assert oracle.written == {"gatekeeper": set(), "stock-handler": set()}
    _commit(world, "gatekeeper", "UPDATE users SET deposit = deposit")
    assert oracle.written["gatekeeper"] == {"users"}
    sim.run(steps=1)
    assert oracle.written["gatekeeper"] == set()
    assert sim.violations == []


def test_an_acknowledged_key_deleted_later_is_missed_after_the_next_crash(
        sim: Simulation) -> None:
    """Crashes recheck only a database whose `idem` rows may have gone since its
    last recheck: a delete through the actor's connection is one."""
    world = _quiet_shop(sim)
    world.begin_crash()
    sim.run(steps=1)
    assert sim.violations == []  # a crash with nothing gone: nothing to recheck
    sim.run(seconds=10)
    req_id = sim.world.clients[0].history[-1].message["req_id"]
    _commit(world, "gatekeeper", f"DELETE FROM idem WHERE req_id = '{req_id}'")
    world.begin_crash()
    sim.run(steps=1)
    assert sim.violations == [
        f"durability: acknowledged {req_id} has no stored effect in gatekeeper"]


def test_the_triggers_are_in_the_files_only_when_the_folder_is_the_worlds_own(
        sim: Simulation) -> None:
    """A folder given to the world keeps files a real vending can write to: no
    trigger there calls the oracle's functions."""
    world = _quiet_shop(sim)
    stored = sim.world.options.scratch
    for role in ROLES:
        path = world.oracle._paths[role]
        with sqlite3.connect(path) as conn:
            names = {row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        expected = Oracle.triggers(role).count("CREATE TRIGGER")
        assert len(names) == (expected if stored else 0), (role, names)
        assert expected > 10


def test_every_incarnation_is_watched_and_a_crash_loses_only_its_open_transaction(
        sim: Simulation) -> None:
    """The files a crash leaves: what committed is there, the transaction open at the
    crash is not; the next incarnation's connection is watched like the first's."""
    world = _quiet_shop(sim)
    first = _actor_of(world.process.refs["gatekeeper"]).db
    first.conn.execute("BEGIN IMMEDIATE")
    first.conn.execute("UPDATE users SET deposit = deposit + 7, deposited = deposited + 7")
    world.begin_crash()
    world._crash()
    sim.run(seconds=10)
    assert world.incarnations == 2 and world.process.door is not None
    again = _actor_of(world.process.refs["gatekeeper"]).db
    assert again is not first
    assert again.conn.execute("SELECT sum(deposit) FROM users").fetchone() == (50,)
    world.oracle.written["gatekeeper"].clear()
    _commit(world, "gatekeeper", "UPDATE users SET deposit = deposit")
    assert world.oracle.written["gatekeeper"] == {"users"}
    assert sim.violations == []


def test_purchases_both_charged_and_fenced_are_counted_as_the_plain_query_counts(
        tmp_path: Path) -> None:
    """The check reads two rowid ranges instead of `p.rowid > ? OR a.rowid > ?` (which
    reads every purchase): the same count, whatever was added since the last check."""
    conn = sqlite3.connect(":memory:")
    conn.executescript("CREATE TABLE purchases(purchase_id TEXT PRIMARY KEY, n INTEGER);"
                       "CREATE TABLE aborted(purchase_id TEXT PRIMARY KEY, n INTEGER);")
    rng = random.Random(5)
    oracle = Oracle(tmp_path)
    bought = seen = 0
    for _ in range(40):
        before = oracle._rowids
        for _ in range(rng.randrange(4)):
            # A fence may name a purchase made already, one made later, or none.
            if rng.random() < 0.6:
                bought += 1
                conn.execute("INSERT INTO purchases VALUES (?, 0)", (f"p{bought}",))
            else:
                conn.execute("INSERT OR IGNORE INTO aborted VALUES (?, 0)",
                             (f"p{rng.randrange(bought + 10)}",))
        plain = conn.execute("SELECT count(*) FROM purchases p JOIN aborted a"
                             " USING(purchase_id) WHERE p.rowid > ? OR a.rowid > ?",
                             before).fetchone()[0]
        oracle.violations.clear()
        oracle._fenced_and_charged(conn)
        found = int(oracle.violations[0].split()[0]) if oracle.violations else 0
        assert found == plain
        seen += plain
    assert seen > 5  # both kinds of pair came up


_DEPOSIT = {"op": "deposit", "amount": 5, "req_id": "ann-1", "wsess_uid": "s", "token": "t"}
_MISSED = {"ok": True, "deposit": 5, "req_id": "ann-1"}
_DAY = 24 * 3600.0


def test_an_ok_its_client_missed_must_come_again_while_the_key_is_kept(
        tmp_path: Path) -> None:
    """An ok that reached a connection its client had left took effect: a retry with the
    same req_id gets that reply again (docs/protocol.md, section 4) for as long as the
    key is kept, so another final reply then is a violation."""
    oracle = Oracle(tmp_path)
    oracle.missed_reply(_DEPOSIT, _MISSED)
    oracle.final_reply("ann", _DEPOSIT, {"ok": False, "error": "UNAUTHORIZED"},
                       now=_DAY + 30.0, sent=30.0)
    assert len(oracle.violations) == 1
    assert "answered ok (on a connection it had left) then UNAUTHORIZED" \
        in oracle.violations[0]


def test_a_late_reply_to_an_earlier_request_says_nothing_of_the_current_one(
        tmp_path: Path) -> None:
    """A reply held back by a net fault reaches a connection its client left while a
    later request is in flight: it echoes the earlier req_id and says nothing about
    the later request (seeds 1032 and 1144 in test_regressions.py)."""
    oracle = Oracle(tmp_path)
    oracle.missed_reply(_DEPOSIT, {**_MISSED, "req_id": "ann-0"})
    oracle.final_reply("ann", _DEPOSIT, {"ok": False, "error": "UNAUTHORIZED"},
                       now=_DAY + 30.0, sent=30.0)
    assert oracle.violations == []
    assert oracle.ledger.expected_deposits() == {}


def test_an_ok_its_client_missed_counts_once_its_key_may_be_gone(tmp_path: Path) -> None:
    """Once the key may have expired (48 h from the first try), a retry cannot learn
    the effect any more: the missed ok counts in the ledger, and a refusal of a
    retry then is what the contract gives (the seed 8 history below)."""
    oracle = Oracle(tmp_path)
    oracle.missed_reply(_DEPOSIT, {"ok": False, "error": "UNAVAILABLE"})  # not an effect
    oracle.missed_reply({**_DEPOSIT, "op": "profile"}, _MISSED)  # reads change nothing
    assert oracle.ledger.expected_deposits() == {}
    oracle.missed_reply(_DEPOSIT, _MISSED)
    oracle.final_reply("ann", _DEPOSIT, {"ok": False, "error": "UNAUTHORIZED"},
                       now=2 * _DAY + 31.0, sent=30.0)
    assert oracle.violations == []
    assert oracle.ledger.expected_deposits() == {"ann": 5}


def _kept(world: Any, req_id: str) -> int:
    """How many `idem` rows of the gatekeeper's file name `req_id` (committed)."""
    conn = world.oracle._db("gatekeeper")
    return int(conn.execute("SELECT count(*) FROM idem WHERE req_id = ?",
                            (req_id,)).fetchone()[0])


@pytest.mark.parametrize("crash", ["after-commit", "now"])
def test_an_ok_lost_with_its_process_counts_once_its_key_is_gone(sim: Simulation,
                                                                 crash: str) -> None:
    """A deposit commits and the process dies before its status reaches the front
    door (at the COMMIT, or the step after it: the status in flight is lost): no
    reply exists anywhere for `missed_reply` to note. Its client's tries then
    outlast the key's 48 h (a clock jump; the first two tries after it lost, so the
    first to arrive comes after the restart's expiry), and it is refused
    UNAUTHORIZED, as docs/protocol.md section 4 allows. The oracle learns the effect
    from its kept reply as the row is deleted, so the ledger holds it (before,
    "ledger: buyer ann holds 10, was told 0")."""
    ann = sim.buyer("ann", autonomous=False, think=0.0)
    sim.run(minutes=1)
    world = sim.world
    assert ann.session and not ann.busy()
    if crash == "after-commit":
        world.faults.crash_at_commit = "after"
    ann.deposit(10)
    req_id = ""
    for _ in range(200):  # a few steps: the deposit's batch, its COMMIT, its status
        if world.process is None:
            break
        sim.run(steps=1)
        if ann.current is not None:
            req_id = ann.current.message["req_id"]
            if crash == "now" and _kept(world, req_id):
                world.begin_crash()  # at this step's end, its status still on its way
    assert world.crashes == 1 and ann.current is not None and ann.current.tries == 1
    assert _kept(world, req_id) == 1  # committed: the effect is stored
    world.clock.jump(49 * 3600)
    world._client_drop = 2  # the net fault `client-drop`, twice
    sim.run(minutes=5)
    assert _kept(world, req_id) == 0  # expired, on purpose
    attempt = ann.history[1]
    assert attempt.message["req_id"] == req_id and attempt.tries > 2
    assert attempt.final is not None and attempt.final["error"] == "UNAUTHORIZED"
    assert world.clock.now - attempt.started > 48 * 3600
    assert ann.replies[-1]["deposit"] == 10  # its next login shows the deposit stored
    result = sim.finish()
    assert result.violations == []
    assert world.oracle.ledger.expected_deposits() == {"ann": 10}


def test_an_ok_its_client_was_told_counts_once_when_its_key_expires(
        sim: Simulation) -> None:
    """The other side: the kept row of a request answered ok is deleted at its
    expiry like any other, and the effect is not counted a second time."""
    world = _quiet_shop(sim)
    req_id = sim.world.clients[0].history[-1].message["req_id"]
    assert _kept(world, req_id) == 1
    world.clock.jump(49 * 3600)
    sim.run(minutes=20)
    assert _kept(world, req_id) == 0
    result = sim.finish()
    assert result.violations == []
    assert world.oracle.ledger.expected_deposits() == {"ann": 50}


def test_an_ok_kept_but_never_sent_is_an_effect_its_retries_must_see_while_kept(
        tmp_path: Path) -> None:
    """What the `idem` triggers hand the oracle as a row goes (`_key_gone`): a kept ok
    of a request with no ok answer yet is its effect. Answered otherwise within the
    key's 48 h (a key expired early), that is a violation; a claim (no reply), a kept
    refusal, and the row of a request answered ok already are no new effect."""
    oracle = Oracle(tmp_path)
    oracle._idem_gone.clear()
    refused = {"ok": False, "error": "UNAUTHORIZED"}
    oracle._key_gone("gatekeeper", "ann-1", None)  # a claim: the stock handler keeps it
    oracle._key_gone("gatekeeper", "ann-1", json.dumps(refused))
    oracle.final_reply("ann", {**_DEPOSIT, "req_id": "ann-0"}, {**_MISSED, "req_id": "ann-0"},
                       now=30.0, sent=30.0)
    oracle.violations.clear()  # its key's durability: there is no database here
    oracle._key_gone("gatekeeper", "ann-0", json.dumps(_MISSED))  # told already
    assert oracle._missed == {}
    oracle._key_gone("gatekeeper", "ann-1", json.dumps(_MISSED))
    oracle.final_reply("ann", _DEPOSIT, refused, now=_DAY + 30.0, sent=30.0)
    assert oracle.violations == ["idempotency: ann deposit ann-1 answered ok (kept, never"
                                 " sent) then UNAUTHORIZED"]
    assert oracle._idem_gone == {"gatekeeper"}  # each marks its database for a recheck
