"""A split deployment on one host: gatekeeper, stock handler and front doors as
separate `vending serve --role` processes joined by tcp fifos on loopback.

Used by the split tests, `vending bench --split` and `vending chaos --split`
(which SIGKILLs one role per cycle, in turn).
"""

from __future__ import annotations

from itertools import cycle
from pathlib import Path

from .serverproc import ServerProcess, free_tcp_endpoint


class SplitDeployment:
    def __init__(self, data_dir: Path | str, front_doors: int = 2,
                 extra: list[str] | None = None, events: bool = False) -> None:
        fifos = {name: free_tcp_endpoint() for name in ("auth", "deposit", "post")}
        common = [arg for name, ep in fifos.items() for arg in (f"--{name}-fifo", ep)]
        common += extra or []
        #: `events`: each backend role publishes on its own --events endpoint.
        self.events_endpoints = {role: free_tcp_endpoint() for role in
                                 ("gatekeeper", "stock-handler")} if events else {}
        self.procs: dict[str, ServerProcess] = {
            role: ServerProcess(data_dir, extra=[
                "--role", role, *common,
                *(["--events", self.events_endpoints[role]] if events else [])])
            for role in ("gatekeeper", "stock-handler")}
        for n in range(1, front_doors + 1):
            self.procs[f"frontdoor-{n}"] = ServerProcess(
                data_dir, extra=["--role", "frontdoor", "--status-fifo", free_tcp_endpoint(),
                                 *common])
        self.endpoints = [p.endpoint for name, p in self.procs.items()
                          if name.startswith("frontdoor")]
        self.endpoint = self.endpoints[0]
        self._victims = cycle(list(self.procs))
        self.last_killed = ""

    def start(self) -> SplitDeployment:
        """Start every role that is not running (all of them, the first time)."""
        starting = [p for p in self.procs.values() if p.proc is None or p.proc.poll() is not None]
        for proc in starting:
            proc.launch()  # in parallel: a split layout starts in the time of one process
        for proc in starting:
            proc.wait_ready()
        return self

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
