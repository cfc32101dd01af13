"""Run `vending serve` as a child process: for chaos runs, benchmarks and tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path


def free_tcp_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


class ServerProcess:
    """A `vending serve` child; `start` returns once it has logged "ready"."""

    def __init__(self, data_dir: Path | str, endpoint: str | None = None,
                 extra: list[str] | None = None, env: dict[str, str] | None = None,
                 module: str = "actors.cli serve") -> None:
        self.data_dir = str(data_dir)
        self.endpoint = endpoint or free_tcp_endpoint()
        self.extra = extra or []
        self.env = env
        self.module = module.split()
        self.endpoints = [self.endpoint]
        self.proc: subprocess.Popen[str] | None = None
        self.log: deque[str] = deque(maxlen=200)
        self._ready = threading.Event()

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting (see `wait_ready`)."""
        self._ready.clear()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *self.module, "--bind", self.endpoint,
             "--data-dir", self.data_dir, *self.extra],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            env={**os.environ, **(self.env or {})})
        threading.Thread(target=self._read, args=(self.proc,), name="serve-log").start()

    def wait_ready(self, timeout: float = 30.0) -> ServerProcess:
        assert self.proc is not None
        if not self._ready.wait(timeout) or self.proc.poll() is not None:
            self.kill()
            raise RuntimeError("vending serve did not become ready:\n" + "\n".join(self.log))
        return self

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.log.append(line.rstrip())
            if "ready on" in line:
                self._ready.set()
        self._ready.set()  # exited: wake start() so it can report

    def rss_bytes(self) -> int:
        """Resident memory of the server process, from /proc."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def kill(self) -> None:
        """SIGKILL: no flushing, no goodbyes."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.wait()

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 15.0) -> int:
        if self.proc is None:
            return 0
        return self.proc.wait(timeout)
