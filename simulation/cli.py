"""`vending simulate`: the deterministic simulator's command line, and `--live`.

Two modes, told apart by one flag:
- default: the deterministic simulation (this package): one seed, one history,
  the real actors on one thread, faults from the seed; last line
  `simulate: seed=N steps=S requests=R faults=F violations=V trace=HEX`;
- `--live` (or `--endpoint`): tools/simulate.py, threads of simulated users
  against a real embedded system or a running server; not replayable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from tools import simulate as live
from vending import sqlite_library

from .kinds import FAULT_KINDS, parse_faults
from .soak import run_seeds

if TYPE_CHECKING:
    from .api import Result

__all__ = ["add_command", "replay_command", "run_seed"]

DEFAULT_STEPS = 10_000
DEFAULT_CLIENTS = 8


def _faults(text: str) -> str:
    try:
        parse_faults(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def add_command(sub: Any) -> None:
    """Register `vending simulate` on the `vending` command's subparsers."""
    p = sub.add_parser(
        "simulate", help="deterministic simulation from a seed (or --live: against a system)",
        description="Run the real actors, rules and SQLite storage on one thread with a "
        "simulated loop, clock, fifos and disk, driven by simulated buyers and sellers that "
        "time out and retry with the same req_id; inject the seed's faults; check every "
        "guarantee after every step. Same seed, same build, same options: the same trace "
        "hash. Exit 0 iff no violation. " + live.LIVE_DESCRIPTION)
    p.add_argument("--seed", type=int, default=0, help="the seed (default 0)")
    p.add_argument("--steps", type=_positive, default=DEFAULT_STEPS,
                   help=f"steps to run before the quiet end (default {DEFAULT_STEPS})")
    p.add_argument("--hours", type=float, default=0.0,
                   help="run this much simulated time instead of --steps")
    p.add_argument("--clients", type=_positive, default=DEFAULT_CLIENTS,
                   help=f"simulated clients, a quarter of them sellers (default "
                   f"{DEFAULT_CLIENTS})")
    p.add_argument("--think", type=float, default=2.0,
                   help="mean simulated seconds a client waits between requests (default 2)")
    p.add_argument("--faults", type=_faults, default="all",
                   help=f"all (default), none, or a comma list of {', '.join(FAULT_KINDS)}")
    p.add_argument("--no-swarm", dest="swarm", action="store_false",
                   help="every seed runs one configuration (every kind in --faults, every "
                   "variant, one fault per 300 steps) instead of drawing its own (default: "
                   "swarm, each seed draws its kinds, rates, client mix and timeouts)")
    p.add_argument("--no-idle-batch", dest="batch_idle", action="store_false",
                   help="every timer firing is a step of its own, even with nothing else "
                   "runnable (with --no-swarm: the schedule of the regression seeds found "
                   "before swarm testing; default: such housekeeping runs as one step)")
    p.add_argument("--trace", action="store_true", help="print the history before the last "
                   "line")
    p.add_argument("--replay", type=int, metavar="N",
                   help="the same as --seed N --trace (default: none, a run of --seed)")
    p.add_argument("--seeds", type=_positive, metavar="COUNT",
                   help="run COUNT seeds from --seed on (a soak): one line per seed "
                   "(default: 1, the one seed)")
    p.add_argument("--jobs", type=_positive, default=1, metavar="J",
                   help="with --seeds: run the seeds in J worker processes side by side "
                   "(one per core; the same histories, printed in seed order; default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead "
                   "(seeds: one per line)")
    p.add_argument("--live", action="store_true",
                   help="the threaded simulation against a real system instead (below)")
    group = p.add_argument_group("--live mode")
    live.add_live_arguments(group)
    p.set_defaults(func=simulate_command)


def run_seed(seed: int, *, steps: int = DEFAULT_STEPS, clients: int = DEFAULT_CLIENTS,
             faults: str = "all", hours: float = 0.0, think: float = 2.0,
             trace: bool = False, swarm: bool = True,
             batch_idle: bool = True) -> tuple[Result, list[str]]:
    """One seed's run as the command line does it: `clients` clients (a quarter
    sellers, at least one), `steps` steps (or `hours`), then the quiet end;
    `swarm`: the seed draws its configuration (simulation/swarm.py)."""
    from .api import Simulation  # the server's modules: only when a run starts

    with Simulation(seed=seed, faults=faults, think=think, trace=trace,
                    swarm=swarm, batch_idle=batch_idle) as sim:
        sellers = max(1, clients // 4) if clients > 1 else 0
        for i in range(clients - sellers):
            sim.buyer(f"buyer{i}")
        for i in range(sellers):
            sim.seller(f"seller{i}")
        if hours:
            sim.run(hours=hours)
        else:
            sim.run(steps=steps)
        result = sim.finish()
        lines = sim.trace_lines
    return result, lines


def replay_command(args: argparse.Namespace, seed: int) -> str:
    """The one command that runs `seed` again, with the trace."""
    extra = ""
    if args.hours:
        extra += f" --hours {args.hours:g}"
    elif args.steps != DEFAULT_STEPS:
        extra += f" --steps {args.steps}"
    if args.clients != DEFAULT_CLIENTS:
        extra += f" --clients {args.clients}"
    if args.think != 2.0:
        extra += f" --think {args.think:g}"
    if args.faults != "all":
        extra += f" --faults {args.faults}"
    if not args.swarm:
        extra += " --no-swarm"
    if not args.batch_idle:
        extra += " --no-idle-batch"
    return f"vending simulate --replay {seed}{extra}"


def simulate_command(args: argparse.Namespace) -> int:
    if args.live or args.endpoint:
        return live.simulate_command(args)
    if args.replay is not None:
        args.seed, args.trace = args.replay, True
    count = args.seeds or 1
    failed = requests = 0
    # This process runs seeds itself with one job (docs/design.md, "The SQLite
    # library's settings"); the soak's workers set it each (simulation/soak.py).
    sqlite_library.configure()
    started, cpu_before = time.monotonic(), _cpu_seconds()
    seeds = range(args.seed, args.seed + count)
    runs = run_seeds(seeds, args.jobs, steps=args.steps, clients=args.clients,
                     faults=args.faults, hours=args.hours, think=args.think,
                     trace=args.trace, swarm=args.swarm, batch_idle=args.batch_idle)
    for seed, (result, lines) in zip(seeds, runs, strict=True):
        requests += result.requests
        if args.trace:
            sys.stdout.writelines(lines)
        if result.violations:
            failed += 1
            if not args.json:
                for line in result.violations:
                    print(f"violation: {line}")
                print(f"failing seed {seed}; replay: {replay_command(args, seed)}")
        if args.json:
            out = result.as_dict()
            if result.violations:
                out["replay"] = replay_command(args, seed)
            print(json.dumps(out, sort_keys=True))
        else:
            print(result.line(), flush=True)
    if count > 1 and not args.json:
        wall, cpu = time.monotonic() - started, _cpu_seconds() - cpu_before
        print(f"simulate: seeds {args.seed}..{args.seed + count - 1}: {failed} failed; "
              f"{requests} requests in {wall:.1f} s wall, {requests / wall:.0f} per wall "
              f"second, {args.jobs} job(s); {cpu:.1f} s CPU, "
              f"{1000 * cpu / max(requests, 1):.3f} ms CPU a request")
    return 1 if failed else 0


def _cpu_seconds() -> float:
    """User and system CPU of this process and of its workers, once they have exited
    (the pool is closed when the last seed is in): the wall rate shows what the
    machine gave, this what the seeds cost, whatever else ran beside them."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system
