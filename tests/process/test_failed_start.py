"""A `vending serve` that cannot start (its port is taken) leaves no files behind,
and never touches data that was there before it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq

from tools.serverproc import ServerProcess
from transport.client import Client

PASSWORD = "correct horse battery"


@pytest.fixture
def taken_endpoint() -> Iterator[str]:
    """A loopback port held by a plain socket of this process for the test's length."""
    ctx: zmq.Context[object] = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    yield f"tcp://127.0.0.1:{port}"
    sock.close(0)
    ctx.term()


def serve_fails(endpoint: str, data_dir: Path, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "cli", "serve", "--bind", endpoint,
                           "--data-dir", str(data_dir)], capture_output=True, text=True,
                          timeout=60, cwd=cwd, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert "cannot bind" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_new_data_folder_is_removed(taken_endpoint: str, tmp_path: Path) -> None:
    serve_fails(taken_endpoint, tmp_path / "new" / "data", tmp_path)
    assert not (tmp_path / "new").exists()


def test_new_database_files_in_an_existing_folder_are_removed(taken_endpoint: str,
                                                              tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    serve_fails(taken_endpoint, folder, tmp_path)
    assert folder.is_dir()
    assert (folder / "notes.txt").read_text() == "mine"
    # The .lock-* files stay: unlinking a lock file another process may be opening
    # would let two processes lock different inodes of one name.
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".lock-")) \
        == ["notes.txt"]


def test_existing_data_is_kept(taken_endpoint: str, serve: Callable[..., ServerProcess],
                               tmp_path: Path) -> None:
    folder = tmp_path / "data"
    first = serve(folder)
    with Client(first.endpoint, timeout=10) as ann:
        ann.register("ann", PASSWORD)
        ann.deposit(50)
    assert first.terminate() == 0
    serve_fails(taken_endpoint, folder, tmp_path)
    assert {"gatekeeper.sqlite3", "stock.sqlite3"} <= {p.name for p in folder.iterdir()}
    again = serve(folder)
    with Client(again.endpoint, timeout=10) as ann:
        assert ann.login("ann", PASSWORD)["deposit"] == 50


def test_a_failed_start_in_process_closes_its_pipe_and_gives_back_the_handlers(
        taken_endpoint: str, tmp_path: Path) -> None:
    """`serve` run inside a process that goes on (a test, an embedding supervisor):
    its stop-signal pipe is closed and the process's own handlers are back."""
    import os
    import signal

    from cli.main import main

    def mine(signum: int, frame: object) -> None:
        raise AssertionError("not expected to be called")
    before = signal.signal(signal.SIGTERM, mine)
    # What the runner left there: Python's own, or SIG_IGN in a background job.
    sigint = signal.getsignal(signal.SIGINT)
    try:
        fds = set(os.listdir("/proc/self/fd"))
        code = main(["serve", "--bind", taken_endpoint, "--data-dir", str(tmp_path / "d")])
        assert code == 1
        assert set(os.listdir("/proc/self/fd")) <= fds
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is sigint
    finally:
        signal.signal(signal.SIGTERM, before)
