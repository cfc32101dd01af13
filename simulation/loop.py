"""One thread, many simulated threads: the scheduler and `SimLoop`.

The real system runs an `EventLoop` thread per part (the front door, each
backend) plus argon2 worker threads, and ZeroMQ moves messages between them.
Here each of those is a *lane*: a simulated loop's queue of callbacks, a fifo
connection's queue of messages, a client. When several lanes have work, the
seeded RNG picks which runs next, so one seed is one interleaving; a lane's own
work always runs in order (one loop's callbacks, one connection's messages),
which is what the real threads and sockets guarantee and all they guarantee.

Virtual time: every step costs `STEP_COST` simulated seconds (work takes time,
so deadlines can pass under load); when nothing is runnable the clock jumps
to the next timer, as trio's `MockClock(autojump_threshold=0)` does.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Sized
from functools import partial
from types import MethodType

from transport.loop import Timer, run_due

from .clock import SimClock

__all__ = ["STEP_COST", "Lane", "LoopTimer", "Scheduler", "SimLoop"]

#: Simulated seconds one step (one callback, one message moved) takes.
STEP_COST = 50e-6


class Lane:
    """Something that may have work to run: it joins the scheduler's ready list
    when it has some, and leaves it when it has none.

    Its work waits in `work` and may not run before `hold_until` (simulated). It is
    runnable when `work` holds some and `hold_until` has passed: the scheduler reads
    the two itself, once or twice a step."""

    __slots__ = ("_ready", "hold_until", "sched", "work")

    name = "lane"

    def __init__(self, sched: Scheduler, work: Sized) -> None:
        self.sched = sched
        self._ready = False
        self.work = work
        self.hold_until = -math.inf

    def run_one(self) -> str:
        """Run the next piece of work; a line for the trace."""
        raise NotImplementedError

    def run_untraced(self) -> None:
        """Run the next piece of work, as `run_one` does, with no line (a
        housekeeping step's pieces have none: `Scheduler.idle_run`)."""
        self.run_one()

    def wake(self) -> None:
        if not self._ready:
            self._ready = True
            self.sched.ready.append(self)


class Scheduler:
    """Owns the clock, the ready lanes and the timers. Runs on the one thread."""

    def __init__(self, clock: SimClock, rng: random.Random) -> None:
        self.clock = clock
        self.rng = rng
        self._below: Callable[[int], int] = rng._randbelow  # type: ignore[attr-defined]
        self.ready: list[Lane] = []
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self.steps = 0

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return self.arm(Timer(when, callback))

    def arm(self, timer: Timer) -> Timer:
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.clock.now + delay, callback)

    def next_timer(self) -> float | None:
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    def fire_due(self) -> None:
        """Run the timers that are due (they only queue work on their lanes)."""
        if self._timers and self._timers[0][0] <= self.clock.now:
            run_due(self._timers, self.clock.now)

    def _unready(self, i: int, lane: Lane) -> None:
        lane._ready = False
        last = self.ready.pop()
        if last is not lane:
            self.ready[i] = last

    def idle_run(self, until: float, limit: int, stop: Callable[[], bool]) -> int:
        """With nothing runnable and a loop's own timer next (housekeeping: the
        front door's look, a backend's upkeep): jump to it, fire it, and run what
        it queued until nothing is runnable again; again while the next timer is a
        loop's, up to `until` (simulated) and `limit` pieces of work, or until
        `stop()`. The same work in the same seeded order as one `step` each, as one
        step of the caller (no fault drawn, no oracle, one trace line, between
        them): the scheduler's share of an idle hour. Returns how many pieces of
        work ran (0: the next timer is a client's or a fault's, or none)."""
        clock, timers, ready = self.clock, self._timers, self.ready
        below, unready = self._below, self._unready
        ran = 0
        # Only a piece of work can make `stop()` true (a crash begins in the code run);
        # a loop's timer only queues work.
        stopped = stop()
        while ran < limit and not stopped:
            if not ready:
                while timers and timers[0][2].cancelled:
                    heapq.heappop(timers)
                if (not timers or type(timers[0][2]) is not LoopTimer
                        or timers[0][0] > until):
                    break
                clock.advance_to(timers[0][0])
                run_due(timers, clock.now)
                continue
            n = len(ready)
            i = below(n) if n > 1 else 0
            lane = ready[i]
            if not lane.work or lane.hold_until > clock.now:  # not runnable
                unready(i, lane)
                continue
            lane.run_untraced()
            if not lane.work or lane.hold_until > clock.now:
                unready(i, lane)
            stopped = stop()
            ran += 1
            clock.now += STEP_COST
            if timers and timers[0][0] <= clock.now:
                if type(timers[0][2]) is not LoopTimer:
                    break  # a client's or a fault's moment: back to one step at a time
                run_due(timers, clock.now)
        self.steps += ran
        return ran

    def step(self) -> str | None:
        """Run one piece of work, jumping the clock forward first if nothing is
        runnable. None when there is nothing at all left to do."""
        # The hottest loop of a run (once per step): locals, and `fire_due` inlined.
        clock, timers, ready = self.clock, self._timers, self.ready
        if timers and timers[0][0] <= clock.now:
            run_due(timers, clock.now)
        while True:
            while not ready:
                when = self.next_timer()
                if when is None:
                    return None
                clock.advance_to(when)
                run_due(timers, clock.now)
            n = len(ready)
            # `_randbelow(n)` is what `randrange(n)` returns for n > 0 (the same
            # draws, so the same interleaving per seed), less its argument checks.
            i = self._below(n) if n > 1 else 0
            lane = ready[i]
            if lane.work and lane.hold_until <= clock.now:  # runnable (`Lane`)
                break
            self._unready(i, lane)  # its work was lost (a broken connection) or held back
        line = lane.run_one()
        if not lane.work or lane.hold_until > clock.now:
            self._unready(i, lane)
        self.steps += 1
        clock.now += STEP_COST
        return line


class LoopTimer(Timer):
    """A simulated loop's own timer (`SimLoop.call_later`): it only queues work on
    its loop, so `Scheduler.idle_run` may fire it among housekeeping."""

    __slots__ = ()


class SimLoop(Lane):
    """Stands in for `transport.loop.EventLoop`: the part the actors use of it
    (`call_soon`, `call_later`, `in_loop`), on the simulated clock. Its sockets are
    the simulator's channels, which call `call_soon` when something arrives."""

    def __init__(self, sched: Scheduler, name: str) -> None:
        self._callbacks: deque[Callable[[], None]] = deque()
        super().__init__(sched, self._callbacks)
        self.name = name
        self.dead = False

    # -- what EventLoop offers the actors --------------------------------
    def call_soon(self, callback: Callable[[], None]) -> None:
        if self.dead:
            return
        self._callbacks.append(callback)
        if not self._ready:  # `wake`, inlined: once per callback queued
            self._ready = True
            self.sched.ready.append(self)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        def due() -> None:
            # The real loop runs a due timer at once; here it waits its turn in the
            # queue, so a cancel meanwhile (armed again, the actor stopped) must hold.
            if not timer.cancelled:
                callback()
        due.__qualname__ = getattr(callback, "__qualname__", "timer")
        # A timer of a killed loop still fires: `call_soon` drops what it queues.
        timer = self.sched.arm(LoopTimer(self.sched.clock.now + max(0.0, delay),
                                         partial(self.call_soon, due)))
        return timer

    def in_loop(self) -> bool:
        return True

    def add_reader(self, source: object, callback: Callable[[], None]) -> None:
        raise NotImplementedError("simulated loops have channels, not sockets")

    # -- the scheduler ------------------------------------------------------
    def run_one(self) -> str:
        callback = self._callbacks.popleft()
        callback()
        if type(callback) is MethodType:  # `_label`'s first case, inlined (most steps)
            owner = callback.__self__
            return (f"{self.name} {getattr(owner, 'sim_tag', None) or type(owner).__name__}"
                    f".{callback.__name__}")
        return f"{self.name} {_label(callback)}"

    def run_untraced(self) -> None:
        self._callbacks.popleft()()

    def kill(self) -> None:
        """The thread is gone (its process crashed): queued work and timers with it
        (a timer that fires later queues nothing: `call_soon`)."""
        self.dead = True
        self._callbacks.clear()


def _label(callback: Callable[[], None]) -> str:
    """A deterministic name for a callback (never an id or an address)."""
    # A bound method (most of what a loop runs) first: the same text as below, less
    # its getattr chain, once per step.
    if type(callback) is MethodType:
        owner = callback.__self__
        return f"{getattr(owner, 'sim_tag', None) or type(owner).__name__}.{callback.__name__}"
    owner = getattr(callback, "__self__", None)
    if owner is not None:
        tag = getattr(owner, "sim_tag", None) or type(owner).__name__
        name = getattr(callback, "__name__", None)
        if name is not None:
            return f"{tag}.{name}"
        return f"{tag}.{getattr(callback, '__qualname__', None) or type(callback).__name__}"
    return getattr(callback, "__qualname__", None) or type(callback).__name__
