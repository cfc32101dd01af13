"""Shared fixtures for the socket tiers (tests/integration, tests/process).

Tier 3 tests get a real in-memory `VendingSystem` whose front door is bound
to a random loopback port; every raw ZeroMQ socket a test opens comes from
`raw_socket` and is closed with LINGER 0 by its fixture, whatever happens.
Waiting is done by polling a condition against a deadline (`wait_until`),
never by sleeping for a guessed time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgpack
import pytest
import zmq

from actors.system import VendingSystem
from transport.client import Client

PASSWORD = "correct horse battery"

#: Generous limits for anything that must happen "soon": failures, not timings.
WAIT = 10.0


def poll_until(predicate: Callable[[], Any], timeout: float = WAIT, interval: float = 0.02,
               what: str = "condition") -> Any:
    """Call `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        pause.wait(interval)


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    """`wait_until(predicate, timeout=10, interval=0.02, what="...")`."""
    return poll_until


@pytest.fixture
def make_system() -> Iterator[Callable[..., VendingSystem]]:
    """Start a `VendingSystem` with config overrides; every one is stopped in teardown."""
    started: list[VendingSystem] = []

    def start(**overrides: Any) -> VendingSystem:
        overrides.setdefault("data_dir", ":memory:")
        overrides.setdefault("binds", ("tcp://127.0.0.1:0",))
        system = VendingSystem(**overrides).start()
        started.append(system)
        return system

    yield start
    for system in reversed(started):
        system.stop()


@pytest.fixture
def system(make_system: Callable[..., VendingSystem],
           request: pytest.FixtureRequest) -> VendingSystem:
    """An in-memory system, front door on tcp://127.0.0.1:<random port> and inproc.
    Config overrides by indirect parametrization: `@pytest.mark.parametrize("system",
    [{"loops": "per-part"}], indirect=True)`."""
    return make_system(**getattr(request, "param", {}))


@pytest.fixture
def tcp_endpoint(system: VendingSystem) -> str:
    endpoint = system.endpoints[0]
    assert endpoint.startswith("tcp://127.0.0.1:")
    return endpoint


@pytest.fixture
def zctx() -> Iterator[zmq.Context[Any]]:
    """A test-owned context (not the system's), terminated after its sockets close."""
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.term()


@pytest.fixture
def raw_socket(zctx: zmq.Context[Any], tcp_endpoint: str) -> Iterator[Callable[..., Any]]:
    """`raw_socket(zmq.REQ)` -> a socket connected to the front door's tcp endpoint."""
    sockets: list[zmq.Socket[Any]] = []

    def open_socket(kind: int = zmq.REQ, endpoint: str | None = None) -> zmq.Socket[Any]:
        sock = zctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sockets.append(sock)
        sock.connect(endpoint or tcp_endpoint)
        return sock

    yield open_socket
    for sock in sockets:
        sock.close(0)


def recv_reply(sock: zmq.Socket[Any], timeout: float = WAIT) -> dict[str, Any]:
    """The next reply on a REQ socket (or a DEALER's frames after the delimiter)."""
    if not sock.poll(timeout * 1000, zmq.POLLIN):
        pytest.fail(f"no reply within {timeout}s")
    frames = sock.recv_multipart()
    if sock.type == zmq.DEALER:
        assert frames[0] == b"", f"DEALER reply must start with an empty delimiter: {frames!r}"
        frames = frames[1:]
    assert len(frames) == 1, f"a reply is exactly one frame, got {len(frames)}"
    reply = msgpack.unpackb(frames[0], raw=False)
    assert isinstance(reply, dict)
    return reply


@pytest.fixture
def exchange() -> Callable[..., dict[str, Any]]:
    """`exchange(sock, message_or_bytes)` -> reply map (REQ or DEALER)."""
    def run(sock: zmq.Socket[Any], message: dict[str, Any] | bytes,
            timeout: float = WAIT) -> dict[str, Any]:
        body = message if isinstance(message, bytes) else msgpack.packb(message,
                                                                         use_bin_type=True)
        if sock.type == zmq.DEALER:
            sock.send_multipart([b"", body])
        else:
            sock.send(body)
        return recv_reply(sock, timeout)
    return run


@pytest.fixture
def recv() -> Callable[..., dict[str, Any]]:
    return recv_reply


@pytest.fixture
def account(request: pytest.FixtureRequest) -> Callable[..., Client]:
    """`account("ann", "buyer", deposit=100, on=system)` -> a logged-in inproc Client.

    Without `on`, the account lives in the `system` fixture's system.
    """
    def make(username: str, role: str = "buyer", deposit: int = 0,
             on: VendingSystem | None = None, **client_kwargs: Any) -> Client:
        client_kwargs.setdefault("timeout", WAIT)
        target = on if on is not None else request.getfixturevalue("system")
        client = target.client(**client_kwargs)
        client.register(username, PASSWORD, role)
        for coin in coins_for(deposit):
            client.deposit(coin)
        return client
    return make


def coins_for(cents: int) -> list[int]:
    """Coins adding up to `cents` (a multiple of 5), largest first."""
    out: list[int] = []
    for coin in (100, 50, 20, 10, 5):
        while cents >= coin:
            out.append(coin)
            cents -= coin
    assert cents == 0, "deposits are multiples of 5"
    return out


def session_fields(client: Client) -> dict[str, str]:
    assert client.wsess_uid and client.token
    return {"wsess_uid": client.wsess_uid, "token": client.token}


@pytest.fixture
def creds() -> Callable[[Client], dict[str, str]]:
    """`creds(client)` -> {"wsess_uid": ..., "token": ...} for hand-built requests."""
    return session_fields


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the socket tiers a thread dying of an exception fails its test: pytest
    would only warn, and a reader or actor thread that dies is a real defect."""
    strict = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
    for item in items:
        if {"integration", "process"} & set(item.path.parts):
            item.add_marker(strict)
