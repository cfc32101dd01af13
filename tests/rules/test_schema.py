"""Schema versions and upgrades (vending/schema.py) on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vending import GATE_SCHEMA, STOCK_SCHEMA, Database, StorageError
from vending.schema import Migration, Schema, SchemaTooNew

BASE = "CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY, name TEXT);"
KNOWN = Migration("known addresses", "CREATE TABLE known(account INTEGER, address TEXT);\n"
                  "CREATE INDEX known_account ON known(account);")


def version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def tables(db: Database) -> set[str]:
    return {r[0] for r in db.conn.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')"
        " AND name NOT LIKE 'sqlite_%'")}


def test_a_new_file_gets_every_table_and_the_current_version(tmp_path: Path) -> None:
    for schema, name in ((GATE_SCHEMA, "g.sqlite3"), (STOCK_SCHEMA, "s.sqlite3")):
        Database(tmp_path / name, schema).close()
        assert version(tmp_path / name) == schema.version
    db = Database(tmp_path / "g.sqlite3", GATE_SCHEMA)
    assert {"users", "sessions", "idem", "events", "history", "history_account",
            "known_addresses"} <= tables(db)


def test_the_versions_this_code_writes() -> None:
    # 1: release 26aa1c3; 2: history; 3: known addresses; 4: fewer pages a purchase
    assert GATE_SCHEMA.version == 4
    assert STOCK_SCHEMA.version == 2  # 2: fewer pages a purchase


def test_a_version_1_file_is_upgraded_in_place_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    Database(path, GATE_SCHEMA.base).close()  # what release 26aa1c3 wrote
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO users(user_uid, username, role, pw_hash, created)"
                 " VALUES('buyer_ann', 'ann', 'buyer', 'h', 1)")
    conn.commit()
    conn.close()
    assert version(path) == 0
    db = Database(path, GATE_SCHEMA)
    assert db.conn.execute("SELECT user_uid FROM users").fetchall() == [("buyer_ann",)]
    assert {"history", "known_addresses"} <= tables(db)
    db.close()
    assert version(path) == GATE_SCHEMA.version


def test_opening_again_changes_nothing(tmp_path: Path) -> None:
    schema = Schema("t", BASE, (KNOWN,))
    Database(tmp_path / "t", schema).close()
    conn = sqlite3.connect(tmp_path / "t")
    before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    assert schema.pending(2) == []
    db = Database(tmp_path / "t", schema)
    assert db.conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before
    db.close()


def test_adding_a_table_is_one_entry(tmp_path: Path) -> None:
    """The next engineer's table: append a Migration; old files get it, their rows stay."""
    path = tmp_path / "t"
    db = Database(path, Schema("t", BASE))
    with db.transaction() as conn:
        conn.execute("INSERT INTO users(name) VALUES('ann')")
    db.close()
    assert version(path) == 1
    db = Database(path, Schema("t", BASE, (KNOWN,)))
    assert {"known", "known_account"} <= tables(db)
    assert db.conn.execute("SELECT name FROM users").fetchall() == [("ann",)]
    db.close()
    assert version(path) == 2


def test_a_file_newer_than_the_code_is_refused_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "t"
    Database(path, Schema("t", BASE, (KNOWN,))).close()
    with pytest.raises(StorageError) as info:
        Database(path, Schema("t", BASE))
    line = str(info.value)
    assert "\n" not in line and str(path) in line
    assert "schema version 2 is newer than this vending knows (1)" in line
    assert version(path) == 2
    with pytest.raises(SchemaTooNew):
        Schema("t", BASE).pending(2)


def test_a_failing_upgrade_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "t"
    Database(path, Schema("t", BASE)).close()
    broken = Schema("t", BASE, (KNOWN, Migration("broken", "CREATE TABLE users(x);")))
    with pytest.raises(StorageError):
        Database(path, broken)
    assert version(path) == 1
    db = Database(path, Schema("t", BASE))
    assert "known" not in tables(db)  # the first step was rolled back with the second
    db.close()


def test_a_failing_upgrade_is_rolled_back_on_its_own_connection(tmp_path: Path) -> None:
    """`Schema.apply` leaves no transaction open behind the error: the opener may
    close the connection or go on using it, and the file is not held locked."""
    conn = sqlite3.connect(tmp_path / "t", isolation_level=None)
    Schema("t", BASE).apply(conn)
    broken = Schema("t", BASE, (KNOWN, Migration("broken", "CREATE TABLE users(x);")))
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        broken.apply(conn)
    assert not conn.in_transaction
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='known'").fetchall() == []
    assert int(conn.execute("PRAGMA user_version").fetchone()[0]) == 1
    conn.close()


def test_a_script_whose_last_statement_lacks_its_semicolon_runs_whole(tmp_path: Path) -> None:
    path = tmp_path / "t"
    sql = "CREATE TABLE a(x);\n;\nCREATE TABLE b(y)"
    db = Database(path, Schema("t", BASE, (Migration("two tables", sql),)))
    assert {"a", "b"} <= tables(db)
    db.close()
    assert version(path) == 2


def test_too_new_says_which_version_it_found_and_which_it_knows() -> None:
    with pytest.raises(SchemaTooNew) as info:
        Schema("t", BASE, (KNOWN,)).pending(5)
    assert (info.value.found, info.value.known) == (5, 2)


def test_in_memory_databases_are_at_the_current_version() -> None:
    db = Database(None, GATE_SCHEMA)
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == GATE_SCHEMA.version
    assert "history" in tables(db)


#: Release 26aa1c3's tables: version 1 of each file, frozen.
V1_TABLES = {
    GATE_SCHEMA.name: {"users", "purchases", "aborted", "purges", "sessions", "idem",
                           "events"},
    STOCK_SCHEMA.name: {"products", "reservations", "idem", "events"},
}


@pytest.mark.parametrize("schema", [GATE_SCHEMA, STOCK_SCHEMA], ids=lambda s: s.name)
def test_version_1_is_release_26aa1c3s_layout_and_never_grows(schema: Schema) -> None:
    """A table added to the base SQL would never reach a file already past version 1:
    a new table is a Migration appended to the schema's list (vending/schema.py)."""
    db = Database(None, schema.base)
    made = {r[0] for r in db.conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
    assert made == V1_TABLES[schema.name], "add a Migration instead of editing version 1"
