"""What a rule hands back to its shell: a final reply, or argon2 work to run first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ClientError

__all__ = ["CryptoJob", "Outcome", "PasswordCheck", "catching", "ok"]


@dataclass
class Outcome:
    """A final reply, and what else the reply implies for the shell."""

    reply: dict[str, Any]
    ended: bool = False                 # the requesting session is over
    purge: tuple[int, str] | None = None  # (account_id, user_uid) whose products must go
    #: `reply` as stored JSON text (vending/jsontext.py `compact`), when the rule has
    #: encoded it already (a purchase, for its record): kept as is, not encoded again.
    text: str | None = None


@dataclass
class CryptoJob:
    """`run` is argon2 work for a worker thread; `finish` takes its result in a later
    transaction on the owning thread, and checks again what may have changed."""

    run: Callable[[], Any]
    finish: Callable[[Any], Outcome]


@dataclass
class PasswordCheck:
    """What a session op's rule with password work returns (its row says `password`).

    `run` is the argon2 work; `finish(result, session)` runs in a later transaction,
    after the session path has found the caller's session again and decided replay
    or run (vending/gate.py), so `finish` sees the session as it is then.
    """

    run: Callable[[], Any]
    finish: Callable[[Any, Any], Outcome]


def ok(**fields: Any) -> dict[str, Any]:
    return {"ok": True, **fields}


def catching(run: Callable[[], Outcome]) -> Outcome:
    """`run()`, with a client error turned into its reply."""
    try:
        return run()
    except ClientError as exc:
        return Outcome(exc.to_reply())
