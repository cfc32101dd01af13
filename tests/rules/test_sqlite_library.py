"""The SQLite library's process-wide settings (vending/sqlite_library.py): taken in a
process that asks before anything loads SQLite, and never by importing `vending`.

Each case runs in a fresh interpreter: the settings are the process's, and this one
has loaded SQLite long ago. On Linux, where the settings are taken (the project's
platform, and CI's)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

#: Prints what `configure()` said, then the bytes SQLite counts as in use after a
#: write through the real `Database` (0 when its memory statistics are off).
_PROBE = """
import ctypes, importlib.util, sys
from pathlib import Path
{before}
from vending import sqlite_library
said = sqlite_library.configure()
from vending.db import Database
db = Database(Path(sys.argv[1]) / "probe.sqlite3", "CREATE TABLE IF NOT EXISTS t(x);")
with db.transaction():
    db.conn.execute("INSERT INTO t VALUES (1)")
assert db.conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1
lib = ctypes.CDLL(importlib.util.find_spec("_sqlite3").origin)
lib.sqlite3_memory_used.restype = ctypes.c_int64
print(said, lib.sqlite3_memory_used(), sqlite_library.configure())
"""


def _probe(tmp_path: Path, before: str = "") -> list[str]:
    code = textwrap.dedent(_PROBE.format(before=before))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, timeout=60, check=True, cwd=Path(__file__).parents[2])
    return out.stdout.split()


def test_a_process_that_asks_first_runs_sqlite_without_its_memory_statistics(
        tmp_path: Path) -> None:
    said, used, again = _probe(tmp_path)
    assert said == "True"
    assert used == "0"  # no global count kept (nor its mutex taken) per allocation
    assert again == "True"  # asked once: the answer is kept


def test_asked_after_sqlite_was_loaded_it_changes_nothing_and_says_so(
        tmp_path: Path) -> None:
    said, used, _ = _probe(tmp_path, before="import sqlite3")
    assert said == "False"
    assert int(used) > 0  # the library's defaults still hold


def test_importing_vending_leaves_the_library_alone(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import ctypes, importlib.util, sys
        from pathlib import Path
        from vending.db import Database
        db = Database(Path(sys.argv[1]) / "probe.sqlite3", "CREATE TABLE t(x);")
        lib = ctypes.CDLL(importlib.util.find_spec("_sqlite3").origin)
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        print(lib.sqlite3_memory_used())
        """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, timeout=60, check=True, cwd=Path(__file__).parents[2])
    assert int(out.stdout) > 0
