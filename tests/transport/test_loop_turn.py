"""`EventLoop.turn`: one turn of a loop driven from one of its own callbacks
(tools/instructions.py), running callbacks and ready sockets, never timers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from transport.loop import EventLoop


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    loop = EventLoop("turn-loop")
    loop.daemon = True  # a regression must fail this test, not hang the run
    loop.start()
    yield loop
    loop.stop()


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
            ticks = loop.every(0.0, lambda: seen.append("timer"))  # due at once
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
