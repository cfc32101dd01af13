"""`--curve-clients DIR`: only the client keys in DIR pass the CURVE handshake,
at the front door and at the events port alike (ZAP); the folder is re-read
without a restart (docs/design.md, "Socket bounds")."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

from actors.system import VendingSystem, load_curve_keypair
from tools.serverproc import ServerProcess
from transport.client import Client, NoReply
from vending.db import StorageError

WAIT = 10.0
#: A refused client gets no reply: it gives up after this, not after WAIT.
SHORT = 0.5
_OUTCOMES = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
             | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


class Keys:
    def __init__(self, root: Path) -> None:
        self.clients = root / "clients"
        self.clients.mkdir()
        public, self.server_secret = zmq.auth.create_certificates(root, "server")
        self.server = zmq.auth.load_certificate(public)[0]
        self.allowed = self.make("till", self.clients)
        self.unknown = self.make("mallory", root)

    def make(self, name: str, where: Path) -> tuple[bytes, bytes]:
        """A client key pair named `name`, its public file left in `where`."""
        _, secret = zmq.auth.create_certificates(where, name)
        pair = load_curve_keypair(str(secret))
        assert pair is not None
        return pair  # a NAME.key_secret beside it is not read as a client key


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


def handshake(ctx: zmq.Context[Any], kind: int, endpoint: str, server_key: bytes | None,
              pair: tuple[bytes, bytes] | None) -> tuple[int, Any]:
    """The first handshake outcome of a fresh socket of `kind`, and (REQ only) the
    reply to a ping, or None when none came within SHORT seconds."""
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key is not None:
        sock.curve_serverkey = server_key
        sock.curve_publickey, sock.curve_secretkey = pair or zmq.curve_keypair()
    monitor = sock.get_monitor_socket(_OUTCOMES)
    try:
        if kind == zmq.SUB:
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(endpoint)
        if kind == zmq.REQ:
            sock.send(msgpack.packb({"op": "ping"}))
        assert monitor.poll(WAIT * 1000), "no handshake outcome"
        event = int(recv_monitor_message(monitor)["event"])
        reply = None
        if kind == zmq.REQ and sock.poll(SHORT * 1000 if event != zmq.EVENT_HANDSHAKE_SUCCEEDED
                                         else WAIT * 1000):
            reply = msgpack.unpackb(sock.recv())
        return event, reply
    finally:
        sock.disable_monitor()
        monitor.close(0)
        sock.close(0)


@pytest.fixture
def keyed(keys: Keys, make_system: Callable[..., VendingSystem]) -> VendingSystem:
    return make_system(curve_secret_file=str(keys.server_secret),
                       curve_clients=str(keys.clients), events="tcp://127.0.0.1:0")


def events_tcp(system: VendingSystem) -> str:
    return next(e for e in system.events_endpoints if e.startswith("tcp://"))


def test_only_listed_client_keys_reach_the_front_door(
        keys: Keys, keyed: VendingSystem, zctx: zmq.Context[Any]) -> None:
    door = keyed.endpoints[0]
    event, reply = handshake(zctx, zmq.REQ, door, keys.server, keys.allowed)
    assert event == zmq.EVENT_HANDSHAKE_SUCCEEDED and reply is not None and reply["ok"]
    event, reply = handshake(zctx, zmq.REQ, door, keys.server, keys.unknown)
    assert event == zmq.EVENT_HANDSHAKE_FAILED_AUTH and reply is None
    event, reply = handshake(zctx, zmq.REQ, door, None, None)  # a plain client
    assert event != zmq.EVENT_HANDSHAKE_SUCCEEDED and reply is None


def test_only_listed_client_keys_reach_the_events_port(
        keys: Keys, keyed: VendingSystem, zctx: zmq.Context[Any]) -> None:
    events = events_tcp(keyed)
    assert handshake(zctx, zmq.SUB, events, keys.server, keys.allowed)[0] \
        == zmq.EVENT_HANDSHAKE_SUCCEEDED
    assert handshake(zctx, zmq.SUB, events, keys.server, keys.unknown)[0] \
        == zmq.EVENT_HANDSHAKE_FAILED_AUTH
    assert handshake(zctx, zmq.SUB, events, None, None)[0] != zmq.EVENT_HANDSHAKE_SUCCEEDED


def test_the_client_library_with_a_listed_key_is_served(
        keys: Keys, keyed: VendingSystem) -> None:
    door = keyed.endpoints[0]
    with Client(door, timeout=WAIT, server_key=keys.server, client_key=keys.allowed) as till:
        till.register("till", "correct horse battery")
        assert till.deposit(5) == 5
    with Client(door, timeout=SHORT, retries=0, server_key=keys.server,
                client_key=keys.unknown) as mallory, pytest.raises(NoReply):
        mallory.ping()
    assert keyed.client().ping()  # inproc needs no handshake


def test_the_folder_is_reread_without_a_restart(
        keys: Keys, keyed: VendingSystem, zctx: zmq.Context[Any]) -> None:
    door = keyed.endpoints[0]
    assert handshake(zctx, zmq.REQ, door, keys.server, keys.unknown)[0] \
        == zmq.EVENT_HANDSHAKE_FAILED_AUTH
    shutil.copy(keys.clients.parent / "mallory.key", keys.clients / "mallory.key")
    (keys.clients / "till.key").unlink()
    assert keyed.reload_curve_clients() == 1
    assert handshake(zctx, zmq.REQ, door, keys.server, keys.unknown)[0] \
        == zmq.EVENT_HANDSHAKE_SUCCEEDED
    assert handshake(zctx, zmq.REQ, door, keys.server, keys.allowed)[0] \
        == zmq.EVENT_HANDSHAKE_FAILED_AUTH


def test_curve_clients_needs_curve_secret(keys: Keys,
                                          make_system: Callable[..., VendingSystem]) -> None:
    with pytest.raises(ValueError, match="--curve-secret"):
        make_system(curve_clients=str(keys.clients))


def test_an_unreadable_folder_refuses_the_start(
        keys: Keys, tmp_path: Path, make_system: Callable[..., VendingSystem]) -> None:
    with pytest.raises(StorageError, match="client keys"):
        make_system(curve_secret_file=str(keys.server_secret),
                    curve_clients=str(tmp_path / "missing"))


@pytest.fixture
def served(keys: Keys, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(":memory:", extra=["--curve-secret", str(keys.server_secret),
                                              "--curve-clients", str(keys.clients)],
                           cwd=tmp_path).start()
    yield server
    server.kill()


def test_serve_rereads_the_folder_on_sighup(keys: Keys, served: ServerProcess,
                                            zctx: zmq.Context[Any]) -> None:
    assert handshake(zctx, zmq.REQ, served.endpoint, keys.server, keys.unknown)[0] \
        == zmq.EVENT_HANDSHAKE_FAILED_AUTH
    shutil.copy(keys.clients.parent / "mallory.key", keys.clients / "mallory.key")
    served.signal(signal.SIGHUP)
    served.wait_for_line(lambda line: "curve clients reloaded" in line and "2 key(s)" in line)
    assert handshake(zctx, zmq.REQ, served.endpoint, keys.server, keys.unknown)[0] \
        == zmq.EVENT_HANDSHAKE_SUCCEEDED
    assert served.terminate() == 0  # SIGHUP did not stop it; SIGTERM still does


def test_the_cli_keygen_pair_and_client_key_option(tmp_path: Path) -> None:
    """The story the README tells: keygen a server and a client pair, serve with the
    client's public key in the folder, ping with and without the client's secret."""
    def vending(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VENDING_")}
        return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True,
                              text=True, timeout=60, cwd=tmp_path, env=env,
                              stdin=subprocess.DEVNULL)

    assert vending("keygen", "keys").returncode == 0
    made = vending("keygen", "mine", "--name", "till")
    assert made.returncode == 0 and "--curve-clients" in made.stdout
    (tmp_path / "clients").mkdir()
    shutil.copy(tmp_path / "mine" / "till.key", tmp_path / "clients" / "till.key")
    server = ServerProcess(":memory:", extra=["--curve-secret", "keys/server.key_secret",
                                              "--curve-clients", "clients"],
                           cwd=tmp_path).start()
    try:
        common = ("ping", "--endpoint", server.endpoint, "--server-key", "keys/server.key",
                  "--session-file", str(tmp_path / "session.json"), "--timeout", "2")
        allowed = vending(*common, "--client-key", "mine/till.key_secret")
        assert allowed.returncode == 0, allowed.stderr
        refused = vending(*common)  # a fresh key pair: not in the folder
        assert refused.returncode != 0, refused.stdout
        not_secret = vending(*common, "--client-key", "mine/till.key")
        assert not_secret.returncode == 2 and "no secret key" in not_secret.stderr
    finally:
        server.kill()
