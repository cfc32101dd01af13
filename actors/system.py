"""The one wiring module: start the parts in order, stop them in reverse.

Embedded, everything runs in this process over inproc:// in one ZeroMQ
context; the endpoints are configuration, so the same classes run split.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import weakref
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from transport.client import Client
from transport.events import EventForwarder, EventPublisher, EventStream, StreamEvent
from transport.fifo import FifoInlet
from transport.frontdoor import FrontDoor
from transport.loop import EventLoop
from vending.db import StorageError
from vending.gate import SCHEMA as GATE_SCHEMA
from vending.stock import SCHEMA as STOCK_SCHEMA

from .backend import BackendPorts, BackendStats
from .config import Config
from .dispatch import Dispatch
from .env import REAL, Env
from .gatekeeper import GatekeeperActor
from .messages import AwaitRecovery
from .session_pool import SessionPool
from .stockhandler import StockHandlerActor
from .supervisor import Supervisor

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger(__name__)

__all__ = ["VendingSystem"]


def load_curve_keypair(path: str | None) -> tuple[bytes, bytes] | None:
    """(public, secret) from a `vending keygen` secret file, or None."""
    if path is None:
        return None
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read CurveZMQ key {path}: {exc}") from None
    if secret is None:
        raise StorageError(f"{path} holds no secret key (give the .key_secret file)")
    return public, secret


def load_client_keys(folder: str) -> dict[bytes, bool]:
    """The client public keys in `folder` (its *.key files), as zmq.auth keeps them."""
    try:
        keys: dict[bytes, bool] = zmq.auth.load_certificates(folder)
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read client keys in {folder}: {exc}") from None
    return keys


class VendingSystem:
    """The whole vending machine in this process.

    Example:
        with VendingSystem(data_dir=":memory:", binds=()) as system:
            client = system.client()

    `env` is the world its parts read the clock, entropy, storage, fifos and fault
    points from (actors/env.py): the real one unless another is given.
    """

    def __init__(self, config: Config | None = None, *, env: Env = REAL,
                 **overrides: Any) -> None:
        self.config = replace(config or Config(), **overrides)
        self.env = env
        self.ctx: zmq.Context[Any] | None = None
        self.supervisor: Supervisor | None = None
        self.dispatch: Dispatch | None = None
        self.door: FrontDoor | None = None
        self._lock_fds: list[int] = []
        self._curve: tuple[bytes, bytes] | None = None
        self._zap: ThreadAuthenticator | None = None
        #: The started loops, by name: one ("vending"), or one per part.
        self._loops: dict[str, EventLoop] = {}
        self._ports: list[BackendPorts] = []
        self._publishers: list[EventPublisher] = []
        self._clients: weakref.WeakSet[Client] = weakref.WeakSet()
        self._streams: weakref.WeakSet[EventStream] = weakref.WeakSet()
        #: What this start made on disk: removed again if the start fails.
        self._created: list[Path] = []
        #: Per backend role, its counters (they outlive restarts of its actor).
        self.backend_stats: dict[str, BackendStats] = {}
        #: Per backend role, its fifos' inlet (for the count of undecodable messages).
        self.inlets: dict[str, FifoInlet] = {}
        self._metrics: Metrics | None = None

    @property
    def endpoints(self) -> list[str]:
        """Where clients can connect (tcp ones with their real port)."""
        return list(self.door.bound) if self.door else []

    def start(self) -> VendingSystem:
        self.config.check()
        self._curve = load_curve_keypair(self.config.curve_secret_file)
        clients = (load_client_keys(self.config.curve_clients)
                   if self.config.curve_clients is not None else None)
        backends = [(name, actor) for name, actor in (("gatekeeper", GatekeeperActor),
                                                      ("stock-handler", StockHandlerActor))
                    if self.config.runs(name)]
        try:
            self._prepare_data_dir([actor.db_name for _, actor in backends])
        except StorageError:
            self._undo_start()
            raise
        ctx: zmq.Context[Any] = zmq.Context()
        self.ctx = ctx
        if self.config.metrics is not None:
            from .metrics import Metrics  # imports prometheus_client: only when asked
            self._metrics = Metrics(self)
        try:
            if clients is not None:
                self._start_zap(ctx, clients)
            sup = self.supervisor = Supervisor(clock=self.env.clock)
            for name, actor in backends:
                # The actor's fifos are bound once on its loop and kept across
                # restarts of the actor.
                loop = self._loop_for(name)
                inlet = FifoInlet([self._bind_form(e) for e in actor.fifo_endpoints(self.config)],
                                  name=name)
                publisher = self._publisher()
                ports = BackendPorts(ctx, loop, inlet, publisher)
                loop.call_and_wait(ports.open)
                self._ports.append(ports)
                memory_db = (self.env.database(None, actor.schema) if self.config.in_memory
                             else None)
                stats = self.backend_stats[name] = BackendStats()
                self.inlets[name] = inlet
                sup.start(name, partial(actor.start, loop, inlet, ctx, self.config,
                                        sup.child_failed, memory_db, publisher, stats,
                                        self.env))
            if self.config.role == "all":
                # Purchases a crash left half done are settled before any client is
                # served. Split, the gatekeeper may be away: the stock handler keeps
                # asking, and held units are simply not offered meanwhile.
                sup.refs["stock-handler"].ask(AwaitRecovery(), timeout=30).get(timeout=30)
            if self.config.runs("frontdoor"):
                self.dispatch = Dispatch(ctx, self.config, self._forwarder(), self.env)
                self.door = FrontDoor(self._loop_for("front-door"), ctx,
                                      [*self.config.binds, self.config.inproc_door],
                                      self._bind_form(self.config.endpoints.status), self.dispatch,
                                      request_timeout=self.config.request_timeout,
                                      curve_keypair=self._curve,
                                      observe=self._metrics.requests.observe
                                      if self._metrics is not None else None,
                                      clock=self.env.clock)
                self.door.start()
            if self._metrics is not None and self.config.metrics is not None:
                self._metrics.serve(self.config.metrics)
        except BaseException:
            self._undo_start()
            raise
        self._created.clear()
        return self

    def _loop_for(self, part: str) -> EventLoop:
        """The started loop `part` runs on: the process's one loop, or (`loops
        "per-part"`) its own (docs/design.md, "Threads and what they own")."""
        name = "vending" if self.config.loops == "one" else part
        loop = self._loops.get(name)
        if loop is None:
            loop = self._loops[name] = EventLoop(name)
            loop.start()
        return loop

    def _start_zap(self, ctx: zmq.Context[Any], clients: dict[bytes, bool]) -> None:
        """Answer the context's ZAP requests: only `clients` pass the CURVE handshake.

        One thread (zmq.auth's), woken once per connection handshake, never per
        request. It serves every CURVE socket of this context, so the front
        door and the events port check the same keys before binding.
        """
        zap = self._zap = ThreadAuthenticator(ctx, log=logging.getLogger("vending.zap"))
        zap.start()
        zap.certs["*"] = clients

    def reload_curve_clients(self) -> int:
        """Re-read the `curve_clients` folder; returns how many keys it now holds.

        Connections already made stay; every new handshake is checked against
        the new keys. Any thread (the key table is swapped in one assignment).

        Raises:
            StorageError: the folder cannot be read (the old keys stay in force).
        """
        if self._zap is None or self.config.curve_clients is None:
            raise RuntimeError("the system does not check client keys (no curve_clients)")
        clients = load_client_keys(self.config.curve_clients)
        self._zap.certs["*"] = clients
        return len(clients)

    def _undo_start(self) -> None:
        """Stop what started, then remove what this start created (never older data)."""
        try:
            self.stop()
        finally:
            for path in reversed(self._created):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            self._created.clear()

    def _publisher(self) -> EventPublisher | None:
        """A backend's PUB socket: embedded, into the forwarder; split, bound at --events."""
        if not self.config.publish_events:
            return None
        if self.config.role == "all":
            return EventPublisher(self.config.events_in, bind=False)
        if self.config.events is None:
            return None
        publisher = EventPublisher(self.config.events, bind=True, curve=self._curve)
        self._publishers.append(publisher)
        return publisher

    def _forwarder(self) -> EventForwarder | None:
        if self.config.role != "all":
            return None  # split: each backend binds its own --events
        outlets = [self.config.events_inproc, *filter(None, [self.config.events])]
        return EventForwarder(self.config.events_in, outlets, self._curve)

    @property
    def events_endpoints(self) -> list[str]:
        """Where events can be subscribed to (tcp ones with their real port)."""
        forwarder = self.dispatch.forwarder if self.dispatch else None
        if forwarder is not None:
            return list(forwarder.bound)
        return [p.bound for p in self._publishers if p.bound is not None]

    def subscribe(self, callback: Callable[[StreamEvent], None] | None = None,
                  **kwargs: Any) -> EventStream:
        """Every event, once and in order (gaps filled), from this embedded system.

        With `callback`, each event is handed to it in the stream's own thread;
        without, iterate the stream (`for event in stream`, `stream.get(timeout)`).
        Stop it with `stream.stop()` (or a `with` block) before `stop()`ping the
        system. `kwargs` go to `EventStream` (e.g. `since`, `live_only`).
        """
        if self.ctx is None or self.config.role != "all":
            raise RuntimeError("subscribe needs a running embedded system")
        kwargs.setdefault("door_key", self._curve[0] if self._curve else None)
        stream = EventStream(self.config.events_inproc, self.config.inproc_door,
                             context=self.ctx, callback=callback, **kwargs)
        self._streams.add(stream)
        return stream.start()

    @property
    def listening(self) -> list[str]:
        """What this process serves: client endpoints, or the fifos it owns."""
        if self.door is not None:
            return self.endpoints
        return [e for name, actor in (("gatekeeper", GatekeeperActor),
                                      ("stock-handler", StockHandlerActor))
                if self.config.runs(name) for e in actor.fifo_endpoints(self.config)]

    @property
    def sessions(self) -> SessionPool | None:
        """The front door's live session actors (None without a front door)."""
        return self.dispatch.sessions if self.dispatch else None

    def _bind_form(self, endpoint: str) -> str:
        """Where to bind an endpoint others connect to (all interfaces if asked)."""
        if self.config.fifo_bind_any and endpoint.startswith("tcp://"):
            return "tcp://*:" + endpoint.rsplit(":", 1)[1]
        return endpoint

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """(host, port) where `/metrics` is served (the real port if 0 was asked)."""
        return self._metrics.address if self._metrics is not None else None

    def stop(self) -> None:
        """Drain the front door, stop actors in reverse order, release the context."""
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        try:
            if self.door is not None:
                self.door.stop()
        finally:
            try:
                if self.supervisor is not None:
                    self.supervisor.stop_all()
                for ports in reversed(self._ports):
                    ports.loop.call_and_wait(ports.close)
                self._ports.clear()
            finally:
                for loop in reversed(self._loops.values()):
                    loop.stop()  # a loop that failed to start has a pipe to close too
                self._loops.clear()
                for stream in list(self._streams):
                    stream.stop()  # its sockets too would block ctx.term()
                for client in list(self._clients):
                    client.close()  # an open socket would block ctx.term() forever
                if self._zap is not None:
                    self._zap.stop()
                    self._zap = None
                if self.ctx is not None:
                    self.ctx.term()
                    self.ctx = None
                for fd in self._lock_fds:
                    os.close(fd)
                self._lock_fds.clear()

    def client(self, **kwargs: Any) -> Client:
        """A client bound to this system over inproc (no TCP port needed)."""
        if self.ctx is None:
            raise RuntimeError("the system is not running")
        if self._curve is not None:
            kwargs.setdefault("server_key", self._curve[0])
        # In-process, a slow reply means a busy machine, not a missing server: wait
        # longer than an interactive client's defaults (transport/protocol.py).
        kwargs.setdefault("timeout", 5.0)
        kwargs.setdefault("retries", 3)
        client = Client(self.config.inproc_door, context=self.ctx, **kwargs)
        self._clients.add(client)
        return client

    def __enter__(self) -> VendingSystem:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _prepare_data_dir(self, db_names: list[str]) -> None:
        """Fail fast, with one clear line, on a folder we cannot use."""
        if self.config.in_memory or not db_names:
            return
        folder = Path(self.config.data_dir)
        missing = next((p for p in reversed([folder, *folder.parents]) if not p.exists()), None)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if missing is not None:
                self._created.append(missing)  # everything under it is ours too
        except OSError as exc:
            raise StorageError(f"data folder {folder} is unusable: {exc.strerror}") from None
        # One lock per database file: a gatekeeper and a stock handler may share a
        # folder, but no file ever has two writers.
        for name in db_names:
            try:
                fd = os.open(folder / f".lock-{name}", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StorageError(f"data folder {folder} is unusable: {exc.strerror}") \
                    from None
            self._lock_fds.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise StorageError(f"data folder {folder} is in use by another vending "
                                   "process") from None
            # Held by us now, so a file missing here is one this start makes.
            if missing is None and not (folder / name).exists():
                self._created += [folder / f"{name}{end}" for end in ("", "-wal", "-shm")]
        schemas = {"gatekeeper.sqlite3": GATE_SCHEMA, "stock.sqlite3": STOCK_SCHEMA}
        for name in db_names:
            self.env.database(folder / name, schemas[name]).close()
