"""One thread that owns ZeroMQ sockets and runs callbacks: what the actors run on.

ZeroMQ sockets must stay in the thread that created them (ZeroMQ Guide, ch. 2),
and under one GIL every hand-off between threads is a wake-up, a context switch
and a GIL transfer (docs/design.md, "Threads and what they own"). So the parts of a
process run on one `EventLoop`: each opens its sockets in the loop thread, and the
loop polls them with one `zmq.Poller`, runs one-shot timers, and runs callbacks
queued with `call_soon`. Work that
arrives on a socket the loop owns costs no extra thread; only `call_soon` from
another thread writes to a wake-up pipe.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar, cast

import zmq

__all__ = ["EventLoop", "Timer", "run_due"]

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Callbacks run per turn before sockets are polled again, so a busy actor
#: cannot starve the sockets.
_MAX_CALLBACKS_PER_TURN = 1024


class Timer:
    """A callback due once at a monotonic time, unless cancelled first.

    There are no repeating timers: a part arms its one timer for the next thing it
    has due, and arms it again when that has run or something sooner comes up, so
    an idle part is not woken for nothing (docs/design.md, "Timers").
    """

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop(threading.Thread):
    """Poll owned sockets, run due timers and queued callbacks, in one thread.

    The parts a process runs open on a started loop (`call_and_wait(part.open)`):
    they create and bind their sockets in the loop thread (a bind error is raised to
    the caller), add readers and timers, and close them the same way before `stop`.
    Every method but `call_soon`, `call_and_wait`, `request_stop`, `stop` and
    `in_loop` must be called in the loop thread.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self._callbacks: deque[Callable[[], None]] = deque()
        self._readers: dict[Any, Callable[[], None]] = {}
        self._poller = zmq.Poller()
        self._timers: list[tuple[float, int, Timer]] = []
        self._timer_seq = itertools.count()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._wake_fds_open = True
        self._poller.register(self._wake_r, zmq.POLLIN)
        # Set by a foreign thread that wrote a wake-up byte, cleared by the loop
        # after draining the pipe: one byte per sleep is enough.
        self._wake_pending = False
        self._stopping = False

    # -- any thread ------------------------------------------------------
    def in_loop(self) -> bool:
        return threading.current_thread() is self

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run `callback` in the loop thread, after what is queued already."""
        self._callbacks.append(callback)
        if threading.current_thread() is not self and not self._wake_pending:
            self._wake_pending = True
            # A full pipe holds wake-ups already: one is enough.
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._wake_w, b"\0")

    def call_and_wait(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run `fn` in the loop thread and return what it returns, or raise what it
        raised, in the calling thread (start-up and shut-down wiring only: a hop
        between parts is a `call_soon` or a fifo, never this).

        Raises:
            TimeoutError: the loop did not run `fn` within `timeout` seconds (it is
                not running, or is stuck).
        """
        if self.in_loop():
            return fn()
        done = threading.Event()
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append((True, fn()))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                outcome.append((False, exc))
            done.set()
        self.call_soon(run)
        if not done.wait(timeout if self.is_alive() else 0):
            raise TimeoutError(f"the {self.name} loop did not run {fn!r} in {timeout}s")
        ok, value = outcome[0]
        if not ok:
            raise value
        return cast(T, value)

    def request_stop(self) -> None:
        """Ask the loop to end, without waiting."""
        def begin() -> None:
            self._stopping = True
        self.call_soon(begin)

    def stop(self) -> None:
        """Ask the loop to end and wait for it."""
        self.request_stop()
        if self.is_alive() and not self.in_loop():
            self.join()
        # Once only: a second close could close a descriptor the process has
        # since opened under the same number.
        if self._wake_fds_open:
            self._wake_fds_open = False
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    # -- loop thread -------------------------------------------------------
    def add_reader(self, source: Any, callback: Callable[[], None]) -> None:
        """Call `callback` whenever `source` (a zmq socket or fd) is readable."""
        self._readers[source] = callback
        self._poller.register(source, zmq.POLLIN)

    def remove_reader(self, source: Any) -> None:
        if self._readers.pop(source, None) is not None:
            self._poller.unregister(source)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Call `callback` once, `delay` seconds from now (at the next turn if not
        positive), unless the timer is cancelled first."""
        timer = Timer(time.monotonic() + delay, callback)
        heapq.heappush(self._timers, (timer.when, next(self._timer_seq), timer))
        return timer

    def run(self) -> None:
        try:
            self._run()
        finally:
            while self._callbacks:  # what the last callbacks queued
                self._run_callbacks()

    def _run(self) -> None:
        while not self._stopping:
            self.turn()
            self._run_timers()

    def turn(self, wait: bool = True) -> bool:
        """One turn without the timers: the queued callbacks, then one poll of the
        sockets (waiting until the next timer is due if `wait`, else not at all) and
        their readers. True if it ran anything.

        The loop runs these turns and the due timers; a caller that drives the loop
        itself from one of its callbacks (tools/instructions.py) runs turns alone, so
        nothing fires on wall time.
        """
        ran = bool(self._callbacks)
        self._run_callbacks()
        events = self._poller.poll(self._timeout() if wait else 0)
        for source, _ in events:
            if source == self._wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)
                self._wake_pending = False
                continue
            callback = self._readers.get(source)
            if callback is not None:
                callback()
        return ran or bool(events)

    def _timeout(self) -> int:
        # Stopping: the callback that asked ran in this turn's callbacks, and the
        # next timer may be a second or more away (parts arm theirs only for what
        # is due): leave now, not then.
        if self._callbacks or self._stopping:
            return 0
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)  # a part armed again sooner: no wake-up for the old one
        if not timers:
            return 1000
        wait = timers[0][0] - time.monotonic()
        return max(0, int(wait * 1000) + 1)

    def _run_callbacks(self) -> None:
        callbacks = self._callbacks
        for _ in range(_MAX_CALLBACKS_PER_TURN):
            if not callbacks:
                return
            callbacks.popleft()()

    def _run_timers(self) -> None:
        run_due(self._timers, time.monotonic())


def run_due(timers: list[tuple[float, int, Timer]], now: float) -> None:
    """Run the timers of the heap `timers` that are due at `now`, in time then
    arming order (the heap's (when, seq) keys), and take them out; a cancelled one
    is only taken out. The real loop's and the simulation's (simulation/loop.py)
    timers, one rule."""
    while timers and timers[0][0] <= now:
        timer = heapq.heappop(timers)[2]
        if not timer.cancelled:
            timer.callback()
