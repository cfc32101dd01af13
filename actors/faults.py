"""Fault points for crash tests: die or raise at a named step of a saga.

Points are `<role>.in_batch` (inside a batch transaction) and
`<role>.before_send.<kind>` (after a commit, before its message goes out: e.g.
`stock-handler.before_send.charge` is "units reserved, buyer not yet charged",
`gatekeeper.before_send.charged` is "buyer charged, reservation not settled").
`VENDING_FAULTS="stock-handler.before_send.charge=kill"` SIGKILLs the process
there; `=raise` raises inside the actor (which is then restarted); `=raise-once`
raises the first time only.
Tests in one process may set `ACTIVE` directly. Unset, a point costs a dict lookup.
"""

from __future__ import annotations

import os
import signal

ACTIVE: dict[str, str] = dict(
    item.split("=", 1) for item in os.environ.get("VENDING_FAULTS", "").split(",") if "=" in item)



class InjectedFault(RuntimeError):
    """Raised at a fault point set to `raise`."""


def hit(point: str) -> None:
    action = ACTIVE.get(point)
    if action is None:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "raise-once":
        del ACTIVE[point]
    raise InjectedFault(point)
