"""Fault points for crash and storage tests: die, raise, stall or fail at a named step.

Points are `<role>.in_batch` (inside a batch transaction), `<role>.commit` (just
before COMMIT, inside the transaction: where a slow or failing fsync would be
felt) and `<role>.before_send.<kind>` (after a commit, before its message goes
out: e.g. `stock-handler.before_send.charge` is "units reserved, buyer not yet
charged", `gatekeeper.before_send.charged` is "buyer charged, reservation not
settled").

Actions, as in `VENDING_FAULTS="stock-handler.before_send.charge=kill"`:
- `kill`: SIGKILL the process there;
- `raise`: raise `InjectedFault` inside the actor (which is then restarted);
  `raise-once`: the first time only;
- `delay:SECONDS`: sleep there (at `<role>.commit`: a slow disk);
- `full`, `ioerror`, `readonly`: raise the `sqlite3.OperationalError` SQLite
  gives for a full disk, an I/O error or a read-only file (at `<role>.commit`:
  storage failing without filling a real disk; the transaction rolls back).
Tests in one process may set `ACTIVE` directly, and read `HITS` (how often an
armed point was reached) to know that the work is there; or `hold(point)`: the
actor then blocks there until the returned gate is opened, so work stays in
flight for as long as a test needs it and no longer. Unset, a point costs a
dict lookup.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

ACTIVE: dict[str, str] = dict(
    item.split("=", 1) for item in os.environ.get("VENDING_FAULTS", "").split(",") if "=" in item)

#: Storage errors by action: (message, SQLite result code, its name), as SQLite raises them.
_STORAGE = {
    "full": ("database or disk is full", sqlite3.SQLITE_FULL, "SQLITE_FULL"),
    "ioerror": ("disk I/O error", sqlite3.SQLITE_IOERR, "SQLITE_IOERR"),
    "readonly": ("attempt to write a readonly database", sqlite3.SQLITE_READONLY,
                 "SQLITE_READONLY"),
}
#: Times each armed point was reached (counted before its action runs).
HITS: dict[str, int] = {}
_GATES: dict[str, threading.Event] = {}


class InjectedFault(RuntimeError):
    """Raised at a fault point set to `raise`."""


def hold(point: str) -> threading.Event:
    """Block every actor reaching `point` until the returned event is set (in-process tests).

    Disarm with `ACTIVE.pop(point)` before setting it, or later arrivals pass straight on.
    """
    gate = _GATES[point] = threading.Event()
    ACTIVE[point] = "hold"
    return gate


def hit(point: str) -> None:
    action = ACTIVE.get(point)
    if action is None:
        return
    HITS[point] = HITS.get(point, 0) + 1
    if action == "hold":
        _GATES[point].wait()
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action.startswith("delay:"):
        time.sleep(float(action.removeprefix("delay:")))
        return
    storage = _STORAGE.get(action)
    if storage is not None:
        exc = sqlite3.OperationalError(storage[0])
        exc.sqlite_errorcode, exc.sqlite_errorname = storage[1], storage[2]
        raise exc
    if action == "raise-once":
        del ACTIVE[point]
    raise InjectedFault(point)


def armed() -> bool:
    """Some point is set: parts then send one message at a time (`FaultPoints.armed`)."""
    return bool(ACTIVE)
