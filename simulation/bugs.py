"""Known bugs, put back one at a time, so tests can show the simulator finds them.

Each switch patches the real code for the length of a `with reintroduced(name):`
block and nothing else; only tests set them (tests/simulation/test_finds_bugs.py).
They are the bugs issue 20 lists as found by reading code or by luck:

- `early-status`: a status answered early (the stock handler's reply to a charged
  purchase, sent before its settle commits) and then a second answer, the
  refusal, when that batch fails;
- `optional-writes`: optional writes (a session's last_seen) never switched back
  on after a disk-full episode, so sessions in use expire as if idle;
- `stop-all`: an actor raising a `BaseException` makes its loop call
  `ActorRegistry.stop_all()`, which on a loop thread blocks that loop forever
  (the switch makes actors raise one at their `in_batch` fault point and handles it
  the old way, whatever actors/runtime.py does today);
- `crypto-after-rollback`: a password check whose batch failed on storage still
  finishes (commits, answers) after its request was refused with the batch;
- `charge-unfenced`: a purchase charged although recovery already fenced it off
  (its reservation released): the charge does not check the fence.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["BUGS", "SimBaseException", "first_failing_seed", "reintroduced"]

BUGS = ("early-status", "optional-writes", "stop-all", "crypto-after-rollback",
        "charge-unfenced")
#: Switched on by `reintroduced` (the world reads it for the `stop-all` fault).
ACTIVE: set[str] = set()


class SimBaseException(BaseException):
    """What an actor raises under the `stop-all` switch (a BaseException, not an Exception)."""


def _refuse_twice(self: Any, messages: Any, error: Any) -> None:
    from actors.wire import ReturnTicket
    refusal = error.to_reply()
    for message in messages or ():
        rt = getattr(message, "rt", None)
        if isinstance(rt, ReturnTicket):  # the bug: answered early or not
            self.answer_client(rt, refusal)


def _writable_but_optional_off(self: Any) -> None:
    self.storage = None
    if self.db is not None:
        self.db.optional_writes = False  # the bug: never switched back on


def _jobs_survive_rollback(self: Any) -> None:
    self._queued_now = []  # the bug: the rolled-back batch's password work stays queued


def _stop_all_on_base_exception(original: Any) -> Any:
    def _handle_receive(self: Any, message: Any) -> Any:
        try:
            return original(self, message)
        except SimBaseException:
            import pykka
            self._stop()
            pykka.ActorRegistry.stop_all()  # the bug: on the loop's own thread
            return None
    return _handle_receive


def _never_fenced(self: Any, pid: str) -> bool:
    return False


@contextmanager
def reintroduced(name: str) -> Iterator[None]:
    """Put bug `name` back while the block runs."""
    from actors.backend import BackendActor
    from actors.gatekeeper import GatekeeperActor
    from actors.runtime import LoopActor
    from vending.purchase_book import PurchaseBook

    patches: dict[str, list[tuple[Any, str, Any]]] = {
        "early-status": [(BackendActor, "_refuse", _refuse_twice)],
        "optional-writes": [(BackendActor, "_storage_writable", _writable_but_optional_off)],
        "stop-all": [(LoopActor, "_handle_receive",
                      _stop_all_on_base_exception(LoopActor._handle_receive))],
        "crypto-after-rollback": [(GatekeeperActor, "rolled_back", _jobs_survive_rollback)],
        "charge-unfenced": [(PurchaseBook, "fenced", _never_fenced)],
    }
    if name not in patches:
        raise ValueError(f"unknown bug {name!r}; one of {', '.join(BUGS)}")
    # What each class defines itself (an inherited attribute is deleted again after).
    saved = [(owner, attr, owner.__dict__.get(attr)) for owner, attr, _ in patches[name]]
    ACTIVE.add(name)
    try:
        for owner, attr, value in patches[name]:
            setattr(owner, attr, value)
        yield
    finally:
        ACTIVE.discard(name)
        for owner, attr, value in saved:
            if value is None:
                delattr(owner, attr)
            else:
                setattr(owner, attr, value)


def first_failing_seed(bug: str, seeds: int, *, steps: int = 3000,
                       clients: int = 6) -> tuple[int, list[str]]:
    """With `bug` put back, run seeds from 0 as `vending simulate --seed 0 --seeds
    SEEDS --steps STEPS --clients CLIENTS` does; the first that fails and its
    violations, or (-1, []) if none of `seeds` does."""
    from .cli import run_seed

    with reintroduced(bug):
        for seed in range(seeds):
            result, _ = run_seed(seed, steps=steps, clients=clients)
            if result.violations:
                return seed, result.violations
    return -1, []
