"""`Simulation`: the deterministic simulator as a Python API for your own tests.

    with Simulation(seed=7, faults="all") as sim:
        ann = sim.buyer("ann")
        sim.seller("sam")
        sim.run(hours=2)
    assert sim.result.violations == []

See docs/simulation.md.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from .clients import SimClient
from .world import FAULT_RATE, World, WorldOptions, parse_faults

__all__ = ["Result", "Simulation"]


@dataclass
class Result:
    """What a run did and found (the CLI's last line and `--json`)."""

    seed: int
    steps: int
    requests: int
    faults: int
    violations: list[str]
    trace: str
    simulated_s: float
    wall_s: float
    fault_kinds: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    #: Why tries failed, by cause (`World.retried`): `attempts - requests` in all
    #: once every request is answered.
    retries: dict[str, int] = field(default_factory=dict)
    #: What the seed ran (swarm.Profile.describe): "fixed" without swarm testing.
    profile: str = "fixed"

    def line(self) -> str:
        return (f"simulate: seed={self.seed} steps={self.steps} requests={self.requests} "
                f"faults={self.faults} violations={len(self.violations)} trace={self.trace}")

    def as_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "steps": self.steps, "requests": self.requests,
                "faults": self.faults, "violations": len(self.violations),
                "trace": self.trace, "simulated_s": round(self.simulated_s, 6),
                "wall_s": round(self.wall_s, 3), "fault_kinds": self.fault_kinds,
                "attempts": self.attempts, "retries": self.retries,
                "violation_lines": self.violations,
                "profile": self.profile,
                "requests_per_wall_s": round(self.requests / self.wall_s, 1) if self.wall_s
                else 0.0}


class Simulation:
    """One seed's world: the real actors on one thread, simulated everything else.

    Args:
        seed: everything random in the run comes from it.
        faults: "all", "none", or a comma list of crash, disk, net, clock.
        think: mean simulated seconds a client waits between its requests.
        trace: keep the trace's lines (`trace_lines`), not only its hash.
        data_dir: where the SQLite files go (default: a fresh temporary folder,
            whose files also hold the oracle's triggers: simulation/disk.py; the
            files of a folder given here hold only the schema, so a real vending
            can open them afterwards).
        fault_rate: chance per step of a fault (without `swarm`).
        swarm: the seed draws its own configuration within `faults` (which kinds
            and variants, how often, the clients' mix, think time and timeout;
            simulation/swarm.py); else the fixed one.
        batch_idle: housekeeping with nothing else runnable (the loops' timers:
            the front door's looks, heartbeats, backend upkeep)
            runs as one step (False: a step per timer firing, the histories of
            seeds found before it).
    """

    def __init__(self, seed: int = 0, faults: str = "all", *, think: float = 2.0,
                 trace: bool = False, data_dir: str | Path | None = None,
                 fault_rate: float = FAULT_RATE, swarm: bool = False,
                 batch_idle: bool = True) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"vending-sim-{seed}-")
            data_dir = self._tmp.name
        self.world = World(WorldOptions(seed=seed, data_dir=Path(data_dir),
                                        faults=parse_faults(faults), think=think,
                                        keep_trace=trace, fault_rate=fault_rate,
                                        swarm=swarm, batch_idle=batch_idle,
                                        scratch=self._tmp is not None))
        self._ctx: Any = None
        self._wall = 0.0
        self._finished = False

    def __enter__(self) -> Simulation:
        self._started = time.perf_counter()
        self._ctx = self.world.running()
        self._ctx.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None and not self._finished:
                self.finish()
        finally:
            self._ctx.__exit__(exc_type, exc, tb)
            if self._tmp is not None:
                self._tmp.cleanup()

    # -- clients ----------------------------------------------------------------
    def buyer(self, name: str, *, autonomous: bool = True,
              think: float | None = None) -> SimClient:
        """A buyer that registers, then (autonomous) deposits, buys, resets and
        browses on its own; or, with `autonomous=False`, sends what you queue."""
        return self.world.add_client(name, "buyer", autonomous=autonomous, think=think)

    def seller(self, name: str, *, autonomous: bool = True,
               think: float | None = None) -> SimClient:
        return self.world.add_client(name, "seller", autonomous=autonomous, think=think)

    # -- running --------------------------------------------------------------------
    def run(self, *, steps: int | None = None, hours: float = 0.0, minutes: float = 0.0,
            seconds: float = 0.0) -> None:
        """Run `steps` more steps, or for that much more simulated time, or both
        (whichever ends first); stops early at the first violation."""
        world = self.world
        span = hours * 3600 + minutes * 60 + seconds
        until = world.clock.now + span if span else float("inf")
        if steps is None and not span:
            raise ValueError("give steps= or a simulated time (hours=, minutes=, seconds=)")
        world.run(steps, until)

    def finish(self) -> Result:
        """Stop faults and new requests, let what is in flight finish, check the
        ledger. Called by the `with` block's end if you do not."""
        if not self._finished:
            self._finished = True
            if not self.world.oracle.violations:
                self.world.quiesce()
            self._wall = time.perf_counter() - self._started
        return self.result

    @property
    def violations(self) -> list[str]:
        return list(self.world.oracle.violations)

    @property
    def result(self) -> Result:
        world = self.world
        wall = self._wall or time.perf_counter() - self._started
        return Result(seed=world.seed, steps=world.sched.steps, requests=world.requests,
                      faults=sum(world.fault_kinds.values()),
                      violations=list(world.oracle.violations),
                      trace=world.trace.hexdigest(), simulated_s=world.clock.now,
                      wall_s=wall, fault_kinds=dict(world.fault_kinds),
                      attempts=world.attempts, retries=dict(world.retries),
                      profile=world.profile.describe())

    @property
    def trace_lines(self) -> list[str]:
        return list(self.world.trace.lines)
