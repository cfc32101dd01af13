"""Starting and stopping the embedded system: clean, repeatable, no thread left dying."""

from __future__ import annotations

import threading
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
    assert not system.door.opened and not system.door.loop.is_alive()


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


def _loop_threads() -> set[str]:
    return {t.name for t in threading.enumerate()
            if t.name in ("vending", "front-door", "gatekeeper", "stock-handler")}


def test_every_part_runs_on_one_loop_thread_unless_asked_otherwise() -> None:
    """The default layout: the front door, its session actors and both backends share
    the one `vending` loop (no GIL hand-off between parts); `loops="per-part"` gives
    each part its own. Either way a stop leaves no loop thread behind."""
    before = _loop_threads()
    assert before == set()
    for loops, threads in (("one", {"vending"}),
                           ("per-part", {"front-door", "gatekeeper", "stock-handler"})):
        with VendingSystem(data_dir=":memory:", binds=(), loops=loops) as system:
            assert system.client().register("ann", PASSWORD)["ok"] is True
            assert _loop_threads() == threads
            assert system.door is not None
            loop = system.door.loop
            assert {system.supervisor.refs[r].proxy().loop.get().name  # type: ignore[union-attr]
                    for r in ("gatekeeper", "stock-handler")} <= threads
            assert (loop.name == "vending") == (loops == "one")
        assert _loop_threads() == set()
