"""A backend's batch to one fifo leaves as few frames as fit (transport/fifo.py
`Pushers.send_many`) and arrives as the same messages in the same order, at a
backend's inlet and at the front door's status fifo alike."""

from __future__ import annotations

import time
from typing import Any

import pytest
import zmq

from transport import fifo
from transport.codec import decode
from transport.fifo import Backpressure, FifoInlet, Pushers


@pytest.fixture
def ctx() -> Any:
    context: zmq.Context[Any] = zmq.Context()
    yield context
    context.term()


def drain_all(inlet: FifoInlet, want: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    poller = zmq.Poller()
    for sock in inlet._sockets:
        poller.register(sock, zmq.POLLIN)
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        if poller.poll(100):
            got += inlet.drain()
    return got


def test_a_batch_arrives_whole_and_in_order(ctx: Any) -> None:
    inlet = FifoInlet(["inproc://batch-test"], name="test")
    inlet.open(ctx)
    push = Pushers(ctx)
    try:
        messages = [{"kind": "status", "n": i} for i in range(300)]
        push.send_many("inproc://batch-test", messages)
        push.send("inproc://batch-test", {"kind": "status", "n": 300})
        assert drain_all(inlet, 301) == [*messages, {"kind": "status", "n": 300}]
    finally:
        push.close()
        inlet.close()


def test_a_large_batch_is_cut_into_frames_under_the_bound(
        ctx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fifo, "BATCH_FRAME_BYTES", 1000)
    frames: list[bytes] = []
    push = Pushers(ctx)
    monkeypatch.setattr(push, "_send", lambda endpoint, data: frames.append(data))
    push.send_many("inproc://unused", [{"pad": "x" * 300, "n": i} for i in range(10)])
    assert len(frames) > 1 and all(len(f) <= 1000 + 400 for f in frames)
    decoded = [m for f in frames for m in (lambda v: v if isinstance(v, list) else [v])(
        fifo.decode(f))]
    assert [m["n"] for m in decoded] == list(range(10))


def test_a_batch_that_fits_is_one_frame_and_a_refused_one_sent_none(
        ctx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    frames: list[bytes] = []
    push = Pushers(ctx)
    monkeypatch.setattr(push, "_send", lambda endpoint, data: frames.append(data))
    messages = [{"k": "status", "n": i} for i in range(3)]
    push.send_many("inproc://unused", messages)
    assert len(frames) == 1 and decode(frames[0]) == messages

    def refuse(endpoint: str, data: bytes) -> None:
        raise Backpressure(f"{endpoint} is full")
    monkeypatch.setattr(push, "_send", refuse)
    with pytest.raises(Backpressure) as refused:
        push.send_many("inproc://unused", messages)
    assert refused.value.sent == 0
