"""`Client` and `AsyncClient` against a front door that never answers (a real ROUTER
socket that reads and keeps quiet): they try `retries` + 1 times, the same bytes
each time, then raise `NoReply` (docs/protocol.md, section 9)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import zmq

from transport.aio import AsyncClient
from transport.client import Client, NoReply


class Silent:
    """A ROUTER that records every request it gets and answers none."""

    def __init__(self) -> None:
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.seen: list[dict[str, Any]] = []
        self._got = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.sock.poll(50):
                request = msgpack.unpackb(self.sock.recv_multipart()[-1])
                with self._got:
                    self.seen.append(request)
                    self._got.notify_all()

    def requests(self, count: int) -> list[dict[str, Any]]:
        """The requests seen, once there are `count` (a try sent is not yet read)."""
        with self._got:
            assert self._got.wait_for(lambda: len(self.seen) >= count, 10), self.seen
            return list(self.seen)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.sock.close()
        self.ctx.term()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


def test_defaults_fail_fast_and_say_how_fast() -> None:
    with Client("tcp://127.0.0.1:1") as client:
        assert (client.timeout, client.retries) == (2.0, 1)
        assert client.worst_case_seconds == pytest.approx(4.2)
    assert AsyncClient("tcp://127.0.0.1:1").worst_case_seconds == pytest.approx(4.2)


def test_the_blocking_client_tries_retries_plus_one_with_one_req_id(silent: Silent) -> None:
    with Client(silent.endpoint, timeout=0.2, retries=3, backoff=0.01) as client:
        client.wsess_uid, client.token = "s", "t"
        with pytest.raises(NoReply, match="after 4 tries"):
            client.deposit(5)
    seen = silent.requests(4)
    assert len(seen) == 4 and len({request["req_id"] for request in seen}) == 1


def test_the_asyncio_client_does_the_same(silent: Silent) -> None:
    async def story() -> None:
        async with AsyncClient(silent.endpoint, timeout=0.2, retries=2, backoff=0.01) as c:
            c.wsess_uid, c.token = "s", "t"
            with pytest.raises(NoReply, match=silent.endpoint):
                await c.reset()
    asyncio.run(story())
    seen = silent.requests(3)
    assert len(seen) == 3 and len({request["req_id"] for request in seen}) == 1


def test_no_retries_means_one_try(silent: Silent) -> None:
    with Client(silent.endpoint, timeout=0.2, retries=0) as client, pytest.raises(NoReply):
        client.ping()
    assert len(silent.requests(1)) == 1
