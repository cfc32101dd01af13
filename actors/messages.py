"""Typed messages between threads of one process (pykka `tell`s).

What crosses a fifo is a msgpack map, built and read in `actors/wire.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vending.outcome import CryptoJob
from vending.records import quick_init
from vending.requests import Request

from .wire import ClientRequest


@quick_init
@dataclass(frozen=True, slots=True)
class Submit:
    """A checked client request for a session, with the front door's ticket."""

    ticket: int
    request: Request
    peer: str | None
    deadline: float = 0.0  # time.time() after which the front door has answered UNAVAILABLE


@quick_init
@dataclass(frozen=True, slots=True)
class Queued:
    """The pool put a request into the session's line (actors/session.py's `SessionLine`)."""


@quick_init
@dataclass(frozen=True, slots=True)
class Done:
    """The status of the session's request `ticket` came back (the client has its reply)."""

    ticket: int
    reply: dict[str, Any]
    ended: bool


@dataclass(frozen=True, slots=True)
class Expired:
    """The front door gave up on `ticket` (answered UNAVAILABLE)."""

    ticket: int


@quick_init
@dataclass(frozen=True, slots=True)
class Batch:
    """Messages drained from the actor's fifo(s) in one go: one transaction."""

    messages: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CryptoDone:
    """Argon2 work finished in the worker pool."""

    job: CryptoJob
    result: Any
    error: BaseException | None
    origin: ClientRequest  # the request that started it


@dataclass(frozen=True, slots=True)
class ServeReads:
    """Reads are still queued: serve another read turn (after draining the fifos)."""


@dataclass(frozen=True, slots=True)
class Tick:
    """A piece of upkeep is due (the actor's one timer fired): do what is due."""


@dataclass(frozen=True, slots=True)
class AwaitRecovery:
    """Asked by the wiring: answers a future set once crash recovery is complete."""


@dataclass(frozen=True, slots=True)
class Ready:
    """Asked by the wiring: answers once `on_start` has run."""
