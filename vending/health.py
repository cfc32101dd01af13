"""The `health` op's reply, from what the front door knows of each part.

The front door answers `health` itself, without asking anyone: a part that
cannot answer is exactly what the op must report. What it knows comes with
the liveness heartbeats (actors/liveness.py): when each part last answered,
and, in the answer, its storage state, its events' last seq and, for the
gatekeeper, its live sessions. A part is `up` while it answers heartbeats;
`status` is `ok` when every part is up with its storage ok, else `degraded`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .outcome import Outcome

__all__ = ["PartView", "health", "health_reply"]


@dataclass(frozen=True)
class PartView:
    """What the front door knows of one part. -1: never told."""

    up: bool
    storage: str
    last_heard_ms: int
    last_seq: int = -1
    sessions: int = -1


def health_reply(parts: Mapping[str, PartView], in_flight: int) -> dict[str, Any]:
    """The reply: `parts` holds the gatekeeper and the stock handler (the front
    door, which answers, is up by definition)."""
    views = {"front-door": PartView(True, "ok", 0), **parts}
    healthy = all(v.up and v.storage == "ok" for v in views.values())
    return {
        "ok": True, "status": "ok" if healthy else "degraded",
        "parts": {name: {"up": v.up, "storage": v.storage, "last_heard_ms": v.last_heard_ms}
                  for name, v in views.items()},
        "sessions": max(parts["gatekeeper"].sessions, 0) if "gatekeeper" in parts else 0,
        "in_flight": in_flight,
        "last_seq": {name: max(v.last_seq, 0) for name, v in parts.items()},
    }


def health(door: Any, _call: Any) -> Outcome:
    """The `health` op's rule (vending/ops.py). `door` is the front door answering
    it (transport/frontdoor.py): its `part_views()` and `in_flight`, read in its thread."""
    return Outcome(health_reply(door.part_views(), door.in_flight))
