"""Run `vending serve` as a child process: for chaos runs, benchmarks and tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import procstat


def free_tcp_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


class ServerProcess:
    """A `vending serve` child; `start` returns once it has logged "ready".

    The child's environment is this one without inherited `VENDING_*` variables
    (a stray VENDING_FAULTS would crash it on purpose), plus `env`.
    """

    def __init__(self, data_dir: Path | str, endpoint: str | None = None,
                 extra: list[str] | None = None, env: dict[str, str] | None = None,
                 module: str = "cli serve", cwd: Path | None = None) -> None:
        self.data_dir = str(data_dir)
        self.endpoint = endpoint or free_tcp_endpoint()
        self.extra = extra or []
        self.env = env
        self.module = module.split()
        self.cwd = cwd
        self.endpoints = [self.endpoint]
        self.proc: subprocess.Popen[str] | None = None
        #: stderr lines of the latest launch.
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting (see `wait_ready`)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("VENDING_")}
        with self._changed:
            self.lines = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *self.module, "--bind", self.endpoint,
             "--data-dir", self.data_dir, *self.extra],
            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
            text=True, cwd=self.cwd, env={**env, "PYTHONUNBUFFERED": "1", **(self.env or {})})
        self._reader = threading.Thread(target=self._read, args=(self.proc,), name="serve-log")
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()  # exited: wake waiters so they can report

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        """The first stderr line matching `predicate`; RuntimeError if the process
        exits or `timeout` passes first."""
        assert self.proc is not None and self._reader is not None
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise RuntimeError("vending serve never logged the expected line:\n"
                                       + "\n".join(self.lines))
                self._changed.wait(min(left, 0.5))

    def ready_line(self, timeout: float = 30.0) -> str:
        return self.wait_for_line(lambda line: "ready on" in line, timeout)

    def wait_ready(self, timeout: float = 30.0) -> ServerProcess:
        try:
            self.ready_line(timeout)
        except RuntimeError:
            self.kill()
            raise
        return self

    def rss_bytes(self) -> int:
        """Resident memory of the server process, from /proc."""
        assert self.proc is not None
        return procstat.rss_bytes(self.proc.pid)

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL: no flushing, no goodbyes."""
        self.signal(signal.SIGKILL)
        self.wait()

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 15.0) -> int:
        if self.proc is None:
            return 0
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        return code
