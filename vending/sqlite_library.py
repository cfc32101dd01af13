"""The SQLite library's process-wide settings, for a process this project owns.

Two of SQLite's settings cost on every call and buy this project nothing
(docs/design.md, "The SQLite library's settings"):

- **Serialized threading mode** (the default of the library Python links): every
  API call on a connection takes that connection's mutex. Every connection here is
  used by one thread at a time (`vending.db.Database`: the actor that owns it), which
  is what SQLite's multi-thread mode asks, so the mutexes only cost.
- **Memory statistics** (`SQLITE_CONFIG_MEMSTATUS`): every allocation and free takes a
  global mutex to keep counts nobody here reads.

Both are `sqlite3_config` settings, which SQLite accepts only before the library is
initialized, and Python's `_sqlite3` initializes it when imported. So `configure()`
must run before anything imports `sqlite3`, and only where the process is ours:
`vending serve` and `vending simulate` call it; importing `vending` never does, since
an embedding program may share a connection between threads, which multi-thread mode
forbids. Called too late (or where the library cannot be reached), it changes nothing
and says so.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys

__all__ = ["configure", "take_settings"]

#: sqlite3.h's `sqlite3_config` options and result codes.
SQLITE_CONFIG_MULTITHREAD = 2
SQLITE_CONFIG_MEMSTATUS = 9
SQLITE_OK = 0

_done: bool | None = None


def configure() -> bool:
    """Multi-thread mode and no memory statistics for the SQLite this process's
    `sqlite3` will use, once.

    True if both took effect; False if the library was initialized already (`sqlite3`
    imported before), cannot be reached, or the platform is not Linux (ctypes cannot
    pass `sqlite3_config`'s variadic argument where the calling convention puts it on
    the stack, as macOS on arm64 does): then nothing changed.
    """
    global _done
    if _done is None:
        _done = (sys.platform == "linux" and "_sqlite3" not in sys.modules
                 and take_settings(_library()))
    return _done


def _library() -> str | None:
    """The file of Python's `_sqlite3` module, not imported.
    Opened as a library, it loads the very SQLite it links, statically or not,
    without initializing it."""
    spec = importlib.util.find_spec("_sqlite3")
    # A module built into the interpreter has no file ("built-in"): opening that
    # name fails, and `take_settings` says False.
    return None if spec is None else spec.origin


def take_settings(library: str | None) -> bool:
    """Set both settings in the SQLite that `library` (a path) is or links; False,
    and nothing changed, if it has none or is initialized already."""
    if library is None:
        return False
    try:
        config = ctypes.CDLL(library).sqlite3_config
    except (OSError, AttributeError):
        return False
    config.restype = ctypes.c_int
    if config(SQLITE_CONFIG_MULTITHREAD) != SQLITE_OK:
        return False
    return bool(config(SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == SQLITE_OK)
