"""A world's new database files are copies (simulation/disk.py, `new_file`), on real
SQLite files: the same schema and version as a file the real `Database` makes, in WAL
mode, opened through the real version check, never written over a file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from simulation.disk import new_file, sim_database
from simulation.oracle import Oracle
from vending import GATE_SCHEMA, STOCK_SCHEMA, Database, StorageError
from vending.schema import Schema


def _schema(path: Path) -> list[tuple[str, str, str]]:
    """What the file holds besides rows: its schema entries, version and journal mode."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        rows.append(("version", "", str(conn.execute("PRAGMA user_version").fetchone()[0])))
        rows.append(("journal", "", conn.execute("PRAGMA journal_mode").fetchone()[0]))
        return rows
    finally:
        conn.close()


@pytest.mark.parametrize("schema", [GATE_SCHEMA, STOCK_SCHEMA], ids=["gatekeeper", "stock"])
def test_a_copy_holds_what_the_real_database_makes_and_the_triggers_asked_for(
        tmp_path: Path, schema: Schema) -> None:
    Database(tmp_path / "made.sqlite3", schema).close()
    made = _schema(tmp_path / "made.sqlite3")
    assert ("journal", "", "wal") in made and ("version", "", str(schema.version)) in made
    for n in range(2):  # the first copy makes the bytes, the second reuses them
        new_file(tmp_path / f"copy{n}.sqlite3", schema)
        assert _schema(tmp_path / f"copy{n}.sqlite3") == made
    role = "gatekeeper" if schema is GATE_SCHEMA else "stock-handler"
    new_file(tmp_path / "watched.sqlite3", schema, Oracle.triggers(role))
    watched = _schema(tmp_path / "watched.sqlite3")
    triggers = [row for row in watched if row[0] == "trigger"]
    assert [row for row in watched if row[0] != "trigger"] == made
    assert len(triggers) == Oracle.triggers(role).count("CREATE TRIGGER") > 10


def test_a_copy_is_opened_through_the_real_version_check(tmp_path: Path) -> None:
    """A copy is not trusted to be current: `Schema.apply` still reads its version,
    and refuses a file newer than the code, as it refuses any other."""
    path = tmp_path / "g.sqlite3"
    new_file(path, GATE_SCHEMA)
    db = sim_database(path, GATE_SCHEMA)
    db.conn.execute(f"PRAGMA user_version={GATE_SCHEMA.version + 1}")
    db.close()
    with pytest.raises(StorageError, match="newer than this vending knows"):
        sim_database(path, GATE_SCHEMA)


def test_a_copy_is_never_written_over_a_file(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite3"
    new_file(path, GATE_SCHEMA)
    db = sim_database(path, GATE_SCHEMA)
    with db.transaction() as conn:
        conn.execute("INSERT INTO events(topic, at, body) VALUES ('deposit', 1.0, '{}')")
    db.close()
    with pytest.raises(FileExistsError):
        new_file(path, GATE_SCHEMA)
    db = sim_database(path, GATE_SCHEMA)
    assert db.conn.execute("SELECT count(*) FROM events").fetchone() == (1,)
    db.close()
