"""`run_due` (transport/loop.py): the one rule for the real loop's and the simulator's
timers, driven with a heap and a clock value, no thread."""

from __future__ import annotations

import heapq
import itertools

from transport.loop import Timer, run_due


def test_due_timers_run_in_time_then_arming_order_and_repeating_ones_come_back() -> None:
    seq = itertools.count()
    heap: list[tuple[float, int, Timer]] = []
    ran: list[str] = []

    def arm(when: float, name: str, interval: float = 0.0) -> Timer:
        timer = Timer(when, lambda: ran.append(name), interval)
        heapq.heappush(heap, (when, next(seq), timer))
        return timer

    arm(1.0, "tick", 1.0)
    arm(0.5, "once")
    arm(1.0, "same time, armed later")
    arm(0.7, "cancelled").cancel()
    arm(5.0, "later")
    run_due(heap, 1.2, seq)
    assert ran == ["once", "tick", "same time, armed later"]
    assert sorted((when, t.interval) for when, _, t in heap) == [(2.2, 1.0), (5.0, 0.0)]
    ran.clear()
    run_due(heap, 2.2, seq)   # again `interval` after it last ran, not after it was due
    run_due(heap, 2.3, seq)
    assert ran == ["tick"]
    run_due(heap, 10.0, seq)  # once per call, however late: no catching up
    assert ran == ["tick", "tick", "later"]
    assert [(when, t.interval) for when, _, t in heap] == [(11.0, 1.0)]


def test_a_timer_cancelled_while_due_does_not_run_and_leaves_the_heap() -> None:
    seq = itertools.count()
    heap: list[tuple[float, int, Timer]] = []
    ran: list[str] = []
    second = Timer(1.0, lambda: ran.append("second"), 1.0)
    first = Timer(1.0, lambda: (ran.append("first"), second.cancel()), 1.0)
    for timer in (first, second):
        heapq.heappush(heap, (1.0, next(seq), timer))
    run_due(heap, 1.0, seq)
    assert ran == ["first"]
    assert [t for _, _, t in heap] == [first]
