"""A small supervisor: Pykka has none.

A backend actor that fails (an exception escaped a message) has already
rolled back its transaction and answered its batch `UNAVAILABLE`; it then
tells the supervisor, which starts a fresh one from the stored state. Restarts
are bounded (`max_restarts` in `window` seconds) so a poison message cannot
spin the machine forever.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import pykka

from vending.sources import SYSTEM_CLOCK, Clock

from .messages import Ready

log = logging.getLogger(__name__)

Factory = Callable[[], pykka.ActorRef[Any]]


class RestartBudget:
    """The supervisor's rule: a child restarts at most `max_restarts` times within
    any `window` seconds. The simulator's supervisor asks the same one
    (simulation/world.py). Runs in whichever thread restarts."""

    def __init__(self, max_restarts: int = 10, window: float = 60.0) -> None:
        self.max_restarts = max_restarts
        self.window = window
        self._times: dict[str, deque[float]] = {}

    def allow(self, name: str, now: float) -> bool:
        """Count a restart of `name` at `now`; False once that is one too many."""
        times = self._times.setdefault(name, deque())
        times.append(now)
        while times[0] <= now - self.window:
            times.popleft()
        return len(times) <= self.max_restarts

    def recent(self, name: str, now: float | None = None) -> int:
        """Restarts of `name` counted in the window that ended at the last `allow`,
        or, given `now`, in the window that ends then."""
        times = self._times.get(name, ())
        if now is None:
            return len(times)
        return sum(1 for t in times if t > now - self.window)


class Supervisor:
    def __init__(self, *, max_restarts: int = 10, window: float = 60.0,
                 start_timeout: float = 15.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._factories: dict[str, Factory] = {}
        self.refs: dict[str, pykka.ActorRef[Any]] = {}
        self._budget = RestartBudget(max_restarts, window)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._start_timeout = start_timeout
        self.restart_count = 0
        #: Restarts per child name (`vending serve --metrics`).
        self.restarts: dict[str, int] = {}

    def start(self, name: str, factory: Factory) -> pykka.ActorRef[Any]:
        """Start a child and wait until it answers (its `on_start` has run)."""
        self._factories[name] = factory
        ref = factory()
        ref.ask(Ready(), timeout=self._start_timeout)
        with self._lock:
            self.refs[name] = ref
        return ref

    def child_failed(self, name: str) -> None:
        """Called from the failing actor's own thread, in its `on_failure`."""
        with self._lock:
            if self._stopping:
                return
            thread = threading.Thread(target=self._restart, args=(name,),
                                      name=f"restart-{name}")
            self._threads.append(thread)
        thread.start()

    def _restart(self, name: str) -> None:
        budget = self._budget
        if not budget.allow(name, self._clock.monotonic()):
            log.critical("%s failed %d times in %.0fs; not restarting it", name,
                         budget.recent(name), budget.window)
            return
        try:
            ref = self._factories[name]()
            ref.ask(Ready(), timeout=self._start_timeout)
        except Exception:
            log.exception("restarting %s failed", name)
            return
        with self._lock:
            if self._stopping:
                ref.stop()
                return
            self.refs[name] = ref
            self.restart_count += 1
            self.restarts[name] = self.restarts.get(name, 0) + 1
        log.warning("%s restarted from its stored state", name)

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop children in reverse start order."""
        with self._lock:
            self._stopping = True
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        for name in reversed(list(self.refs)):
            ref = self.refs[name]
            with contextlib.suppress(pykka.ActorDeadError):
                ref.stop(block=True, timeout=timeout)
