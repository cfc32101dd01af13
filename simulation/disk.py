"""The simulated disk, and the fault points the actors already have.

The actors call their `Env`'s `faults.hit(point)` at `<role>.in_batch`,
`<role>.commit` (just before a COMMIT that writes) and `<role>.before_send.<kind>`;
a simulated world's `Env` has `SimFaults` there (simulation/seams.py) where a real
one has `actors.faults`, so the same points real crash tests use are where the
seed places its faults:

- at `.commit`: the disk is full or fails (the `sqlite3.OperationalError`
  SQLite raises, so the real rollback and UNAVAILABLE path runs), or is slow
  (simulated time passes inside the commit), or the process dies just before
  or just after the COMMIT;
- at `.in_batch`: the actor raises (the real failure path: rollback, refusal,
  `on_failure`, the supervisor's restart);
- at `.before_send`: the process dies between a commit and its message.

The database files are real SQLite files in WAL mode. `synchronous` is OFF here:
a simulated crash kills the process, never the machine, and the OS page cache
outlives a process, so every COMMIT that returned is in the file the next
incarnation opens, with or without an fsync; what the crash loses is exactly the
transaction that had not committed. (Power loss is not simulated.)

A new file is a copy (`new_file`): what `Database` leaves in a new file for a
schema is the same every time, so each process makes it once, in a folder of its
own (the real `Database` and `Schema.apply` on a new file, in WAL mode, then
closed, which checkpoints it), and writes those bytes wherever a world asks for a
new file of that schema, instead of running the schema's statements for every
seed. The copy is then opened as any file is: the real `Database` and
`Schema.apply` run on it and find it at their version. Only the creation is not
run again per seed; tests/rules/test_schema.py runs it on new files.

The oracle's triggers (simulation/oracle.py, `watch`) may be part of that first
file too (`extra`), stored like the schema's own, when the folder is the run's own
(`WorldOptions.scratch`): then an open, after a crash above all, parses them with
the rest of the schema instead of making them again (about 170,000 instructions a
temporary trigger, fourteen of them on the gatekeeper's file, at every open). They
fire as temporary ones do, inside the real code's transactions, and call the
oracle's functions, which write nothing; the real code never reads the schema.

The files stay files, in WAL mode. An in-memory VFS (`vfs=memdb`) or
`locking_mode=EXCLUSIVE` would stand in for them cheaply in the kernel only (the
`fcntl` locks, `pwrite` and `pread` of a transaction and of the oracle's read after
it; in user space, where the instructions are, they save about 1,500 of 35,000
instructions a one-row transaction), and neither keeps the real code's storage:
`memdb` has no WAL (`Database` refuses to open without it, and a rollback journal
lets a reader's open statement block a writer's COMMIT, which WAL never does), and
an exclusive lock shuts the oracle's read-only connections out, while closing the
last connection at a crash checkpoints and deletes the WAL, which a kill does not.
docs/simulation.md, "Speed", has the numbers.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from actors.faults import InjectedFault
from vending.db import Database
from vending.schema import Schema

from . import bugs

__all__ = ["SimDisk", "SimFaults", "new_file", "sim_database"]

_STORAGE = {
    "full": ("database or disk is full", sqlite3.SQLITE_FULL, "SQLITE_FULL"),
    "ioerror": ("disk I/O error", sqlite3.SQLITE_IOERR, "SQLITE_IOERR"),
}


def storage_error(kind: str) -> sqlite3.OperationalError:
    message, code, name = _STORAGE[kind]
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode, exc.sqlite_errorname = code, name
    return exc


def sim_database(path: Path | None, schema: Schema | str) -> Database:
    """`Database` as the actors open it, with `synchronous=OFF` (see above)."""
    db = Database(path, schema)
    db.conn.execute("PRAGMA synchronous=OFF")
    return db


#: A new file's bytes by (schema, extra SQL): made once per process (`new_file`).
_NEW_FILES: dict[tuple[Schema, str], bytes] = {}


def new_file(path: Path, schema: Schema, extra: str = "") -> None:
    """Write at `path` (which must not exist) what `Database(path, schema)` leaves in
    a new file, then `extra` (a script, run in one transaction); see above."""
    key = (schema, extra)
    image = _NEW_FILES.get(key)
    if image is None:
        with tempfile.TemporaryDirectory(prefix="vending-sim-new-") as folder:
            made = Path(folder) / "new.sqlite3"
            db = sim_database(made, schema)
            if extra:
                db.conn.executescript(f"BEGIN;{extra}COMMIT;")
            db.close()  # the last connection: checkpoints, and removes the WAL
            image = _NEW_FILES[key] = made.read_bytes()
    with open(path, "xb") as out:  # never over a file: that would lose its rows
        out.write(image)


class SimDisk:
    """Which commits fail or crawl: set by the fault plan, read at each commit."""

    def __init__(self) -> None:
        #: role -> (kind, until simulated time): commits refused until then.
        self.failing: dict[str, tuple[str, float]] = {}
        #: role -> seconds the next commit takes.
        self.slow: dict[str, float] = {}
        self.commits = 0
        #: role -> (kind, n): the commit after the next n writing commits fails once.
        self.fail_later: dict[str, tuple[str, int]] = {}
        #: role -> when it last refused a commit (sessions may look idle since).
        self.refused_at: dict[str, float] = {}
        #: role -> "full" / "ioerror": its next commit at a moment that matters
        #: fails so (an aimed fault, swarm.py; `World.commit_matters`).
        self.aimed_commit: dict[str, str] = {}


class SimFaults:
    """The fault points of a simulated world's `Env` (`actors.env.FaultPoints`)."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.disk = SimDisk()
        #: role -> raise at its next `in_batch`.
        self.raise_in_batch: set[str] = set()
        #: "before" / "after": the process dies at the next commit (before or after it).
        self.crash_at_commit: str | None = None
        #: The process dies at the next `before_send` point.
        self.crash_before_send = False
        #: Extra checks tests hang on points (the bug switches), by point prefix.
        self.hooks: list[Callable[[str], None]] = []

    def armed(self) -> bool:
        return True  # a fault may strike anywhere: messages leave one by one

    def hit(self, point: str) -> None:
        for hook in self.hooks:
            hook(point)
        role, _, where = point.partition(".")
        if where == "commit":
            self._commit(role)
        elif where == "in_batch":
            if role in self.raise_in_batch:
                world = self.world
                self.raise_in_batch.discard(role)
                world.note(f"fault crash actor {role} (raises in its batch)")
                if "stop-all" in bugs.ACTIVE:
                    raise bugs.SimBaseException(point)
                raise InjectedFault(point)
        elif self.crash_before_send and where.startswith("before_send"):
            self.crash_before_send = False
            self.world.note(f"fault crash process at {point}")
            self.world.begin_crash()

    def _commit(self, role: str) -> None:
        world, disk = self.world, self.disk
        disk.commits += 1
        world.dirty.add(role)
        if self.crash_at_commit == "before":
            self.crash_at_commit = None
            world.note(f"fault crash process before {role} commit")
            world.begin_crash()
            raise InjectedFault(f"{role}.commit")  # rolls the transaction back
        later = disk.fail_later.get(role)
        if later is not None:
            kind, n = later
            if n:
                disk.fail_later[role] = (kind, n - 1)
            else:
                del disk.fail_later[role]
                disk.refused_at[role] = world.clock.now
                world.note(f"fault disk: {role} commit refused ({kind})")
                raise storage_error(kind)
        if role in disk.aimed_commit and world.commit_matters(role):
            kind = disk.aimed_commit.pop(role)
            disk.refused_at[role] = world.clock.now
            world.note(f"fault disk: {role} commit refused at its moment ({kind})")
            raise storage_error(kind)
        failing = disk.failing.get(role)
        if failing is not None:
            kind, until = failing
            if world.clock.now < until:
                disk.refused_at[role] = world.clock.now
                raise storage_error(kind)
            del disk.failing[role]
        delay = disk.slow.pop(role, 0.0)
        if delay:
            world.stalls += 1
            world.clock.sleep(delay)
        if self.crash_at_commit == "after":
            self.crash_at_commit = None
            world.note(f"fault crash process after {role} commit")
            world.begin_crash()  # the COMMIT still happens; nothing after it leaves
