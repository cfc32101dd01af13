"""CurveZMQ on the front door: only clients that know the server's key are served."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import zmq
import zmq.auth

from actors.system import VendingSystem
from transport.client import Client
from vending.errors import Unavailable


def test_only_clients_with_the_server_key_are_served(
        tmp_path: Path, make_system: Callable[..., VendingSystem]) -> None:
    public_file, secret_file = zmq.auth.create_certificates(tmp_path, "server")
    server_key = zmq.auth.load_certificate(public_file)[0]
    system = make_system(curve_secret_file=str(secret_file))
    endpoint = system.endpoints[0]

    with Client(endpoint, timeout=1, retries=0) as plain, pytest.raises(Unavailable):
        plain.ping()
    wrong_key = zmq.curve_keypair()[0]
    with Client(endpoint, timeout=1, retries=0, server_key=wrong_key) as wrong, \
            pytest.raises(Unavailable):
        wrong.ping()
    with Client(endpoint, timeout=5, server_key=server_key) as keyed:
        keyed.register("ann", "correct horse battery")
        assert keyed.deposit(20) == 20
    assert system.client().ping()  # embedded clients are given the key


def test_a_public_key_file_is_not_a_server_key(
        tmp_path: Path, make_system: Callable[..., VendingSystem]) -> None:
    public_file, _ = zmq.auth.create_certificates(tmp_path, "server")
    with pytest.raises(Exception, match="no secret key"):
        make_system(curve_secret_file=str(public_file))
