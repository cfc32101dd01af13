"""Memory agrees with storage: what the owners keep in memory (mirrors of users,
sessions and products, held units, the key sets of req_ids, purchases and
fences, the next event seq) is what a fresh load of the same file finds, after
commits and after a commit that failed (vending/db.py: `Mirror`, `KeySet`,
`Database.on_rollback`).

The failure is injected where the shells' fault points put it: just before
COMMIT (`Database.before_commit`), as a failing fsync would.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from rules_world import World

from vending import GATE_SCHEMA, STOCK_SCHEMA, Database, Gate, Stock, parse_request
from vending.call import Call
from vending.db import Mirror
from vending.errors import BadRequest
from vending.purchase import Resolution, reserve
from vending.users import find_user


def failing_fsync() -> None:
    raise sqlite3.OperationalError("disk I/O error")


@pytest.fixture
def holding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mirrors hold rows from their first read (`Mirror.HOLD_AFTER` 0), so the tests of
    what a held row does need no reads first."""
    monkeypatch.setattr(Mirror, "HOLD_AFTER", 0)


@pytest.fixture(params=[0, Mirror.HOLD_AFTER], ids=["held-at-once", "held-after-reads"])
def world(tmp_path: Path, request: pytest.FixtureRequest,
          monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(Mirror, "HOLD_AFTER", request.param)
    w = World()
    clock = lambda: w.now  # noqa: E731
    w.acc = Gate(Database(tmp_path / "gatekeeper.sqlite3", GATE_SCHEMA), clock=clock)
    w.stock = Stock(Database(tmp_path / "stock.sqlite3", STOCK_SCHEMA), clock=clock)
    return w


def fresh(world: World) -> tuple[Gate, Stock]:
    """The same files, loaded by new owners (a restart), nothing shared in memory."""
    assert world.acc.db.path is not None and world.stock.db.path is not None
    return (Gate(Database(world.acc.db.path, GATE_SCHEMA), clock=lambda: world.now),
            Stock(Database(world.stock.db.path, STOCK_SCHEMA), clock=lambda: world.now))


def view(acc: Gate, stock: Stock, creds: list[dict[str, Any]], uid: str,
         pids: list[str], req_ids: list[str]) -> dict[str, Any]:
    """Everything a request may read from an owner's memory, read through its API."""
    return {
        "users": [find_user(acc.db, account_id=a) for a in range(1, 4)],
        "sessions": [acc.sessions.find(c["wsess_uid"], c["token"], 0.0) for c in creds],
        "product": stock.public(stock.row(uid) or ()),
        "offer": stock.offer(uid),
        "holds": {pid: stock.held_by(pid) for pid in pids},
        "holding": stock.holding(),
        "charged": {pid: acc.book.reply(pid) for pid in pids},
        "fenced": {pid: acc.book.fenced(pid) for pid in pids},
        "kept": {r: _kept(acc, "a:2", r) for r in req_ids},
        "seqs": (acc.events.last_seq(), stock.events.last_seq()),
    }


def test_a_failed_commit_leaves_memory_equal_to_a_fresh_load(world: World) -> None:
    seller, buyer = world.register("seller", "sam"), world.register("buyer", "bob")
    uid = world.op(seller, "sell", product_name="cola", cost=5, amount=10)["product"][
        "product_uid"]
    world.deposit(buyer, 20)
    assert world.call({"op": "buy", **_cred(buyer), "product_uid": uid, "amount": 1},
                      purchase_id="P-ok")["ok"]
    assert not world.stock.holding()  # settled: nothing held, no stale-hold checks due
    creds, pids = [seller, buyer], ["P-ok", "P-lost", "P-unheld"]
    req_ids = ["d-1", "b-1", "b-2", "d-2"]

    # The gatekeeper's storage fails: a deposit, and a purchase whose units are
    # held (the stock handler's commit) but whose charge is refused.
    world.acc.db.before_commit = failing_fsync
    with pytest.raises(sqlite3.OperationalError):
        world.op(buyer, "deposit", amount=10, req_id="d-1")
    with pytest.raises(sqlite3.OperationalError):
        world.call({"op": "buy", **_cred(buyer), "product_uid": uid, "amount": 2,
                    "req_id": "b-1"}, purchase_id="P-lost")
    # The stock handler's storage fails too: a seller's change and a hold are lost.
    world.acc.db.before_commit = None
    world.stock.db.before_commit = failing_fsync
    with pytest.raises(sqlite3.OperationalError):
        world.op(seller, "sell", product_uid=uid, amount=5, req_id="s-1")
    with pytest.raises(sqlite3.OperationalError):
        world.call({"op": "buy", **_cred(buyer), "product_uid": uid, "amount": 3,
                    "req_id": "b-2"}, purchase_id="P-unheld")
    world.stock.db.before_commit = None

    acc2, stock2 = fresh(world)
    seen = view(world.acc, world.stock, creds, uid, pids, req_ids)
    assert seen == view(acc2, stock2, creds, uid, pids, req_ids)
    # The purchase gave the rest back (deposit 0); the failed deposit added nothing.
    assert seen["users"][1].deposit == 0 and seen["holds"]["P-lost"] == (uid, 2)
    assert seen["holding"]  # the stock handler's upkeep asks about it (actors/backend.py)
    assert seen["holds"]["P-unheld"] is None
    assert seen["product"]["amount"] == 7  # 10 - 1 sold - 2 held

    # Once the storage works, the same requests apply exactly once.
    assert world.op(buyer, "deposit", amount=10, req_id="d-2")["deposit"] == 10
    assert world.op(buyer, "deposit", amount=10, req_id="d-2")["deposit"] == 10
    assert world.op(seller, "sell", product_uid=uid, amount=5, req_id="s-1")["ok"]
    acc3, stock3 = fresh(world)
    assert (view(world.acc, world.stock, creds, uid, pids, req_ids)
            == view(acc3, stock3, creds, uid, pids, req_ids))


@pytest.mark.parametrize("hold_after", [0, 2, 3, 100])
def test_a_mirror_follows_any_writer_and_forgets_a_rolled_back_savepoint(
        hold_after: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether it holds rows from the start, starts holding them midway (at the
    second read, or at the third, inside the savepoint) or reads them all."""
    monkeypatch.setattr(Mirror, "HOLD_AFTER", hold_after)
    db = Database(None, "CREATE TABLE t(k TEXT PRIMARY KEY, x INTEGER);")
    def mirror_get(key: str) -> object:
        return db.mirror("t", "k", ("k", "x")).get(key)
    with db.transaction():
        db.conn.execute("INSERT INTO t VALUES('a', 1)")
    assert mirror_get("a") == ("a", 1)
    db.conn.execute("UPDATE t SET x=x+1")  # SQL of any module, outside the owner's API
    assert mirror_get("a") == ("a", 2)
    with db.transaction():
        with pytest.raises(RuntimeError), db.transaction():
            db.conn.execute("UPDATE t SET x=99 WHERE k='a'")
            assert mirror_get("a") == ("a", 99)
            raise RuntimeError("rolled back to the savepoint")
        assert mirror_get("a") == ("a", 2)
    db.conn.execute("UPDATE t SET k='b' WHERE k='a'")  # a key that changes leaves its old key
    assert (mirror_get("a"), mirror_get("b")) == (None, ("b", 2))
    db.conn.execute("DELETE FROM t")
    assert (mirror_get("a"), mirror_get("b")) == (None, None)


def test_deferred_rows_go_with_their_savepoint_or_their_commit() -> None:
    db = Database(None, "CREATE TABLE t(x INTEGER);")
    with db.transaction():
        db.defer("INSERT INTO t(x)", (1,))
        with pytest.raises(RuntimeError), db.transaction():
            db.defer("INSERT INTO t(x)", (2,))
            raise RuntimeError("rolled back to the savepoint")
        db.defer("INSERT INTO t(x)", (3,))
    assert [x for (x,) in db.conn.execute("SELECT x FROM t ORDER BY x")] == [1, 3]
    with pytest.raises(RuntimeError), db.transaction():
        db.defer("INSERT INTO t(x)", (4,))
        raise RuntimeError("the whole transaction")
    with db.transaction():
        pass
    assert [x for (x,) in db.conn.execute("SELECT x FROM t ORDER BY x")] == [1, 3]


def test_a_key_set_never_misses_a_stored_key_after_rollbacks_and_expiry() -> None:
    db = Database(None, "CREATE TABLE k(a TEXT PRIMARY KEY, at REAL);")
    keys = db.keyset("SELECT a FROM k")
    with db.transaction():
        keys.add("one")
        db.conn.execute("INSERT INTO k VALUES('one', 1)")
    with pytest.raises(RuntimeError), db.transaction():
        keys.add("two")
        db.conn.execute("INSERT INTO k VALUES('two', 2)")
        raise RuntimeError("rolled back")
    assert keys.may_hold("one")  # stored: always known
    with db.transaction():
        db.conn.execute("DELETE FROM k WHERE a='one'")
        keys.shrink()
    assert not keys.may_hold("one") and not keys.may_hold("two")  # read again, exactly


def _kept(acc: Gate, scope: str, req_id: str) -> bool:
    """Is a reply kept under this req_id? (A fingerprint no request has: a kept
    one is refused as another request's.)"""
    try:
        return acc.replies.store.lookup(scope, req_id, "no request") is not None
    except BadRequest:
        return True


def _cred(reply: dict[str, Any]) -> dict[str, Any]:
    return {"wsess_uid": reply["wsess_uid"], "token": reply["token"]}


def test_a_mirror_first_used_in_a_transaction_that_rolls_back_still_follows_writes(
        holding: None) -> None:
    """Its TEMP triggers were created in that transaction and went with it."""
    db = Database(None, "CREATE TABLE t(k TEXT PRIMARY KEY, x INTEGER);")
    db.conn.execute("INSERT INTO t VALUES('a', 1)")
    with pytest.raises(RuntimeError), db.transaction():
        assert db.mirror("t", "k", ("k", "x")).get("a") == ("a", 1)
        raise RuntimeError("rolled back")
    triggers = "SELECT count(*) FROM sqlite_temp_master WHERE type='trigger'"
    assert db.conn.execute(triggers).fetchone()[0] == 0
    assert db.mirror("t", "k", ("k", "x")).get("a") == ("a", 1)
    assert db.conn.execute(triggers).fetchone()[0] == 3  # made again when asked for
    db.conn.execute("UPDATE t SET x=5")
    assert db.mirror("t", "k", ("k", "x")).get("a") == ("a", 5)


def test_rows_deferred_before_a_savepoint_survive_its_rollback_after_a_read() -> None:
    """A reader inside the savepoint writes what is deferred (`write_deferred`); the
    rows deferred before the savepoint must not go with it."""
    db = Database(None, "CREATE TABLE t(x INTEGER);")
    with db.transaction():
        db.defer("INSERT INTO t(x)", (1,))
        with pytest.raises(RuntimeError), db.transaction():
            db.defer("INSERT INTO t(x)", (2,))
            db.write_deferred()  # as a lookup that must see the table does
            raise RuntimeError("rolled back to the savepoint")
    assert [x for (x,) in db.conn.execute("SELECT x FROM t ORDER BY x")] == [1]


def test_a_mirrored_row_is_read_from_the_file_once_then_served_from_memory(holding: None) -> None:
    """What a mirror is for (issue 19 counts SQL per purchase): a row read once, or
    written by anyone since, is answered with no SQL."""
    db = Database(None, "CREATE TABLE t(k TEXT PRIMARY KEY, x INTEGER);")
    db.conn.execute("INSERT INTO t VALUES('a', 1)")
    reads: list[str] = []
    db.conn.set_trace_callback(
        lambda sql: reads.append(sql) if sql.startswith("SELECT k, x FROM t") else None)

    def mirror_get(key: str) -> object:
        return db.mirror("t", "k", ("k", "x")).get(key)
    assert mirror_get("a") == ("a", 1) and len(reads) == 1
    assert mirror_get("a") == ("a", 1) and len(reads) == 1
    db.conn.execute("UPDATE t SET x=2 WHERE k='a'")
    db.conn.execute("INSERT INTO t VALUES('b', 3)")
    assert (mirror_get("a"), mirror_get("b")) == (("a", 2), ("b", 3)) and len(reads) == 1
    db.conn.execute("DELETE FROM t WHERE k='a'")
    assert mirror_get("a") is None and len(reads) == 2  # gone: looked for in the file


def test_a_charge_or_a_fence_whose_commit_failed_decides_nothing(world: World) -> None:
    """The purchase book's key sets may keep an id whose transaction rolled back
    (vending/db.py, `KeySet`): that id is then neither charged nor fenced."""
    seller, buyer = world.register("seller", "sam"), world.register("buyer", "bob")
    uid = world.op(seller, "sell", product_name="cola", cost=5, amount=10)["product"][
        "product_uid"]
    world.deposit(buyer, 20)
    req = parse_request({"op": "buy", **_cred(buyer), "product_uid": uid, "amount": 1})
    step = {}
    for pid in ("P-charged", "P-fenced"):
        with world.stock.db.transaction():
            step[pid] = reserve(world.stock, Call(req, pid=pid))
    world.acc.db.before_commit = failing_fsync
    with pytest.raises(sqlite3.OperationalError), world.acc.db.transaction():
        assert world.acc.charge(step["P-charged"]).committed
    with pytest.raises(sqlite3.OperationalError), world.acc.db.transaction():
        assert world.acc.resolve("P-fenced") == Resolution("P-fenced", False)
    world.acc.db.before_commit = None
    # Neither id was decided: each is charged now, once, and resolves as charged.
    with world.acc.db.transaction():
        assert world.acc.charge(step["P-charged"]).reply["spent"] == 5
    world.deposit(buyer, 5)
    with world.acc.db.transaction():
        assert world.acc.charge(step["P-fenced"]).reply["spent"] == 5
    for pid in ("P-charged", "P-fenced"):
        with world.acc.db.transaction():
            assert world.acc.resolve(pid) == Resolution(pid, True)


class _CountingConnection(sqlite3.Connection):
    """Counts the SQL functions registered on it."""

    registered: list[str]

    def create_function(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.registered.append(name)
        super().create_function(name, *args, **kwargs)


def test_a_mirror_registers_its_functions_once_whatever_rolls_back(
        holding: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering an SQL function again expires every prepared statement of the
    connection: a mirror emptied by a rollback keeps its functions, and its triggers
    are made again (if the rollback took them) when it is next asked for."""
    connect = sqlite3.connect

    def counting(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, factory=_CountingConnection, **kwargs)
        conn.registered = []
        return conn
    monkeypatch.setattr(sqlite3, "connect", counting)
    db = Database(None, "CREATE TABLE t(k TEXT PRIMARY KEY, x INTEGER);")
    db.conn.execute("INSERT INTO t VALUES('a', 1)")
    for x in (2, 3):
        assert db.mirror("t", "k", ("k", "x")).get("a") == ("a", x - 1)
        with pytest.raises(RuntimeError), db.transaction():
            raise RuntimeError("rolled back: the mirror is emptied")
        db.conn.execute("UPDATE t SET x=?", (x,))
    assert db.mirror("t", "k", ("k", "x")).get("a") == ("a", 3)
    db.conn.execute("UPDATE t SET x=4")
    assert db.mirror("t", "k", ("k", "x")).get("a") == ("a", 4)  # told, not read
    assert sorted(db.conn.registered) == ["_mirror_t_drop", "_mirror_t_put"]  # type: ignore[attr-defined]



def test_a_mirrors_triggers_are_made_again_once_after_a_rollback(holding: None) -> None:
    """Asked for at every read of a mirrored row: its triggers are made when it is
    first asked for and once again after each rollback, never at every ask."""
    db = Database(None, "CREATE TABLE t(k TEXT PRIMARY KEY, x INTEGER);")
    db.conn.execute("INSERT INTO t VALUES('a', 1)")
    made: list[str] = []
    db.conn.set_trace_callback(
        lambda sql: made.append(sql) if sql.startswith("CREATE TEMP TRIGGER") else None)
    for _ in range(2):
        assert db.mirror("t", "k", ("k", "x")).get("a") == ("a", 1)
        assert db.mirror("t", "k", ("k", "x")).get("a") == ("a", 1)
        assert len(made) == 3, made
        with pytest.raises(RuntimeError), db.transaction():
            raise RuntimeError("rolled back")
        made.clear()


def test_a_mirror_reads_the_file_until_read_hold_after_times_then_holds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A mirror just made (a restart's connection) costs no triggers until it has
    been read `HOLD_AFTER` times: until then each read is a SELECT, which any
    write or rollback leaves right; at that read its triggers are made, and from
    then on it holds rows as a mirror does."""
    monkeypatch.setattr(Mirror, "HOLD_AFTER", 3)
    db = Database(None, "CREATE TABLE t(k TEXT PRIMARY KEY, x INTEGER);")
    db.conn.execute("INSERT INTO t VALUES('a', 1)")
    reads: list[str] = []
    db.conn.set_trace_callback(
        lambda sql: reads.append(sql) if sql.startswith("SELECT k, x FROM t") else None)
    triggers = "SELECT count(*) FROM sqlite_temp_master WHERE type='trigger'"

    def mirror_get(key: str) -> object:
        return db.mirror("t", "k", ("k", "x")).get(key)
    assert mirror_get("a") == ("a", 1) and mirror_get("b") is None  # a key absent counts too
    assert len(reads) == 2 and len(db.mirror("t", "k", ("k", "x"))) == 0
    assert db.conn.execute(triggers).fetchone()[0] == 0
    with pytest.raises(RuntimeError), db.transaction():
        db.conn.execute("UPDATE t SET x=7")
        raise RuntimeError("rolled back: nothing held, no trigger to make again")
    assert not db.mirror("t", "k", ("k", "x")).stale
    db.conn.execute("UPDATE t SET x=2")  # not told: nothing held
    assert mirror_get("a") == ("a", 2) and len(reads) == 3  # the third read: now it holds
    assert db.conn.execute(triggers).fetchone()[0] == 3
    assert mirror_get("a") == ("a", 2) and len(reads) == 3  # served from memory
    db.conn.execute("UPDATE t SET x=3")
    assert mirror_get("a") == ("a", 3) and len(reads) == 3  # told by its trigger
