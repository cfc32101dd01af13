"""Diagnostic only: count the SQL statements and commits this process runs.

`vending bench --count-sql` starts its servers with `VENDING_SQL_COUNT=FILE`;
the server then calls `enable(FILE)` before it opens a database, and every
`Database` opened afterwards gets a `sqlite3` trace callback that counts its
statements by kind (verb and table). `dump()` (the server's SIGUSR1 handler)
writes the totals to FILE as one JSON object, which the bench reads before and
after its timed window. Off (the default), no callback is installed: the hot
path pays nothing.

A connection to a file also counts the WAL frames its commits append, read off
the file's wal-index (the `-shm` file: its header's frame count and salt, which
changes when the WAL starts over after a checkpoint) at each BEGIN, so a commit's
frames show at the next one: "WAL frames FILE", and "WAL checkpoints FILE" (each
writes the distinct pages of the frames it went through into the database file,
and syncs both files). A frame is two pwrites (its header, then the page) and a
commit one fdatasync.

Each connection keeps its own counts (a connection is used by one thread, so a
counter never races); `dump` sums them. A trigger's program is reported to the
callback with its parent statement's text, so a statement repeated at once is
counted once (two real statements with the same text and parameters in a row
would be too: a small undercount, rare).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import sys
import threading
from collections import Counter
from pathlib import Path

__all__ = ["ENV", "WAL", "attach", "dump", "enable", "enabled", "from_environ", "kind_of", "read"]

#: The variable that turns counting on, naming the file the counts go to.
ENV = "VENDING_SQL_COUNT"

_lock = threading.Lock()
_path: Path | None = None
_counts: list[Counter[str]] = []
_dumps = 0

#: Statements that only frame a transaction.
FRAMING = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"})
#: The prefix of the WAL counts' keys ("WAL frames gatekeeper.sqlite3").
WAL = "WAL "
_TABLE = re.compile(r"\b(?:FROM|INTO)\s+([\w.]+)", re.IGNORECASE)


def kind_of(sql: str) -> str:
    """"VERB table" (or just "VERB") of one SQL statement."""
    words = sql.split(None, 2)
    if not words:
        return "?"
    verb = words[0].upper()
    if verb in FRAMING or verb == "PRAGMA":
        return verb
    m = _TABLE.search(sql)
    table = words[1] if verb == "UPDATE" and len(words) > 1 else m.group(1) if m else ""
    # "st.products" and "products" are one table (an ATTACHed file's schema name dropped).
    return f"{verb} {table.rpartition('.')[2]}" if table else verb


def enable(path: str | Path) -> None:
    """Count statements of every database opened from now on; `dump` writes to `path`."""
    global _path
    _path = Path(path)


def from_environ() -> bool:
    """In a server's main thread, before any database is opened: if `ENV` names a
    file, count from now on and `dump` on SIGUSR1. True if counting is on."""
    path = os.environ.get(ENV)
    if not path:
        return False
    enable(path)
    signal.signal(signal.SIGUSR1, lambda signum, frame: dump())
    return True


def enabled() -> bool:
    return _path is not None


def attach(conn: sqlite3.Connection, path: Path | None = None) -> None:
    """Count `conn`'s statements, and with `path` (its file) the WAL frames its
    commits append (a no-op unless `enable` was called)."""
    if _path is None:
        return
    counts: Counter[str] = Counter()
    with _lock:
        _counts.append(counts)

    last = [""]
    wal = _WalIndex(path, counts) if path is not None else None

    def trace(sql: str) -> None:
        # A trigger's program is reported with its parent statement's text again
        # (Python passes the statement's expanded SQL): a repeat is not counted.
        if sql != last[0]:
            last[0] = sql
            kind = kind_of(sql)
            counts[kind] += 1
            if wal is not None and kind == "BEGIN":
                wal.read()
    conn.set_trace_callback(trace)


class _WalIndex:
    """The frames a database file's WAL gained between reads, and checkpoints.

    The wal-index header (sqlite.org/walformat.html): mxFrame, the frames in the
    WAL, at byte 16; the salts at 32; nBackfill, the frames checkpointed, at 96.
    New salts mean the WAL started over: its frames are all new. Read by the
    connection's thread, between its transactions.
    """

    def __init__(self, path: Path, counts: Counter[str]) -> None:
        self._shm = Path(str(path) + "-shm")
        self._frames = f"{WAL}frames {path.name}"
        self._checkpoints = f"{WAL}checkpoints {path.name}"
        self._counts = counts
        self._last: tuple[int, bytes, int] | None = None

    def read(self) -> None:
        try:
            with self._shm.open("rb") as f:
                head = f.read(100)
        except OSError:
            return
        if len(head) < 100:
            return
        now = (int.from_bytes(head[16:20], sys.byteorder), head[32:40],
               int.from_bytes(head[96:100], sys.byteorder))
        if self._last is not None:
            frames, salt, backfilled = self._last
            fresh = now[1] != salt
            self._counts[self._frames] += now[0] - (0 if fresh else frames)
            if now[2] > (0 if fresh else backfilled):
                self._counts[self._checkpoints] += 1
        self._last = now


def dump() -> None:
    """Write the totals so far (and how many dumps there were) to the enabled file.

    Called from a signal handler in the server's main thread: written to a
    temporary name and renamed, so a reader never sees half a file.
    """
    global _dumps
    if _path is None:
        return
    total: Counter[str] = Counter()
    with _lock:
        for counts in _counts:
            total.update(dict(counts))  # a copy: the owner thread may be adding
        _dumps += 1
        seq = _dumps
    tmp = _path.with_name(_path.name + ".tmp")
    tmp.write_text(json.dumps({"dump": seq, "pid": os.getpid(), "counts": dict(total)}))
    tmp.replace(_path)


def read(path: str | Path) -> tuple[int, dict[str, int]]:
    """(dump number, counts) from a file `dump` wrote; (0, {}) if there is none yet."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return 0, {}
    return int(raw["dump"]), {str(k): int(v) for k, v in raw["counts"].items()}
