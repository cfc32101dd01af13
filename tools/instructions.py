"""Instructions per purchase: a deterministic figure for the server's CPU per purchase.

`python -m tools.instructions` runs a one-thread workload of real purchases through
the real parts, under `valgrind --tool=callgrind`, and prints the instructions the
server's loop spent per purchase. Instruction counts do not depend on what else the
machine is doing, so two builds can be compared on a busy machine, where timings
cannot (README, "Benchmark and performance").

The workload: an embedded `VendingSystem` on one loop (the front door's ROUTER,
dispatch and the session pool, real inproc ZeroMQ fifos, the gatekeeper and the stock
handler with their SQLite files, WAL, `synchronous=FULL`, in a temporary folder),
a seller with a deep product and `--clients` registered buyers. Each round, every
buyer's REQ socket sends a deposit, then, all deposits answered, a buy (the bench's
"deposit a coin, buy one unit", tools/loadgen.py): a batch of `--clients` purchases.

What makes it repeatable:
- the loop is driven from inside one of its own callbacks, in turns that run its
  callbacks and ready sockets until nothing is left to do (`EventLoop.turn`), never
  its timers (they fire on wall time);
- only the measured rounds are counted: they run inside `sys.call_tracing` (no
  tracing is set, so it only calls them) and callgrind counts only inside that C
  function (`--toggle-collect`); start-up, registration and `--warmup` rounds are left
  out, and no other thread has work meanwhile;
- the clock stands still (`StillClock`: read through C callables, as cheaply as the
  real clock), entropy is seeded (`SimEntropy`), argon2 is at its lowest cost and
  PYTHONHASHSEED is fixed, so the data stored, and so SQLite's pages, are the same
  each run.

The count includes the buyers' side of each request (a REQ send and recv of bytes
encoded before the measured rounds): a few thousand instructions, the same in any
build.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The C function the measured rounds run inside: callgrind counts only there.
TOGGLE = "sys_call_tracing"
PASSWORD = "harness-password-1"
#: Loop turns one exchange may take before the harness gives up (a lost reply).
MAX_TURNS = 10_000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.instructions",
                                     description="Instructions per purchase (callgrind).")
    parser.add_argument("--clients", type=int, default=32,
                        help="buyers, so purchases per round (default 32)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds counted (default 4)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="rounds run first and not counted (default 2)")
    parser.add_argument("--out", metavar="FILE",
                        help="keep callgrind's output here (for callgrind_annotate)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--workload", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.clients, args.rounds) < 1 or args.warmup < 0:
        parser.error("--clients and --rounds must be at least 1, --warmup at least 0")
    if args.workload:  # the child valgrind runs
        print(json.dumps(workload(args.clients, args.rounds, args.warmup)))
        return 0
    figures = measure(args.clients, args.rounds, args.warmup, args.out)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{figures['per_purchase']:,} instructions per purchase "
              f"({figures['instructions']:,} for {figures['purchases']} purchases: "
              f"{args.rounds} rounds of {args.clients}, after {args.warmup} not counted)")
    return 0


def measure(clients: int, rounds: int, warmup: int, out: str | None = None) -> dict[str, int]:
    """Run the workload under callgrind; its figures.

    Raises:
        RuntimeError: valgrind failed, or counted nothing (a Python built without
            symbols has no `sys_call_tracing` to toggle on).
    """
    with tempfile.TemporaryDirectory(prefix="vending-instructions-") as tmp:
        cmd = ["valgrind", "--tool=callgrind", f"--toggle-collect={TOGGLE}",
               f"--callgrind-out-file={out or Path(tmp) / 'callgrind.out'}",
               sys.executable, "-m", "tools.instructions", "--workload",
               f"--clients={clients}", f"--rounds={rounds}", f"--warmup={warmup}"]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    collected = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or collected is None:
        raise RuntimeError(f"valgrind failed ({done.returncode}):\n{done.stderr[-3000:]}")
    instructions = int(collected.group(1))
    if instructions == 0:
        raise RuntimeError(f"callgrind counted nothing: no {TOGGLE} symbol in this Python?")
    figures: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    purchases = figures["purchases"]
    return {**figures, "instructions": instructions,
            "per_purchase": round(instructions / purchases)}


class StillClock:
    """A clock that stands still at `wall` (monotonic 0.0), read as the real one is, by a
    C callable (a Python method per read would count about 800 instructions the real
    server does not spend: a purchase reads the clock about 20 times)."""

    def __init__(self, wall: float) -> None:
        self.time = itertools.repeat(wall).__next__
        self.monotonic = itertools.repeat(0.0).__next__


def workload(clients: int, rounds: int, warmup: int) -> dict[str, int]:
    """Start a system, register the buyers, run `warmup` rounds and then `rounds`
    counted ones; the requests and purchases of the counted rounds.

    Raises:
        RuntimeError: a request failed or got no reply.
    """
    # As `vending serve` takes them, before anything loads SQLite.
    from vending import sqlite_library
    sqlite_library.configure()
    # Imported here: the parent process only runs valgrind.
    from actors.env import Env
    from actors.system import VendingSystem
    from simulation.clock import EPOCH
    from simulation.seams import CHEAP_ARGON2, SimEntropy
    from vending.credentials import Credentials

    entropy = SimEntropy(random.Random(19))
    env = Env(clock=StillClock(EPOCH), entropy=entropy,
              credentials=Credentials(entropy, CHEAP_ARGON2, salts=SimEntropy(random.Random(20))))
    with tempfile.TemporaryDirectory(prefix="vending-instructions-") as folder, \
            VendingSystem(data_dir=folder, binds=(), env=env) as system:
        with system.client(timeout=120) as seller:
            seller.register("harness_seller", PASSWORD, "seller")
            product = seller.sell("harness-cola", 5, 1_000_000)["product_uid"]
        sessions = []
        for i in range(clients):
            with system.client(timeout=120) as buyer:
                buyer.register(f"harness_{i}", PASSWORD)
                sessions.append({"wsess_uid": buyer.wsess_uid, "token": buyer.token})
        assert system.door is not None
        loop = system.door.loop
        endpoint = system.config.inproc_door
        replies = loop.call_and_wait(
            lambda: _drive(system, endpoint, sessions, product, rounds, warmup), timeout=3600)
    return _tally(replies, clients * rounds)


def _drive(system: Any, endpoint: str, sessions: list[dict[str, Any]], product: str,
           rounds: int, warmup: int) -> list[bytes]:
    """The rounds, run in the loop thread (one of its callbacks): the warm-up ones,
    then the counted ones inside `sys.call_tracing`; the counted rounds' replies."""
    import zmq

    from transport.codec import encode

    assert system.ctx is not None and system.door is not None
    loop = system.door.loop
    socks = []
    for _ in sessions:
        sock = system.ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        socks.append(sock)
    try:
        # Every frame made before the counted rounds: each step's frames, per round.
        plan = [[[encode({"op": "deposit", "amount": 5, "req_id": f"d{r}-{i}", **creds})
                  for i, creds in enumerate(sessions)],
                 [encode({"op": "buy", "product_uid": product, "amount": 1,
                          "req_id": f"b{r}-{i}", **creds})
                  for i, creds in enumerate(sessions)]]
                for r in range(warmup + rounds)]
        _rounds(loop, socks, plan[:warmup], [])
        replies: list[bytes] = []
        sys.call_tracing(_rounds, (loop, socks, plan[warmup:], replies))
        return replies
    finally:
        for sock in socks:
            sock.close()


def _rounds(loop: Any, socks: list[Any], plan: list[list[list[bytes]]],
            replies: list[bytes]) -> None:
    """Each step of each round: every socket sends its frame, the loop turns until it
    has nothing left to do, then every socket takes its reply."""
    import zmq

    for steps in plan:
        for frames in steps:
            for sock, frame in zip(socks, frames, strict=True):
                sock.send(frame)
            for _ in range(MAX_TURNS):
                if not loop.turn(wait=False):
                    break
            else:
                raise RuntimeError(f"the loop was still busy after {MAX_TURNS} turns")
            for sock in socks:
                replies.append(sock.recv(zmq.NOBLOCK))  # Again here: a lost reply


def _tally(replies: list[bytes], purchases: int) -> dict[str, int]:
    from transport.codec import decode_map

    failed = [reply for reply in map(decode_map, replies) if not reply.get("ok")]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(replies)} requests failed, e.g. {failed[0]}")
    return {"requests": len(replies), "purchases": purchases}


if __name__ == "__main__":
    sys.exit(main())
