"""The SQLite library's process-wide settings (vending/sqlite_library.py): taken in a
process that asks before anything loads SQLite, and never by importing `vending`.

Each case runs in a fresh interpreter: the settings are the process's, and this one
has loaded SQLite long ago. On Linux, where the settings are taken (the project's
platform, and CI's)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vending import sqlite_library

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


# -- in this process, on a private copy of the library ------------------------------
# Python's `_sqlite3` initialized this process's SQLite long ago. A copy of the library
# file, loaded under its own name, is a second instance of SQLite, not initialized:
# `take_settings` works on it as `vending serve` works on the real one.

@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> str:
    loaded = [line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
              if "libsqlite3" in line]
    if not loaded:
        pytest.fail("this Python's sqlite3 links no shared libsqlite3 to copy")
    copy = tmp_path / "libsqlite3-copy.so"
    shutil.copy(loaded[0], copy)
    return str(copy)


def _memory_in_use(lib: ctypes.CDLL) -> int:
    """What `lib` counts as in use while a database it opened holds a row."""
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    handle = ctypes.c_void_p()
    assert lib.sqlite3_open(b":memory:", ctypes.byref(handle)) == 0  # initializes it
    try:
        assert lib.sqlite3_exec(handle, b"CREATE TABLE t(x); INSERT INTO t VALUES (1);",
                                None, None, None) == 0
        return int(lib.sqlite3_memory_used())
    finally:
        assert lib.sqlite3_close(handle) == 0


def test_a_fresh_library_takes_both_settings_until_it_is_initialized(
        fresh_sqlite: str) -> None:
    assert sqlite_library.take_settings(fresh_sqlite) is True
    assert _memory_in_use(ctypes.CDLL(fresh_sqlite)) == 0  # memory statistics off
    assert sqlite_library.take_settings(fresh_sqlite) is False  # too late now


def test_an_initialized_library_is_left_as_it_is(fresh_sqlite: str) -> None:
    lib = ctypes.CDLL(fresh_sqlite)
    assert _memory_in_use(lib) > 0
    assert sqlite_library.take_settings(fresh_sqlite) is False
    assert _memory_in_use(lib) > 0  # statistics still kept: nothing changed


def test_no_library_or_one_without_sqlite_is_refused(tmp_path: Path) -> None:
    assert sqlite_library.take_settings(None) is False
    assert sqlite_library.take_settings(str(tmp_path / "missing.so")) is False
    libc = [line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
            if "/libc.so" in line or "/libc-" in line]
    assert sqlite_library.take_settings(libc[0]) is False  # no sqlite3_config in it


def test_configure_is_asked_of_the_sqlite_python_links() -> None:
    assert sqlite_library._library() == sys.modules["_sqlite3"].__file__


def test_configure_takes_the_settings_only_before_sqlite3_is_loaded(
        fresh_sqlite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The library it works on: the fresh copy, standing in for one not yet loaded.
    monkeypatch.setattr(sqlite_library, "_library", lambda: fresh_sqlite)
    monkeypatch.setattr(sqlite_library, "_done", None)
    assert "_sqlite3" in sys.modules  # this process: the tests opened databases
    assert sqlite_library.configure() is False
    assert _memory_in_use(ctypes.CDLL(fresh_sqlite)) > 0  # not even tried
    fresh = str(Path(fresh_sqlite).with_name("libsqlite3-copy2.so"))
    shutil.copy(fresh_sqlite, fresh)
    monkeypatch.setattr(sqlite_library, "_library", lambda: fresh)
    monkeypatch.setattr(sqlite_library, "_done", None)
    monkeypatch.delitem(sys.modules, "_sqlite3")  # as if nothing had loaded it
    assert sqlite_library.configure() is True
    assert _memory_in_use(ctypes.CDLL(fresh)) == 0
    monkeypatch.setattr(sqlite_library, "_library", lambda: None)
    assert sqlite_library.configure() is True  # asked once: the answer is kept
