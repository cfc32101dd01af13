"""Tier 4: `vending serve` as its own process, driven from other processes.

`serve(data_dir)` starts `python -m actors.cli serve` on a free loopback port,
returns once it has logged its ready line, and every process it started is
killed in teardown whatever the test did. `cli(...)` runs one client command.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "correct horse battery"
START_TIMEOUT = 30.0


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENDING_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Served:
    """One `vending serve` child and everything it wrote to stderr."""

    def __init__(self, data_dir: Path | str, endpoint: str, extra: list[str],
                 cwd: Path) -> None:
        self.data_dir = str(data_dir)
        self.endpoint = endpoint
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "actors.cli", "serve", "--bind", endpoint,
             "--data-dir", self.data_dir, *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, cwd=cwd, env=child_env())
        self._reader = threading.Thread(target=self._read, name="serve-stderr")
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, predicate: Callable[[str], bool],
                      timeout: float = START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    pytest.fail("vending serve never logged the expected line:\n"
                                + "\n".join(self.lines))
                self._changed.wait(min(left, 0.5))

    def ready_line(self) -> str:
        return self.wait_for_line(lambda line: "ready" in line and self.endpoint in line)

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`serve(data_dir, *extra_args, endpoint=None)` -> a ready `Served`."""
    started: list[Served] = []

    def start(data_dir: Path | str, *extra: str, endpoint: str | None = None,
              wait_ready: bool = True) -> Served:
        served = Served(data_dir, endpoint or free_endpoint(), list(extra), cwd=tmp_path)
        started.append(served)
        if wait_ready:
            served.ready_line()
        return served

    yield start
    for served in started:
        served.kill()


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`cli("deposit", "5", ...)` -> the finished `python -m actors.cli ...` process."""
    def run(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "actors.cli", *args],
                              capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                              env=child_env(), stdin=subprocess.DEVNULL)
    return run


@pytest.fixture
def cli_json(cli: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., Any]:
    """`cli_json("profile", ...)` -> the reply map of a client command run with --json."""
    def run(*args: str) -> Any:
        done = cli(*args, "--json")
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return json.loads(done.stdout)
    return run
