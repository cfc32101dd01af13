"""Swarm testing: each seed draws its own configuration (docs/simulation.md, "Swarm").

One fault plan for every seed spreads each seed's faults over every kind, so a
bug that needs one kind of trouble, concentrated, at the right moment (a full
disk and then only reads for half an hour; a failed commit of the one batch that
holds a password check) is almost never met. Swarm testing (Groce et al., "Swarm
Testing", ISSTA 2012) draws, per seed, which features are on: here which fault
kinds and which of their variants, how often faults come, what the clients do
(their mix of requests), how long they wait for a reply, and faults aimed at a
moment (a commit of a batch that holds a password check or settles a purchase;
a purchase's `charge`
held on its link while the stock handler restarts). Some seeds then do one thing
hard; across seeds every combination is tried.

Everything is drawn from `random.Random(f"{seed}:swarm")`, so it is a function of
the seed like the rest of the run. `fixed(kinds)` is the one configuration every
seed ran before swarm testing (every variant of every kind on, one fault per 300
steps): `--no-swarm` runs it; with `--no-idle-batch` too (every timer firing its
own step), a seed's history is what it was before both, which is how the seeds
kept as regression tests (tests/simulation/test_regressions.py) replay.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

__all__ = ["FIXED_RATE", "MIXES", "VARIANTS", "Profile", "draw", "fixed"]

#: Chance per step that some fault is injected, in the fixed configuration.
FIXED_RATE = 1 / 300

#: Each kind's variants, in the order the fixed configuration draws them from.
VARIANTS: dict[str, tuple[str, ...]] = {
    "crash": ("now", "before-commit", "after-commit", "before-send", "gatekeeper",
              "stock-handler"),
    "disk": ("full", "ioerror", "slow"),
    "net": ("reconnect", "delay", "client-drop", "client-dup"),
    "clock": ("seconds", "minutes", "hour"),
}
#: Variants only a swarm draws (aimed at a moment, or at a timeout's edge).
SWARM_ONLY: dict[str, tuple[str, ...]] = {
    # The stock handler restarts while a purchase's `charge` is held on its link.
    "crash": ("saga-stall",),
    # The next commit at a moment that matters fails (a gatekeeper batch that holds
    # a password check; a stock handler batch that settles a charged purchase);
    # the gatekeeper's disk is full, then clients only read (nothing writes to end
    # the episode).
    "disk": ("aimed-commit", "full-then-reads"),
    "net": (),
    # Just under the 30 min session idle time: sessions in use must survive it.
    "clock": ("near-idle",),
}

#: Client mixes: a buyer's cumulative thresholds for (auth, products, reset,
#: profile, buy) on one draw of its RNG (clients.py); else it deposits.
MIXES: dict[str, tuple[float, float, float, float, float]] = {
    "default": (0.03, 0.10, 0.14, 0.17, 0.22),
    # Logins again among deposits: password checks share batches with writes.
    "logins": (0.30, 0.36, 0.40, 0.42, 0.50),
    # Only reads once registered: nothing writes to end a storage episode.
    "reads": (0.0, 0.5, 0.5, 1.0, 1.0),
    # Buying hard from little stock (sellers stock 1 or 2 and take units out).
    "scarce": (0.02, 0.06, 0.08, 0.10, 0.45),
}
#: Seconds a client waits for a reply before it tries again: 12 s (over the front
#: door's 10 s deadline), 5 s, or the reference clients' 2 s (docs/protocol.md
#: section 9), which retries while the first try may still be in flight.
TIMEOUTS = (12.0, 5.0, 2.0)


@dataclass(frozen=True)
class Profile:
    """One seed's configuration."""

    kinds: frozenset[str]
    variants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fault_rate: float = FIXED_RATE
    mix: str = "default"
    #: Multiplies the clients' think time.
    think: float = 1.0
    timeout: float = TIMEOUTS[0]
    #: Clients send on a shared beat (the next multiple of this many simulated
    #: seconds after they are done thinking), so requests come in bursts and share
    #: batches; 0: whenever each is done.
    beat: float = 0.0
    #: Run a loop timer's housekeeping (a look, a heartbeat's round trip) with nothing
    #: else runnable as one step of the world (loop.py's `idle_run`).
    batch_idle: bool = True
    swarm: bool = False

    def describe(self) -> str:
        """One line: what this seed runs (the trace's first line, `--json`'s `profile`)."""
        if not self.swarm:
            return "fixed"
        kinds = " ".join(f"{kind}={'/'.join(self.variants[kind])}"
                         for kind in sorted(self.kinds)) or "none"
        return (f"faults {kinds} rate=1/{round(1 / self.fault_rate) if self.fault_rate else 0}"
                f" mix={self.mix} think=x{self.think:g} timeout={self.timeout:g}s"
                f" beat={self.beat:g}s")


def fixed(kinds: frozenset[str], fault_rate: float = FIXED_RATE,
          batch_idle: bool = True) -> Profile:
    """The configuration every seed ran before swarm testing."""
    return Profile(kinds=kinds, variants={k: VARIANTS[k] for k in kinds},
                   fault_rate=fault_rate, batch_idle=batch_idle)


def draw(seed: int, allowed: frozenset[str], batch_idle: bool = True) -> Profile:
    """Seed `seed`'s configuration, within the fault kinds `allowed` (`--faults`)."""
    rng = random.Random(f"{seed}:swarm")
    # Each kind on with probability 1/2 (the swarm's feature omission), at least one.
    kinds = [k for k in sorted(allowed) if rng.random() < 0.5]
    if allowed and not kinds:
        kinds = [rng.choice(sorted(allowed))]
    variants = {}
    for kind in kinds:
        every = VARIANTS[kind] + SWARM_ONLY[kind]
        on = tuple(v for v in every if rng.random() < 0.6)
        variants[kind] = on or (rng.choice(every),)
    # From one fault per 30 steps to one per 3,000, log-uniform.
    rate = math.exp(rng.uniform(math.log(1 / 3000), math.log(1 / 30)))
    mix = rng.choice(sorted(MIXES))
    think = rng.choice((0.25, 1.0, 1.0, 4.0))
    timeout = rng.choice(TIMEOUTS)
    beat = rng.choice((0.0, 0.0, 1.0, 5.0))
    return Profile(kinds=frozenset(kinds), variants=variants, fault_rate=rate, mix=mix,
                   think=think, timeout=timeout, beat=beat, batch_idle=batch_idle, swarm=True)
