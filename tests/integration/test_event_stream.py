"""Live events on real sockets (docs/protocol.md §6a): the embedded subscription, the
`events` op, a raw SUB on `--events`, and gap recovery after a subscriber fell
behind its high-water mark."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
import zmq

import transport.events
from actors.system import VendingSystem
from tests.conftest import PASSWORD
from transport.client import Client
from transport.events import StreamEvent
from vending.errors import BadRequest


def seqs(events: list[StreamEvent], source: str) -> list[int]:
    return [e.seq for e in events if e.source == source]


def test_a_subscriber_gets_every_effect_once_in_order(
        system: VendingSystem, account: Callable[..., Client],
        wait_until: Callable[..., Any]) -> None:
    got: list[StreamEvent] = []
    stream = system.subscribe(got.append)
    try:
        sam = account("sam", "seller")
        ann = account("ann", "buyer", deposit=50)
        uid = sam.sell("cola", 35, 3)["product_uid"]
        ann.buy(uid, 1)
        ann.deposit(20, req_id="d1")
        ann.deposit(20, req_id="d1")      # a replay: no second event
        ann.reset()
        sam.delete_product(uid)
        wait_until(lambda: len(got) >= 9, what="9 events")
    finally:
        stream.stop()
    assert [e.topic for e in got if e.source == "gatekeeper"] == [
        "user", "user", "deposit", "purchase", "deposit", "reset"]
    assert [e.topic for e in got if e.source == "stock-handler"] == [
        "product", "product", "product_deleted"]
    assert seqs(got, "gatekeeper") == list(range(1, 7))
    assert seqs(got, "stock-handler") == [1, 2, 3]
    sold = next(e for e in got if e.body.get("kind") == "sold")
    assert sold.body["product"]["amount"] == 2
    # what was published is what is stored, field for field
    with system.client() as c:
        stored = c.events("gatekeeper")
    assert stored["last_seq"] == 6
    assert stored["events"] == [{"topic": e.topic, **e.body} for e in got
                                if e.source == "gatekeeper"]


def test_a_late_subscriber_is_given_what_it_missed(
        system: VendingSystem, account: Callable[..., Client]) -> None:
    account("ann", "buyer", deposit=15)
    with system.subscribe() as stream:            # iterator mode, from seq 1
        first = [stream.get(timeout=10) for _ in range(3)]
    assert [(e.topic, e.seq) for e in first] == [("user", 1), ("deposit", 2), ("deposit", 3)]
    with system.subscribe(since={"gatekeeper": 2}) as stream:
        assert stream.get(timeout=10).seq == 3
    with system.subscribe(live_only=True) as stream:
        with pytest.raises(TimeoutError):
            stream.get(timeout=0.3)   # nothing new: the history is not replayed
        assert stream.last["gatekeeper"] == 3


def test_gap_fill_after_the_subscriber_fell_behind_its_hwm(
        make_system: Callable[..., VendingSystem], monkeypatch: pytest.MonkeyPatch,
        wait_until: Callable[..., Any]) -> None:
    monkeypatch.setattr(transport.events, "PUB_HWM", 4)   # the forwarder's queues too
    system = make_system()
    with system.client() as ann:
        ann.register("ann", PASSWORD)
        stall, stalled = threading.Event(), threading.Event()
        got: list[StreamEvent] = []

        def slow(event: StreamEvent) -> None:
            got.append(event)
            if event.seq == 2:
                stalled.set()
                stall.wait(30)   # the SUB socket is not read meanwhile

        stream = system.subscribe(slow, rcvhwm=1, poll_interval=0.2)
        try:
            ann.deposit(5)
            wait_until(stalled.is_set, what="the subscriber to stall")
            for _ in range(150):
                ann.deposit(5)
            stall.set()
            ann.deposit(5)   # a live event far past the last one seen: a gap
            wait_until(lambda: len(got) >= 153, what="every event")
        finally:
            stall.set()
            stream.stop()
    assert seqs(got, "gatekeeper") == list(range(1, 154))
    assert stream.filled > 100   # most came by the events op: the socket dropped them


def test_the_events_op_pages_and_checks_its_fields(
        system: VendingSystem, account: Callable[..., Client]) -> None:
    account("ann", "buyer", deposit=35)      # user + 3 deposits (20, 10, 5)
    with system.client() as c:
        page = c.events("gatekeeper", since=1, limit=2)
        assert [e["seq"] for e in page["events"]] == [2, 3] and page["last_seq"] == 4
        assert c.events("stock-handler") == {"ok": True, "events": [], "last_seq": 0}
        for fields in ({"source": "front-door"}, {"source": "gatekeeper", "limit": 1001},
                       {"source": "gatekeeper", "since": -1}):
            with pytest.raises(BadRequest):
                c.call("events", **fields)


def test_a_raw_sub_on_the_events_endpoint_reads_two_frames(
        make_system: Callable[..., VendingSystem], account: Callable[..., Client],
        zctx: zmq.Context[Any], wait_until: Callable[..., Any]) -> None:
    system = make_system(events="tcp://127.0.0.1:0")
    endpoint = next(e for e in system.events_endpoints if e.startswith("tcp://"))
    sub = zctx.socket(zmq.SUB)
    try:
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(endpoint)
        frames: list[list[bytes]] = []
        ann = account("ann", "buyer", on=system)

        def heard() -> bool:
            # A SUB joins a little after connect: deposit until an event gets through.
            ann.deposit(5)
            if sub.poll(200):
                frames.append(sub.recv_multipart())
            return bool(frames)
        wait_until(heard, what="an event on the tcp endpoint")
    finally:
        sub.close()
    topic, body = frames[0]
    event = msgpack.unpackb(body, raw=False)
    assert topic in (b"user", b"deposit")   # the SUB may have joined before ann registered
    assert event.get("amount", 5) == 5 and event.get("role", "buyer") == "buyer"
    assert {"source", "seq", "at"} <= set(event) and event["source"] == "gatekeeper"


def _stream_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "event-stream")


def test_a_stream_is_closed_by_close_or_a_with_block(
        system: VendingSystem, account: Callable[..., Client]) -> None:
    account("ann", "buyer", deposit=5)
    assert system.ctx is not None
    stream = transport.events.EventStream(system.config.events_inproc,
                                          system.config.inproc_door, context=system.ctx)
    with stream as entered:                      # starts it
        assert entered is stream and _stream_threads() == 1
        assert stream.get(timeout=10).topic == "user"
    assert _stream_threads() == 0                # closed: its thread and sockets are gone
    assert [e.topic for e in stream] == ["deposit"]  # what was already fetched, then the end
    stream.close()                               # again: nothing to do
    with system.subscribe() as started:          # started already: not a second thread
        assert _stream_threads() == 1
        assert started.get(timeout=10).seq == 1
    assert _stream_threads() == 0
