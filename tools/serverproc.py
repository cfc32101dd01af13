"""Run `vending serve` as a child process: for chaos runs, benchmarks and tests."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import procstat

#: Bind where the kernel picks: the port is read back from the ready line, so no
#: other process can take it between a pick and the bind.
ANY_PORT = "tcp://127.0.0.1:0"


def free_tcp_endpoint() -> str:
    """A port free now, for what must be known before anything binds (split fifos,
    which each role names to the others) or for "nothing listens there". Another
    process may take it before it is bound: prefer ANY_PORT where the binder
    reports what it bound.

    Drawn below the kernel's ephemeral range: a port from it (what binding port 0
    gives) may be handed meanwhile to any outgoing connection or port-0 bind on the
    machine, which made a split role's restart fail "address already in use"."""
    low = _ephemeral_low()
    first = max(1024, low - 12_000)
    if len(_HANDED) > (low - first) // 4:
        _HANDED.clear()  # long ago: their binders have bound them, or are gone
    while True:
        port = random.randrange(first, low)
        if port in _HANDED:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken: draw again
            _HANDED.add(port)
            return f"tcp://127.0.0.1:{port}"


#: Ports `free_tcp_endpoint` handed out in this process. Each is free when drawn but
#: bound only later, so without this two draws of one layout (the split fifos) could
#: name the same port; both roles then fail to bind, and the fresh draw made for the
#: retry, one per old port, named one port for both again.
_HANDED: set[int] = set()


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (32768 where unknown)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bound_endpoints(line: str) -> list[str]:
    """The tcp endpoints a `ready on ...` or `events on ...` line names (in order;
    a JSON log line names them twice, in its message and its fields)."""
    return list(dict.fromkeys(re.findall(r"tcp://[^\s\"',\]]+", line)))


class ServerProcess:
    """A `vending serve` child; `start` returns once it has logged "ready".

    Without `endpoint` it binds ANY_PORT, and `endpoint` becomes the real one
    once the ready line is read (a restart binds that same port again). The
    child's environment is this one without inherited `VENDING_*` variables (a
    stray VENDING_FAULTS would crash it on purpose), plus `env`.
    """

    def __init__(self, data_dir: Path | str, endpoint: str | None = None,
                 extra: list[str] | None = None, env: dict[str, str] | None = None,
                 module: str = "cli serve", cwd: Path | None = None) -> None:
        self.data_dir = str(data_dir)
        self.endpoint = endpoint or ANY_PORT
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
        """The ready line; a port-0 endpoint becomes the one it bound."""
        line = self.wait_for_line(lambda text: "ready on" in text, timeout)
        if self.endpoint.endswith(":0") and self.has_front_door:
            bound = bound_endpoints(line)
            if bound:
                self.endpoint = bound[0]
                self.endpoints = [self.endpoint]
        return line

    @property
    def has_front_door(self) -> bool:
        """Role all or frontdoor: its ready line names the client endpoints."""
        role = self.extra[self.extra.index("--role") + 1] if "--role" in self.extra else "all"
        return role in ("all", "frontdoor")

    def events_endpoint(self, timeout: float = 30.0) -> str:
        """The tcp endpoint of `serve --events` (a port-0 one as bound), from its log."""
        line = self.wait_for_line(lambda text: "events on" in text, timeout)
        return bound_endpoints(line)[0]

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
