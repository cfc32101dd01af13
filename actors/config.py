"""Configuration of one vending system: endpoints, storage, timeouts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Endpoints:
    """Where each fifo lives. inproc:// embedded; tcp:// once split across processes."""

    auth: str = "inproc://auth.fifo"
    deposit: str = "inproc://deposit.fifo"
    post: str = "inproc://post.fifo"
    status: str = "inproc://status.fifo"


#: What one `vending serve` process may run (`--role`).
SERVE_ROLES = ("all", "frontdoor", "gatekeeper", "stock-handler")

#: How the parts of one process share threads (`--loops`).
LOOP_LAYOUTS = ("one", "per-part")


@dataclass(frozen=True)
class Config:
    #: "all" runs every part in this process (the embedded default); a named role
    #: runs only that part, reaching the others over the (tcp://) fifo endpoints.
    role: str = "all"
    #: ":memory:" keeps nothing on disk.
    data_dir: str = "./vending-data"
    #: Client-facing endpoints of the front door (empty: embedded use only).
    binds: tuple[str, ...] = ("tcp://127.0.0.1:5555",)
    #: Always bound too, so an embedding program needs no TCP port.
    inproc_door: str = "inproc://front-door"
    endpoints: Endpoints = field(default_factory=Endpoints)
    session_idle: float = 1800.0
    request_timeout: float = 10.0
    #: Session actors alive at once; idle ones beyond are stopped (their
    #: sessions stay valid and get an actor again on their next request).
    max_session_actors: int = 1024
    session_actor_idle: float = 60.0
    #: Password (argon2) jobs queued before password work is refused with
    #: UNAVAILABLE; one source address may hold `crypto_per_address` of them
    #: (beyond: RATE_LIMITED for that address alone). Served round-robin over
    #: addresses (docs/design.md, "Fairness").
    max_crypto_backlog: int = 1024
    crypto_per_address: int = 32
    crypto_workers: int = 2
    #: Reads (ops that change no state) waiting in a backend's read queue, in
    #: all and from one source address (beyond: RATE_LIMITED for that address).
    max_reads: int = 4096
    reads_per_address: int = 64
    #: A CurveZMQ secret key file (from `vending keygen`): clients then need the
    #: matching public key and all client traffic is encrypted.
    curve_secret_file: str | None = None
    #: With `curve_secret_file`: a folder of client public keys (`vending keygen`
    #: writes NAME.key); only those clients may connect, to the front door and
    #: to the events port alike (ZAP). Re-read by `VendingSystem.reload_curve_clients`
    #: (`vending serve` does it on SIGHUP).
    curve_clients: str | None = None
    #: `serve --events`: where events are published (a PUB socket; None: nowhere
    #: over tcp). Embedded (role "all") they are also always on `events_inproc`;
    #: a split gatekeeper or stock handler binds its own PUB here.
    events: str | None = None
    events_inproc: str = "inproc://events"
    #: Embedded: where the two sources' PUB sockets meet (the front door's XSUB).
    events_in: str = "inproc://events-in"
    #: Off: events are neither stored nor published (the benchmark's A/B only:
    #: docs/protocol.md §6a wants them on).
    publish_events: bool = True
    #: Bind owned tcp fifos on every interface (other hosts connect to the address
    #: given in the endpoint; this process binds tcp://*:PORT).
    fifo_bind_any: bool = False
    #: `serve --metrics HOST:PORT`: serve Prometheus text at http://HOST:PORT/metrics
    #: (port 0: any free port, see `VendingSystem.metrics_address`). None: no
    #: metrics, and prometheus_client is never imported.
    metrics: str | None = None
    #: "one": every part this process runs shares one loop thread (the default: no
    #: GIL hand-off between parts); "per-part": each part has its own, so a stalled
    #: commit of one backend does not stall the others (docs/design.md, "Threads and
    #: what they own").
    loops: str = "one"

    def check(self) -> None:
        """Refuse a configuration that cannot work, with a sentence saying why."""
        if self.role not in SERVE_ROLES:
            raise ValueError(f"role must be one of {', '.join(SERVE_ROLES)}")
        if self.loops not in LOOP_LAYOUTS:
            raise ValueError(f"loops must be one of {', '.join(LOOP_LAYOUTS)}")
        if self.metrics is not None:
            host, _, port = self.metrics.rpartition(":")
            if not host or not port.isdigit() or int(port) > 65535:
                raise ValueError(f"--metrics {self.metrics}: give HOST:PORT, e.g. "
                                 "127.0.0.1:9100")
        if self.curve_clients is not None and self.curve_secret_file is None:
            raise ValueError("--curve-clients needs --curve-secret (client keys are checked "
                             "in the CurveZMQ handshake)")
        if self.role == "all":
            return
        inproc = [name for name in ("auth", "deposit", "post", "status")
                  if getattr(self.endpoints, name).startswith("inproc://")
                  and (name != "status" or self.role == "frontdoor")]
        if inproc:
            raise ValueError(f"role {self.role} runs apart from the others: give tcp:// "
                             f"endpoints for the {', '.join(inproc)} fifo(s)")

    def runs(self, part: str) -> bool:
        return self.role in ("all", part)

    @property
    def in_memory(self) -> bool:
        return self.data_dir == ":memory:"

    def db_path(self, name: str) -> Path | None:
        return None if self.in_memory else Path(self.data_dir) / name
