"""`run_due` (transport/loop.py): the one rule for the real loop's and the simulator's
timers, driven with a heap and a clock value, no thread; and the real loop's stop."""

from __future__ import annotations

import heapq
import itertools
import threading

from transport.loop import EventLoop, Timer, run_due


def test_due_timers_run_once_in_time_then_arming_order() -> None:
    seq = itertools.count()
    heap: list[tuple[float, int, Timer]] = []
    ran: list[str] = []

    def arm(when: float, name: str) -> Timer:
        timer = Timer(when, lambda: ran.append(name))
        heapq.heappush(heap, (when, next(seq), timer))
        return timer

    arm(1.0, "first at 1")
    arm(0.5, "once")
    arm(1.0, "same time, armed later")
    arm(0.7, "cancelled").cancel()
    arm(5.0, "later")
    run_due(heap, 1.2)
    assert ran == ["once", "first at 1", "same time, armed later"]
    assert [when for when, _, _ in heap] == [5.0]
    run_due(heap, 2.0)  # nothing comes back: a part arms its timer again itself
    assert ran == ["once", "first at 1", "same time, armed later"]
    run_due(heap, 10.0)
    assert ran[-1] == "later" and heap == []


def test_a_timer_cancelled_while_due_does_not_run_and_leaves_the_heap() -> None:
    seq = itertools.count()
    heap: list[tuple[float, int, Timer]] = []
    ran: list[str] = []
    second = Timer(1.0, lambda: ran.append("second"))
    first = Timer(1.0, lambda: (ran.append("first"), second.cancel()))
    for timer in (first, second):
        heapq.heappush(heap, (1.0, next(seq), timer))
    run_due(heap, 1.0)
    assert ran == ["first"]
    assert heap == []


def test_a_timer_armed_by_a_due_one_for_later_waits_for_its_time() -> None:
    """What a part does at each look: run, then arm for the next thing due."""
    seq = itertools.count()
    heap: list[tuple[float, int, Timer]] = []
    ran: list[float] = []

    def look(when: float) -> None:
        ran.append(when)
        heapq.heappush(heap, (when + 1.0, next(seq), Timer(when + 1.0, lambda: look(when + 1.0))))

    heapq.heappush(heap, (1.0, next(seq), Timer(1.0, lambda: look(1.0))))
    run_due(heap, 1.5)
    assert ran == [1.0] and [when for when, _, _ in heap] == [2.0]
    run_due(heap, 2.5)
    assert ran == [1.0, 2.0] and [when for when, _, _ in heap] == [3.0]


def test_a_loop_asked_to_stop_ends_without_waiting_for_its_next_timer() -> None:
    """A part arms its timer only for what is due, so the next one may be far off;
    `stop` from another thread must not wait for it (it did: a whole second at every
    `vending serve` shutdown, the heartbeat's)."""
    loop = EventLoop("test-stop")
    loop.start()
    fired = threading.Event()
    loop.call_and_wait(lambda: loop.call_later(120.0, fired.set))
    stopper = threading.Thread(target=loop.stop)
    stopper.start()
    stopper.join(timeout=30.0)  # the old loop polled until the timer: 120 s
    assert not stopper.is_alive() and not loop.is_alive()
    assert not fired.is_set()
