"""The simulated world: the real actors, on simulated loops, fifos, disk and clock.

One `World` is one seed's history. It boots a "process" the way
`actors.system.VendingSystem.start` does (the gatekeeper and the stock handler
on their loops, each attached to its fifos; the stock handler's recovery
awaited; then the front door and its dispatcher), drives simulated clients at
it, injects the seed's faults between and inside steps, and asks the oracle
after every step. A process crash loses everything in memory (actors, loops,
fifo messages, sessions) and keeps the SQLite files; the next incarnation runs
the real recovery code on them.
"""

from __future__ import annotations

import gc
import logging
import random
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import pykka

from actors.backend import BackendActor
from actors.config import Config
from actors.dispatch import Dispatch
from actors.gatekeeper import GatekeeperActor
from actors.stockhandler import StockHandlerActor
from actors.supervisor import RestartBudget
from transport.loop import EventLoop
from vending.db import Database
from vending.schema import Schema
from vending.sessions import SessionPolicy

from . import seams
from .clients import SimClient
from .clock import SimClock
from .disk import SimFaults, new_file, sim_database
from .door import SimFrontDoor
from .fifos import Channel, Network, SimInlet, SimPushers
from .kinds import FAULT_KINDS, parse_faults
from .loop import Scheduler, SimLoop
from .oracle import ROLES, Oracle
from .swarm import FIXED_RATE, Profile, draw, fixed
from .trace import Trace

__all__ = ["FAULT_KINDS", "World", "WorldOptions", "parse_faults"]

#: Chance per step that some fault is injected (when any kind is on), unless the
#: seed draws its own (swarm.py).
FAULT_RATE = FIXED_RATE
#: Idempotency keys and events are kept 48 h: an acknowledgement older than this
#: may have been forgotten on purpose.
KEPT = 47 * 3600.0
#: Why a client tried a request again (`World.retried`, `--json`'s `retries`).
RETRY_CAUSES = ("unavailable", "lost", "crash", "clock", "stall", "disk", "link", "other")
#: Pieces of work one housekeeping step runs at most (`WorldOptions.batch_idle`).
IDLE_LIMIT = 2000
_QUIET_LOGGERS = ("pykka", "actors", "transport", "vending")
#: Allocations between two collections of the youngest generation during a run
#: (Python's default is 700).
GC_YOUNGEST = 5000


def _actor_of(ref: pykka.ActorRef[Any]) -> Any:
    """The actor behind a ref: the simulator may look inside its own actors."""
    return ref._actor_weakref()


@dataclass
class WorldOptions:
    seed: int
    data_dir: Path
    faults: frozenset[str] = frozenset(FAULT_KINDS)
    #: Mean simulated seconds a client thinks between requests.
    think: float = 2.0
    keep_trace: bool = False
    fault_rate: float = FAULT_RATE
    #: The seed draws its own configuration (swarm.py); else every seed runs the
    #: fixed one (every kind in `faults`, every variant, `fault_rate`).
    swarm: bool = False
    #: Housekeeping with nothing else runnable is one step (loop.py's `idle_run`);
    #: else every timer firing is a step of its own, as before.
    batch_idle: bool = True
    #: `data_dir` is the run's own, removed after it: the files it makes may hold
    #: the oracle's triggers (simulation/disk.py); else they hold only the schema.
    scratch: bool = False


class SimExecutor(Executor):
    """Stands in for the gatekeeper's argon2 `ThreadPoolExecutor`: a job runs as a
    step of its own lane (a worker thread), and its future's callbacks run then."""

    def __init__(self, loop: SimLoop) -> None:
        self._loop = loop
        self._futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._futures.append(future)

        def run() -> None:
            self._futures.remove(future)
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - handed to the future, as a pool does
                future.set_exception(exc)
            else:
                future.set_result(result)
        run.__qualname__ = "argon2-job"
        self._loop.call_soon(run)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for future in list(self._futures):
                future.cancel()


@dataclass
class Process:
    """One incarnation of the server process: what a crash takes away."""

    number: int
    network: Network
    loops: dict[str, SimLoop]
    inlets: dict[str, SimInlet]
    refs: dict[str, pykka.ActorRef[Any]] = field(default_factory=dict)
    #: The real supervisor's rule, with its defaults (actors/supervisor.py).
    restarts: RestartBudget = field(default_factory=RestartBudget)
    dispatch: Dispatch | None = None
    door: SimFrontDoor | None = None
    dead: bool = False


class World:
    """Runs on one thread; see the module docstring."""

    def __init__(self, options: WorldOptions) -> None:
        self.options = options
        self.seed = options.seed
        self.profile: Profile = (
            draw(options.seed, options.faults, options.batch_idle) if options.swarm
            else fixed(options.faults, options.fault_rate, options.batch_idle))
        self.clock = SimClock()
        self.sched = Scheduler(self.clock, random.Random(f"{options.seed}:schedule"))
        self.fault_rng = random.Random(f"{options.seed}:faults")
        self.trace = Trace(keep=options.keep_trace)
        self.oracle = Oracle(options.data_dir, self.clock.time)
        self.faults = SimFaults(self)
        self.config = Config(data_dir=str(options.data_dir), binds=())
        self._rng_ids = random.Random(f"{options.seed}:ids")
        #: What the real code reads the clock, entropy, storage, fifos and faults
        #: from (simulation/seams.py): handed to every part this world builds.
        self.env = seams.simulated_env(self.clock, self._rng_ids,
                                       random.Random(f"{options.seed}:salts"),
                                       password_pool=self._executor,
                                       pushers=self._make_pushers, database=self._database,
                                       faults=self.faults)
        self.clients: list[SimClient] = []
        self._conns: dict[bytes, SimClient] = {}
        #: Connections their clients left (a timeout): whose they were.
        self._left: dict[bytes, SimClient] = {}
        #: Client connections made while no front door serves (the process is down
        #: or recovering), by identity: not made yet. The reference clients do not
        #: set ZMQ_IMMEDIATE, so ZeroMQ keeps what is sent on such a socket until
        #: the connection is made, when the next front door serves (a crash before
        #: then breaks nothing); unless the client closed the socket first.
        self._unbound: dict[bytes, Channel] = {}
        #: What arrived on those meanwhile, in order: (identity, request).
        self._unserved: list[tuple[bytes, bytes]] = []
        self.process: Process | None = None
        self.incarnations = 0
        self.requests = self.attempts = 0
        #: Why tries failed (the client tried again): `RETRY_CAUSES`.
        self.retries: dict[str, int] = dict.fromkeys(RETRY_CAUSES, 0)
        #: Process crashes, slow commits that stalled the process, fifo links
        #: broken or held (`retried` compares them with a try's `sent_at`).
        self.crashes = self.stalls = self.links = 0
        self.fault_kinds: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)
        #: The databases written since the oracle last looked (a COMMIT that writes).
        self.dirty: set[str] = set()
        self.quiescing = False
        self._crash_pending = False
        self._pushers = 0
        self._client_drop = self._client_dup = 0
        #: The next `charge` sent is held on its link, and the stock handler raises.
        self.stall_charge = False
        #: Clients only read from now on (an aimed fault: a full disk, then reads).
        self.reads_only = False
        #: Housekeeping steps stop here (the end of the current `run`).
        self.until = float("inf")
        #: The front door's last tick the oracle's deadline check saw.
        self._tick_seen = -1.0
        #: The roles whose file this world made with the oracle's triggers in it.
        self._stored: set[str] = set()

    # -- lifetime ---------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[World]:
        """Boot the first process; on exit stop it."""
        levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
        for name in _QUIET_LOGGERS:
            # Injected failures log tracebacks by design; the trace is the record here.
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        stop_all = pykka.ActorRegistry.stop_all
        pykka.ActorRegistry.stop_all = self._stop_all_on_loop  # type: ignore[method-assign]
        threshold = gc.get_threshold()
        # A run makes short-lived objects by the million (messages, futures, trace
        # lines): collect the youngest generation less often. Histories do not depend
        # on when the collector runs: the same trace hashes with it off, or at 700,
        # 5,000 or 20,000. Nothing is frozen (`gc.freeze`): that would freeze the
        # last run's world too, not yet collected, and a process running world after
        # world (a soak's worker) would keep every one of them (docs/simulation.md,
        # "Speed", "What a world left behind").
        gc.set_threshold(max(threshold[0], GC_YOUNGEST), *threshold[1:])
        try:
            if self.profile.swarm:
                self.note(f"profile {self.profile.describe()}")
            self.boot()
            try:
                yield self
            finally:
                self._halt()
                self.oracle.close()
        finally:
            gc.set_threshold(*threshold)
            pykka.ActorRegistry.stop_all = stop_all  # type: ignore[method-assign]
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)

    def _stop_all_on_loop(self, *args: Any, **kwargs: Any) -> Any:
        # In one thread, `ActorRegistry.stop_all()` waits for actors that can only
        # stop once this very thread returns: the real loop would block forever.
        self.oracle.fail("ActorRegistry.stop_all() called on a loop thread: that loop"
                         " would block forever")
        self.begin_crash()
        return []

    def note(self, line: str) -> None:
        self.trace.add(self.clock.now, line)

    # -- the env's factories ---------------------------------------------------------
    def _executor(self, workers: int) -> SimExecutor:
        assert self.process is not None
        return SimExecutor(self.process.loops["argon2"])

    def _database(self, path: Path | None, schema: Schema | str) -> Database:
        """The env's opener: the actors' databases, watched by the oracle. A file
        that does not exist yet is a copy of a new one (simulation/disk.py)."""
        oracle = self.oracle
        role = oracle.role_of(path)
        found = oracle.version(role) if role is not None else None
        if (path is not None and role is not None and found is None
                and isinstance(schema, Schema)):
            if self.options.scratch:
                new_file(path, schema, oracle.triggers(role))
                self._stored.add(role)
            else:
                new_file(path, schema)
        db = sim_database(path, schema)
        oracle.watch(path, db.conn, wrote=not (isinstance(schema, Schema)
                                               and found == schema.version),
                     stored=role in self._stored)
        return db

    def _make_pushers(self, ctx: Any) -> SimPushers:
        assert self.process is not None
        self._pushers += 1
        return SimPushers(self.process.network, f"push{self._pushers}")

    # -- the process ---------------------------------------------------------------
    def boot(self) -> None:
        """Start a process on the data folder, as `VendingSystem.start` does."""
        self.incarnations += 1
        number = self.incarnations
        network = Network(self.sched)
        network.tap = lambda endpoint, message: self._tap(number, endpoint, message)
        network.sent = self._sent if self.stall_charge else None
        loops = {name: SimLoop(self.sched, name) for name in
                 ("gatekeeper", "stock-handler", "front-door", "argon2", "supervisor")}
        ends = self.config.endpoints
        inlets = {"gatekeeper": SimInlet([ends.auth, ends.deposit], name="gatekeeper"),
                  "stock-handler": SimInlet([ends.post], name="stock-handler")}
        network.receivers.update({ends.auth: inlets["gatekeeper"],
                                  ends.deposit: inlets["gatekeeper"],
                                  ends.post: inlets["stock-handler"]})
        self.process = Process(number, network, loops, inlets)
        self.note(f"process {number} starts")
        for role in ("gatekeeper", "stock-handler"):
            self._start_backend(self.process, role)

    def _actor_class(self, role: str) -> type[BackendActor]:
        return GatekeeperActor if role == "gatekeeper" else StockHandlerActor

    def _start_backend(self, proc: Process, role: str) -> None:
        loop = cast(EventLoop, proc.loops[role])
        proc.refs[role] = self._actor_class(role).start(
            loop, proc.inlets[role], None, self.config,
            partial(self._child_failed, proc), None, None, None, self.env)

    def _child_failed(self, proc: Process, role: str) -> None:
        """The supervisor: restart a failed backend from its stored state (its own lane)."""
        if proc.dead or self.process is not proc or proc.network.crashing:
            return
        if not proc.restarts.allow(role, self.clock.now):
            self.note(f"supervisor gives up on {role}")
            return

        def restart() -> None:
            if not proc.dead:
                self.note(f"supervisor restarts {role}")
                self._start_backend(proc, role)
        restart.__qualname__ = f"restart-{role}"
        proc.loops["supervisor"].call_soon(restart)

    def _recovered(self, proc: Process) -> bool:
        ref = proc.refs.get("stock-handler")
        if ref is None or not ref.is_alive():
            return False
        return getattr(_actor_of(ref), "_recovering", ()) is None

    def _start_door(self, proc: Process) -> None:
        dispatch = Dispatch(None, self.config, None, self.env)  # type: ignore[arg-type]
        door = SimFrontDoor(proc.loops["front-door"], self.config.endpoints.status, dispatch,
                            self._send_reply, request_timeout=self.config.request_timeout,
                            clock=self.clock)
        proc.dispatch, proc.door = dispatch, door
        proc.network.receivers[self.config.endpoints.status] = door
        proc.loops["front-door"].call_soon(door.start_simulated)
        self.note(f"process {proc.number} serves clients")
        # The connections made meanwhile are made now; what waited on them is read.
        # (A client that closed one such socket forgot it: what it sent on it is gone.)
        unbound, self._unbound = self._unbound, {}
        proc.network.channels += unbound.values()
        unserved, self._unserved = self._unserved, []
        for identity, data in unserved:
            if identity in unbound:
                self._to_door(proc, identity, data, self._conns[identity].peer)

    def begin_crash(self) -> None:
        """The process dies now: nothing more leaves it (the rest at the step's end)."""
        if self.process is not None:
            self.process.network.crashing = True
        self._crash_pending = True

    def _crash(self, *, halt: bool = False) -> None:
        proc = self.process
        self._crash_pending = False
        if proc is None:
            return
        proc.dead = True
        self.crashes += not halt
        for loop in proc.loops.values():
            loop.kill()
        lost = proc.network.crash()
        # Every actor on the process's loops, not only the roles and the live
        # sessions: a session told to stop whose stop never ran (its loop died
        # first) is registered still, and Pykka's registry, which outlives the
        # world, would keep it, its loop and so the whole world.
        loops = {id(loop) for loop in proc.loops.values()}
        for ref in pykka.ActorRegistry.get_all():
            actor = _actor_of(ref)
            if id(getattr(actor, "loop", None)) not in loops:
                continue  # another world's, in the same process
            pykka.ActorRegistry.unregister(ref)
            actor.actor_stopped.set()
            db = getattr(actor, "db", None)
            if db is not None:
                db.conn.close()  # no COMMIT: what was not committed is gone
        # Every client connection made to it broke with the process.
        self._conns = {identity: self._conns[identity] for identity in self._unbound}
        self.process = None
        if halt:
            return  # the end of the run: not part of its history
        self.note(f"process {proc.number} crashed ({lost} fifo messages lost)")
        self.oracle.recheck_durable(self.clock.now - KEPT)
        self.oracle.check_storage(full=True)
        self.dirty = {"gatekeeper", "stock-handler"}
        self.sched.call_later(self.fault_rng.uniform(0.5, 5.0), self.boot)

    def _halt(self) -> None:
        """End of the simulation: stop the process as a crash would (nothing is left
        to finish), closing its databases."""
        if self.process is not None:
            self.begin_crash()
            self._crash(halt=True)
        self.sched.ready.clear()

    # -- clients and their connections -----------------------------------------------
    def add_client(self, name: str, role: str, *, autonomous: bool = True,
                   think: float | None = None) -> SimClient:
        if any(c.name == name for c in self.clients):
            raise ValueError(f"a client named {name!r} exists already")
        client = SimClient(self, name, role, think=self.options.think * self.profile.think
                           if think is None else think, autonomous=autonomous)
        client.on_final = self._final
        self.clients.append(client)
        client.start()
        return client

    def client_connect(self, client: SimClient, identity: bytes) -> Channel:
        self._conns[identity] = client
        peer = client.peer

        def to_door(data: bytes) -> None:
            if identity in self._unbound:
                self._unserved.append((identity, data))  # until a front door serves
                return
            proc = self.process
            if proc is None or proc.door is None or proc.network.crashing:
                return  # sent to a process that died since: lost, the client will time out
            self._to_door(proc, identity, data, peer)
        channel = Channel(self.sched, f"{client.name}>door", to_door)  # sent as "request"
        proc = self.process
        if proc is not None and proc.door is not None and not proc.network.crashing:
            proc.network.channels.append(channel)
        else:
            self._unbound[identity] = channel
        return channel

    @staticmethod
    def _to_door(proc: Process, identity: bytes, data: bytes, peer: str) -> None:
        """A client's request reaches `proc`'s front door: its loop reads it."""
        assert proc.door is not None
        receive = partial(proc.door.client_frames, identity, data, peer)
        receive.__qualname__ = "client_frames"  # type: ignore[attr-defined]
        proc.loops["front-door"].call_soon(receive)

    def forget_identity(self, identity: bytes) -> None:
        client = self._conns.pop(identity, None)
        if client is not None:
            self._left[identity] = client
        self._unbound.pop(identity, None)

    def client_send(self, client: SimClient, conn: Channel, body: bytes) -> bool:
        """Send a client's request; False if a `net` fault lost it."""
        if self._client_drop:
            self._client_drop -= 1
            self.note(f"fault net: {client.name}'s request lost")
            return False
        if self._client_dup:
            self._client_dup -= 1
            # A copy on another connection (a reconnect that resent it): its reply
            # goes to a socket the client no longer reads.
            ghost = self.client_connect(client, f"{client.name}#ghost".encode())
            ghost.send(body, "request")
            self.note(f"fault net: {client.name}'s request sent twice")
        conn.send(body, "request")
        return True

    def retried(self, attempt: Any, reply: dict[str, Any] | None = None) -> None:
        """A client tries `attempt` again: after `reply` (`UNAVAILABLE`), or after
        its timeout. Counted by cause (`RETRY_CAUSES`): a timeout by the first of its
        request lost by a `net` fault, then since the try was sent a process crash, a
        clock jump, a slow commit (`stall`: the process waited on it), a commit
        refused (`disk`: full or failing), a fifo link broken or held (`link`); else
        `other` (none of those: its request waited)."""
        sent, crashes, jumps, stalls, links, lost = attempt.sent_at
        if reply is not None:
            cause = "unavailable"
        elif lost:
            cause = "lost"
        elif self.crashes != crashes:
            cause = "crash"
        elif self.fault_kinds["clock"] != jumps:
            cause = "clock"
        elif self.stalls != stalls:
            cause = "stall"
        elif max(self.faults.disk.refused_at.values(), default=-1.0) >= sent:
            cause = "disk"
        elif self.links != links:
            cause = "link"
        else:
            cause = "other"
        self.retries[cause] += 1

    def _send_reply(self, identity: bytes, data: bytes) -> bool:
        proc = self.process
        client = self._conns.get(identity)
        if proc is None or proc.network.crashing:
            return False
        if client is None:
            # The ROUTER drops a reply to a peer gone since (the client's timeout
            # closed it): what it said is still noted, as for a reply that reaches a
            # connection left (`SimClient.deliver`). An ok dropped here took effect,
            # and a client that then retries until its key expires never learns it.
            left = self._left.get(identity)
            if left is not None:
                left.deliver(identity, data)
            return False
        channel = Channel(self.sched, f"door>{client.name}", partial(client.deliver, identity))
        channel.once = True
        proc.network.add_channel(channel)
        channel.send(data, "reply")
        return True

    def _final(self, client: SimClient, attempt: Any) -> None:
        message, reply = attempt.message, attempt.final
        outcome = "ok" if reply.get("ok") else reply.get("error")
        self.note(f"{client.name} {message['op']} {message.get('req_id', '-')} {outcome}"
                  f" after {attempt.tries} tries")
        self.oracle.final_reply(client.name, message, reply, self.clock.now,
                                attempt.started)

    def session_refused(self, client: SimClient) -> None:
        """`client`'s session was refused: it must have been idle, or too old, or the
        gatekeeper's storage failed lately (touches are skipped then)."""
        now = self.clock.now
        policy = SessionPolicy(idle=self.config.session_idle)
        failed = self.faults.disk.refused_at.get("gatekeeper", -1e18)
        if (now - client.session_used < policy.idle - policy.touch_every - 1.0
                and now - client.session_started < policy.max_age
                and now - failed > policy.idle):
            self.oracle.fail(f"session in use expired: {client.name} used it"
                             f" {now - client.session_used:.1f}s ago")

    def _tap(self, number: int, endpoint: str, message: dict[str, Any]) -> None:
        if endpoint == self.config.endpoints.status:
            self.oracle.status_sent(number, message)

    # -- faults ---------------------------------------------------------------------------
    def _fault(self) -> None:
        """A fault comes this step (`step` drew it, at the seed's rate): which, and
        where."""
        profile = self.profile
        kinds = profile.kinds
        rng = self.fault_rng
        kind = rng.choice(sorted(kinds))
        proc = self.process
        if kind in ("crash", "disk", "net") and proc is None:
            return  # nothing running to hurt
        assert proc is not None or kind == "clock"
        self.fault_kinds[kind] += 1
        # The fixed configuration's variants are every variant, in swarm.VARIANTS'
        # order: the draws (so the histories) of seeds run before swarm testing.
        variants = profile.variants[kind]
        if kind == "crash":
            self._fault_crash(rng, variants)
        elif kind == "disk":
            self._fault_disk(rng, variants)
        elif kind == "net":
            self._fault_net(rng, variants)
        else:
            spans = {"seconds": rng.uniform(1, 20), "minutes": rng.uniform(60, 600),
                     "hour": rng.uniform(1800, 4000)}
            if "near-idle" in variants:
                spans["near-idle"] = rng.uniform(1500, 1790)
            seconds = rng.choice([spans[v] for v in variants])
            self.clock.jump(seconds)
            self.note(f"fault clock: jumps {seconds:.3f}s")

    def _fault_disk(self, rng: random.Random, variants: tuple[str, ...]) -> None:
        role = rng.choice(("gatekeeper", "stock-handler"))
        what = rng.choice(variants)
        if what == "full-then-reads":
            until = self.clock.now + rng.uniform(1, 60)
            self.faults.disk.failing["gatekeeper"] = ("full", until)
            self.reads_only = True
            self.note(f"fault disk: gatekeeper full until {until:.3f}, then clients only read")
        elif what == "slow":
            seconds = rng.choice((0.05, 0.5, 2.0, 12.0))
            self.faults.disk.slow[role] = seconds
            self.note(f"fault disk: {role}'s next commit takes {seconds}s")
        elif what == "aimed-commit":
            kind = rng.choice(("full", "ioerror"))
            # Both roles, each at its own next such commit.
            self.faults.disk.aimed_commit.update(dict.fromkeys(ROLES, kind))
            self.note(f"fault disk: armed {kind} at the gatekeeper's next commit that holds"
                      " a password check and the stock handler's that settles a purchase")
        else:
            until = self.clock.now + (rng.uniform(1, 60) if what == "full"
                                      else rng.uniform(0, 1))
            self.faults.disk.failing[role] = (what, until)
            self.note(f"fault disk: {role} {what} until {until:.3f}")

    def commit_matters(self, role: str) -> bool:
        """`role`'s open transaction is at a moment an aimed fault waits for: the
        gatekeeper's queued password work (a login's check), or the stock handler's
        batch settles a charged purchase."""
        proc = self.process
        if proc is None:
            return False
        if role == "stock-handler":
            return "charged" in proc.inlets[role].last_kinds()
        ref = proc.refs.get(role)
        actor = _actor_of(ref) if ref is not None else None
        return bool(getattr(actor, "_queued_now", None))

    def _fault_crash(self, rng: random.Random, variants: tuple[str, ...]) -> None:
        what = rng.choice(variants)
        if what == "now":
            self.note("fault crash process now")
            self.begin_crash()
        elif what in ("before-commit", "after-commit"):
            self.faults.crash_at_commit = what.split("-")[0]
            self.note(f"fault crash process armed {what}")
        elif what == "before-send":
            self.faults.crash_before_send = True
            self.note("fault crash process armed before-send")
        elif what in ("gatekeeper", "stock-handler", "saga-stall") and self._spent(
                "stock-handler" if what == "saga-stall" else what):
            self.note(f"fault crash actor {what} not armed: half its restart budget is spent")
        elif what == "saga-stall":
            self.arm_saga_stall()
            self.note("fault crash armed saga-stall (the next charge held, the stock"
                      " handler raises)")
        else:
            self.faults.raise_in_batch.add(what)
            self.note(f"fault crash actor armed {what}")

    def arm_saga_stall(self) -> None:
        """The next `charge` sent is held on its link 1 to 10 s, and the stock
        handler raises in its next batch (its recovery then runs meanwhile)."""
        self.stall_charge = True
        if self.process is not None:
            self.process.network.sent = self._sent

    def _spent(self, role: str) -> bool:
        """`role` restarted half the times the supervisor allows within its window.

        The supervisor gives up on an actor that fails more often (a poison message
        must not spin the machine forever; actors/supervisor.py), and the role is
        then gone until an operator restarts the process: by design, not a fault of
        the code. Injected actor failures stay under that budget, so a give-up
        still means the code itself failed that often (seed 67's bug did)."""
        proc = self.process
        if proc is None:
            return False
        budget = proc.restarts
        # Within the window that ends now, not at the last restart (maybe long ago).
        return budget.recent(role, self.clock.now) >= budget.max_restarts // 2

    def _sent(self, channel: Channel, message: dict[str, Any]) -> None:
        """A fifo message was queued on `channel` (the network's hook): an aimed
        fault may be waiting for it."""
        if self.stall_charge and message.get("k") == "charge":
            self.stall_charge = False
            if self.process is not None:
                self.process.network.sent = None
            seconds = self.fault_rng.uniform(1.0, 10.0)
            channel.delay(seconds)
            self.links += 1
            self.faults.raise_in_batch.add("stock-handler")
            self.note(f"fault crash saga-stall: {channel.name} held {seconds:.3f}s,"
                      " stock-handler armed to raise")

    def _fault_net(self, rng: random.Random, variants: tuple[str, ...]) -> None:
        proc = self.process
        assert proc is not None
        what = rng.choice(variants)
        channels = [c for c in proc.network.channels if not c.closed and len(c)]
        if what == "client-drop":
            self._client_drop += 1
            self.note("fault net: armed client request loss")
        elif what == "client-dup":
            self._client_dup += 1
            self.note("fault net: armed client request duplicate")
        elif not channels:
            self.note(f"fault net: {what} finds nothing in flight")
        elif what == "reconnect":
            channel = rng.choice(channels)
            self.note(f"fault net: {channel.name} reconnects, {channel.reconnect()} lost")
            self.links += 1
        else:
            channel = rng.choice(channels)
            seconds = rng.choice((0.2, 1.0, 5.0, 30.0))  # 30: a stalled TCP link
            channel.delay(seconds)
            self.links += 1
            self.note(f"fault net: {channel.name} held {seconds}s")

    # -- running -------------------------------------------------------------------------
    def step(self) -> bool:
        """One step, then the oracle. False when nothing at all is left to run."""
        profile = self.profile
        if profile.kinds and not self.quiescing and self.fault_rng.random() < profile.fault_rate:
            self._fault()
        sched = self.sched
        try:
            if profile.batch_idle and not sched.ready:
                ran = sched.idle_run(self.until, IDLE_LIMIT, self._crashing)
                line = f"housekeeping: {ran} steps" if ran else sched.step()
            else:
                line = sched.step()
        except Exception as exc:  # noqa: BLE001 - a real loop thread would die of it
            self.oracle.fail(f"a loop thread died: {type(exc).__name__}: {exc}")
            return False
        if line is None:
            return False
        self.trace.add(self.clock.now, line)
        if self._crash_pending:
            self._crash()
        proc = self.process
        if proc is not None and proc.door is None and self._recovered(proc):
            self._start_door(proc)
        if self.dirty:
            self.oracle.check_storage(changed=self.dirty)
            self.dirty = set()
        if proc is not None:
            door = proc.door
            if door is not None and door.last_tick != self._tick_seen:
                # Between two ticks a request only joins or leaves the heap
                # (oracle.check_deadlines): once per tick sees all there is to see.
                self._tick_seen = door.last_tick
                self.oracle.check_deadlines(door)
        return True

    def run(self, steps: int | None, until: float) -> None:
        """Steps until `steps` more ran (None: no limit) or the clock reaches
        `until`, or a violation, or nothing is left to run."""
        self.until = until
        limit = self.sched.steps + steps if steps is not None else None
        sched, clock, violations, step = self.sched, self.clock, self.oracle.violations, self.step
        while not violations and clock.now < until and (limit is None or sched.steps < limit):
            if not step():
                break

    def _crashing(self) -> bool:
        return self._crash_pending

    def _quiet(self) -> bool:
        """Serving, no client waiting, no purchase half done: the ledger may be checked."""
        proc = self.process
        return (proc is not None and proc.door is not None
                and not any(c.busy() for c in self.clients)
                and self.oracle.settled())

    def quiesce(self, limit: float = 900.0) -> None:
        """Faults off, no new requests: let every request in flight finish, then
        compare what clients were told with what is stored."""
        self.quiescing = True
        until = self.clock.now + limit
        self.until = until
        while self.clock.now < until and not self.oracle.violations:
            if self._quiet():
                break
            if not self.step():
                break
        busy = [c.name for c in self.clients if c.busy()]
        if busy:
            self.oracle.fail(f"requests never resolved within {limit:.0f}s after faults"
                             f" stopped: {', '.join(busy)}")
        elif not self.oracle.settled():
            self.oracle.fail(f"purchases still half done {limit:.0f}s after faults stopped")
        self.oracle.check_storage(full=True)
        self.oracle.check_ledger({c.name: c.username for c in self.clients
                                  if c.role == "buyer"})
        self.note(f"quiet: {len(self.oracle.violations)} violation(s)")
