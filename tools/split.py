"""A split deployment on one host: gatekeeper, stock handler and front doors as
separate `vending serve --role` processes joined by tcp fifos on loopback.

Used by the split tests, `vending bench --split` and `vending chaos --split`
(which SIGKILLs one role per cycle, in turn).

Ports: the front doors' client endpoints and the backends' events endpoints are
bound at port 0 and read back from each process's log, so nothing can take them
first. The fifos cannot be: each role must name the others' fifos when it
starts (the gatekeeper sends to the stock handler's post fifo, and the other
way round). They are picked free just before the first start, and should
another process take one meanwhile, that start is made again on fresh ports.
"""

from __future__ import annotations

from itertools import cycle
from pathlib import Path

from .serverproc import ANY_PORT, ServerProcess, free_tcp_endpoint

#: First starts tried before a fifo port taken by someone else is an error.
BIND_TRIES = 3
#: The fifos every role names (each bound by its owner); a front door's own
#: --status-fifo is named by it alone.
_FIFO_OPTIONS = ("--auth-fifo", "--deposit-fifo", "--post-fifo")


class SplitDeployment:
    def __init__(self, data_dir: Path | str, front_doors: int = 2,
                 extra: list[str] | None = None, events: bool = False) -> None:
        self._data_dir = data_dir
        self._front_doors = front_doors
        self._extra = extra or []
        self._events = events
        #: `events`: each backend role publishes on its own --events endpoint.
        self.events_endpoints: dict[str, str] = {}
        self.procs: dict[str, ServerProcess] = self._layout()
        self._victims = cycle(list(self.procs))
        self.last_killed = ""
        self._started = False

    def _layout(self) -> dict[str, ServerProcess]:
        """Every role's process, on fresh fifo ports."""
        fifos = {name: free_tcp_endpoint() for name in _FIFO_OPTIONS}
        common = [arg for name, ep in fifos.items() for arg in (name, ep)]
        common += self._extra
        events = ["--events", ANY_PORT] if self._events else []
        procs = {role: ServerProcess(self._data_dir, extra=["--role", role, *common, *events])
                 for role in ("gatekeeper", "stock-handler")}
        for n in range(1, self._front_doors + 1):
            procs[f"frontdoor-{n}"] = ServerProcess(
                self._data_dir, extra=["--role", "frontdoor", "--status-fifo",
                                       free_tcp_endpoint(), *common])
        return procs

    @property
    def endpoints(self) -> list[str]:
        """The front doors' client endpoints (their real ports once started)."""
        return [p.endpoint for name, p in self.procs.items() if name.startswith("frontdoor")]

    @property
    def endpoint(self) -> str:
        return self.endpoints[0]

    def start(self) -> SplitDeployment:
        """Start every role that is not running (all of them, the first time)."""
        for attempt in range(1, BIND_TRIES + 1):
            try:
                self._start_stopped()
                break
            except RuntimeError as exc:
                taken = "cannot bind" in str(exc)
                if self._started or not taken or attempt == BIND_TRIES:
                    raise
                self.kill_all()  # a fifo port was taken between pick and bind
                self._fresh_fifos()
        if not self._started:
            self._started = True
            for role in ("gatekeeper", "stock-handler") if self._events else ():
                proc = self.procs[role]
                bound = self.events_endpoints[role] = proc.events_endpoint()
                # A restart binds the same port again: subscribers keep their endpoint.
                proc.extra[proc.extra.index("--events") + 1] = bound
        return self

    def _fresh_fifos(self) -> None:
        """New ports for every fifo, in every role's arguments (the rest kept)."""
        fresh: dict[str, str] = {}
        for proc in self.procs.values():
            for at, arg in enumerate(proc.extra[:-1]):
                if arg in _FIFO_OPTIONS or arg == "--status-fifo":
                    old = proc.extra[at + 1]
                    proc.extra[at + 1] = fresh.setdefault(old, free_tcp_endpoint())

    def _start_stopped(self) -> None:
        starting = [p for p in self.procs.values() if p.proc is None or p.proc.poll() is not None]
        for proc in starting:
            proc.launch()  # in parallel: a split layout starts in the time of one process
        for proc in starting:
            proc.wait_ready()

    def kill(self) -> None:
        """SIGKILL the next role in turn; the others keep running."""
        self.last_killed = next(self._victims)
        self.procs[self.last_killed].kill()

    def kill_all(self) -> None:
        for proc in self.procs.values():
            proc.kill()

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM every role, front doors first; the worst exit code."""
        codes = [self.procs[name].terminate(timeout)
                 for name in sorted(self.procs, key=lambda n: not n.startswith("frontdoor"))]
        return max(codes, key=abs)
