"""Starting and stopping the embedded system: clean, repeatable, no thread left dying."""

from __future__ import annotations

from typing import Any

from actors.system import VendingSystem

PASSWORD = "correct horse battery"


def test_embedding_in_a_few_lines() -> None:
    with VendingSystem(data_dir=":memory:", binds=()) as system:
        client = system.client()
        client.register("ann", PASSWORD)
        assert client.deposit(5) == 5
        assert system.endpoints == ["inproc://front-door"]
    assert system.ctx is None
    assert not system.door.is_alive()


def test_endpoints_list_the_real_tcp_port_then_inproc(system: Any) -> None:
    tcp, inproc = system.endpoints
    assert tcp.startswith("tcp://127.0.0.1:")
    assert int(tcp.rsplit(":", 1)[1]) > 0
    assert inproc == "inproc://front-door"


def test_stop_is_idempotent_and_a_client_may_be_left_open(tmp_path: Any) -> None:
    system = VendingSystem(data_dir=str(tmp_path), binds=()).start()
    client = system.client()
    client.register("ann", PASSWORD)
    system.stop()  # must not hang on the client's open socket
    system.stop()
    again = VendingSystem(data_dir=str(tmp_path), binds=()).start()  # the lock was released
    try:
        assert again.client().login("ann", PASSWORD)["ok"] is True
    finally:
        again.stop()
