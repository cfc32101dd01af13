"""LoopActor on a real EventLoop thread: a BaseException in one actor stops every
actor and ends the loop; it must not wait on the loop for the loop (actors/runtime.py).
And the loop's `turn`, for a caller that drives the loop from one of its callbacks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest
import zmq

from actors.runtime import LoopActor, stop_soon
from transport.loop import EventLoop


class Recorder(LoopActor):
    """Counts what it handles; exits the interpreter's way when told "exit"."""

    def __init__(self, loop: EventLoop, stopped: threading.Event) -> None:
        super().__init__(loop)
        self.stopped = stopped
        self.handled = 0

    def on_receive(self, message: Any) -> Any:
        if message == "exit":
            raise SystemExit(3)
        self.handled += 1
        return self.handled

    def on_stop(self) -> None:
        self.stopped.set()


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    loop = EventLoop("test-loop")
    loop.daemon = True  # a regression must fail this test, not hang the run
    loop.start()
    yield loop
    if loop.is_alive():
        loop.request_stop()
        loop.join(5)


def test_two_actors_share_one_loop(loop: EventLoop) -> None:
    a_stopped, b_stopped = threading.Event(), threading.Event()
    a = Recorder.start(loop, a_stopped)
    b = Recorder.start(loop, b_stopped)
    assert a.ask("x", timeout=5) == 1 and b.ask("x", timeout=5) == 1
    assert a.ask("x", timeout=5) == 2
    a.stop(timeout=5)
    b.stop(timeout=5)
    assert a_stopped.is_set() and b_stopped.is_set()
    assert loop.is_alive()  # a normal stop leaves the loop to its owner


def test_stop_soon_stops_after_what_was_told_before_and_leaves_a_dead_actor_alone(
        loop: EventLoop) -> None:
    stopped = threading.Event()
    ref = Recorder.start(loop, stopped)
    actor = ref._actor_weakref()  # to read `handled` when it stops
    handled_at_stop: list[int] = []
    recorder_stop = actor.on_stop

    def on_stop() -> None:
        handled_at_stop.append(actor.handled)
        recorder_stop()
    actor.on_stop = on_stop
    loop.call_soon(lambda: (ref.tell("x"), ref.tell("x"), stop_soon(ref), stop_soon(ref)))
    assert stopped.wait(5)
    assert handled_at_stop == [2]  # on_stop once, after both messages
    assert not ref.is_alive() and pykka.ActorRegistry.get_by_class(Recorder) == []
    stop_soon(ref)  # dead already: nothing to do, nothing raised
    assert loop.is_alive()


def test_tell_here_is_a_tell_from_the_loop_thread_and_refuses_a_dead_actor(
        loop: EventLoop) -> None:
    stopped = threading.Event()
    ref = Recorder.start(loop, stopped)
    actor = ref._actor_weakref()
    try:
        # Told from the loop thread between two tells: queued in that order, before
        # the ask below.
        loop.call_and_wait(lambda: (ref.tell("x"), actor.tell_here("x"), ref.tell("x")),
                           timeout=5)
        assert ref.ask("x", timeout=5) == 4
    finally:
        ref.stop(timeout=5)
    with pytest.raises(pykka.ActorDeadError, match=r"Recorder .* not found"):
        actor.tell_here("x")  # what `tell` raises for a stopped actor
    assert actor.handled == 4


def test_a_system_exit_in_one_actor_stops_both_and_ends_the_loop(loop: EventLoop) -> None:
    a_stopped, b_stopped = threading.Event(), threading.Event()
    a = Recorder.start(loop, a_stopped)
    b = Recorder.start(loop, b_stopped)
    assert b.ask("x", timeout=5) == 1  # both started
    a.tell("exit")
    loop.join(timeout=10)
    assert not loop.is_alive(), "the loop is stuck after a SystemExit in one of its actors"
    assert b_stopped.is_set()  # the other actor's stop ran, on the loop, before it ended
    assert not a.is_alive() and not b.is_alive()
    assert pykka.ActorRegistry.get_by_class(Recorder) == []


# `EventLoop.turn`: one turn of a loop driven from one of its own callbacks
# (tools/instructions.py), running callbacks and ready sockets, never timers.
def test_a_turn_runs_callbacks_and_ready_readers_and_says_whether_it_ran_anything(
        loop: EventLoop) -> None:
    ctx: zmq.Context[Any] = zmq.Context.instance()

    def drive() -> list[str]:
        seen: list[str] = []
        pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
        try:
            pull.bind("inproc://turn-test")
            push.connect("inproc://turn-test")
            loop.add_reader(pull, lambda: seen.append(pull.recv().decode()))
            ticks = loop.call_later(0.0, lambda: seen.append("timer"))  # due at once
            loop.call_soon(lambda: seen.append("callback"))
            push.send(b"message")
            ran = [loop.turn(wait=False) for _ in range(3)]
            ticks.cancel()
            loop.remove_reader(pull)
            return [*seen, *map(str, ran)]
        finally:
            pull.close(0)
            push.close(0)

    seen = loop.call_and_wait(drive, timeout=10)
    assert seen == ["callback", "message", "True", "False", "False"]
