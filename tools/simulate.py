"""`vending simulate`: buyers and sellers race for scarce stock; check the invariants.

Simulated users (tools/simusers.py) register, deposit, buy, reset, restock,
create products and log in again, each in its own thread with its own client,
against an embedded in-memory system or a running server (`--endpoint`). Then
the client-side ledger of acknowledged replies (tools/ledger.py) is compared
with what the server shows: money per buyer, stock per product, nothing
negative, no oversell. The same harness is a pytest helper:

    report = run_scenario(Scenario(buyers=6, sellers=1, ops=400, seed=3))
    assert not report.violations, report.text()
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from transport.client import Client
from transport.events import StreamEvent
from vending.errors import Unavailable

from .ledger import MONEY, STOCK, Ledger, Verdict
from .simusers import SimUser, World

if TYPE_CHECKING:
    from actors.system import VendingSystem

__all__ = ["LIVE_DESCRIPTION", "Report", "Scenario", "add_live_arguments", "run_scenario",
           "simulate_command"]

ANSWERED = "every change answered"
FINISHED = "every user finished"
EV_ORDER = "events: every seq once, in order"
EV_MONEY = "events: money conservation"
EV_STOCK = "events: stock conservation"


class EventTally:
    """Adds up the events of a run (docs/protocol.md §6a), from the stream's thread.

    Events name no buyer, so money is checked over all buyers at once: coins in
    = coins out (spent, change, reset, deleted) + what buyers still hold.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.deposited = 0
        self.paid_out = 0
        self.bought: Counter[str] = Counter()      # product_uid -> units, purchase events
        self.purchases: Counter[str] = Counter()   # product_uid -> purchase events
        self.sold: Counter[str] = Counter()        # product_uid -> "sold" product events
        self.seqs: dict[str, list[int]] = {"gatekeeper": [], "stock-handler": []}

    def __call__(self, event: StreamEvent) -> None:
        b = event.body
        with self._lock:
            self.seqs.setdefault(event.source, []).append(event.seq)
            if event.topic == "deposit":
                self.deposited += b["amount"]
            elif event.topic == "purchase":
                self.paid_out += b["spent"] + sum(b["change"])
                self.bought[b["product_uid"]] += b["amount"]
                self.purchases[b["product_uid"]] += 1
            elif event.topic in ("reset", "user_deleted"):
                self.paid_out += sum(b["change"])
            elif event.topic == "product" and b["kind"] == "sold":
                self.sold[b["product"]["product_uid"]] += 1

    def caught_up(self, last: dict[str, int]) -> bool:
        """Every stored event delivered (`last`: each source's last_seq), every
        purchase's sale among them."""
        with self._lock:
            return (all(len(self.seqs.get(s, [])) >= n for s, n in last.items())
                    and self.sold == self.purchases)

    def check(self, ledger: Ledger) -> dict[str, list[str]]:
        with self._lock:
            order = [f"{source}: seqs are not 1..{len(got)}" for source, got in self.seqs.items()
                     if got != list(range(1, len(got) + 1))]
            held = sum(ledger.expected_deposits().values())
            money = [] if self.deposited == self.paid_out + held else [
                f"{self.deposited} deposited, {self.paid_out} paid out, {held} still held "
                "per the ledger"]
            stock = [f"{uid}: {self.bought[uid]} units in purchase events, ledger {units}"
                     for uid, units in ledger.sold.items() if self.bought[uid] != units]
            stock += [f"{uid}: {self.purchases[uid]} purchases, {self.sold[uid]} sold events"
                      for uid in self.purchases.keys() | self.sold.keys()
                      if self.purchases[uid] != self.sold[uid]]
        return {EV_ORDER: order, EV_MONEY: money, EV_STOCK: stock}


@dataclass(frozen=True)
class Scenario:
    """What to run. The same seed and counts give the same intended operations."""

    buyers: int = 4
    sellers: int = 2
    #: Intended operations over all users, split evenly (ignored when `duration` is set).
    ops: int = 1000
    #: Run this many seconds instead of a fixed number of operations.
    duration: float | None = None
    seed: int = 0
    #: Initial stock of each seller's scarce product (restocked one unit at a time).
    scarce_units: int = 3

    def __post_init__(self) -> None:
        if min(self.buyers, self.sellers, self.ops, self.scarce_units) < 0:
            raise ValueError("counts must be >= 0")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("duration must be > 0")

    def budgets(self) -> list[int | None]:
        """Ops per user (buyers first), or None each when the run is timed."""
        users = self.buyers + self.sellers
        if self.duration is not None:
            return [None] * users
        base, extra = divmod(self.ops, max(users, 1))
        return [base + (i < extra) for i in range(users)]


@dataclass
class Report:
    """What happened and whether the server kept its promises."""

    scenario: Scenario
    target: str
    seconds: float
    requests: int
    ops_by_kind: dict[str, int]
    errors_by_code: dict[str, int]
    #: Problems per invariant; an empty list means it held.
    invariants: dict[str, list[str]]
    buyers_checked: int
    products_checked: int
    #: Each user's intended operations, `[kind, slot, count]` each.
    intended: dict[str, list[list[str | int]]]
    #: `stop` was set (Ctrl-C) before the users were through.
    stopped_early: bool = False

    @property
    def ops(self) -> int:
        return sum(self.ops_by_kind.values())

    @property
    def intended_sha256(self) -> str:
        text = json.dumps(self.intended, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def violations(self) -> list[str]:
        return [f"{name}: {p}" for name, problems in self.invariants.items() for p in problems]

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": asdict(self.scenario), "target": self.target,
                "seconds": round(self.seconds, 3), "ops": self.ops,
                "ops_per_second": round(self.ops / self.seconds, 1), "requests": self.requests,
                "ops_by_kind": self.ops_by_kind, "errors_by_code": self.errors_by_code,
                "invariants": self.invariants, "buyers_checked": self.buyers_checked,
                "products_checked": self.products_checked,
                "intended_sha256": self.intended_sha256, "stopped_early": self.stopped_early,
                "violations": len(self.violations)}

    def text(self) -> str:
        s = self.scenario
        lines = [f"simulate: seed {s.seed}, buyers {s.buyers}, sellers {s.sellers}, "
                 f"against {self.target}" + (" (stopped early)" if self.stopped_early else ""),
                 f"ops       {self.ops} in {self.seconds:.2f} s: {self.ops / self.seconds:.0f} "
                 f"ops/s ({self.requests} requests, {self.requests / self.seconds:.0f}/s)",
                 f"by kind   {_counts(self.ops_by_kind)}",
                 f"errors    {_counts(self.errors_by_code) or 'none'}",
                 "invariants"]
        looked_at = {MONEY: f" ({self.buyers_checked} buyers)",
                     STOCK: f" ({self.products_checked} products)"}
        for name, problems in self.invariants.items():
            lines.append(f"  {'FAIL' if problems else 'ok  '}  {name}{looked_at.get(name, '')}")
            lines += [f"          {p}" for p in problems[:5]]
            if len(problems) > 5:
                lines.append(f"          ... and {len(problems) - 5} more")
        count = len(self.violations)
        lines.append(f"intended  sha256 {self.intended_sha256[:16]}")
        lines.append("result    " + (f"{count} VIOLATIONS" if count else "ok, no violations"))
        return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def run_scenario(scenario: Scenario, endpoint: str | None = None,
                 system: VendingSystem | None = None,
                 progress: Callable[[str], None] | None = None,
                 stop: threading.Event | None = None) -> Report:
    """Run `scenario` and check it. Default: a fresh embedded in-memory system.

    With `endpoint`, against a running front door; with `system`, against that
    embedded one (only this run's users and products are checked, so other
    traffic on it does no harm). `progress` gets a line about once a second;
    setting `stop` ends the run early (it is still checked).
    """
    if endpoint is not None and system is not None:
        raise ValueError("give endpoint or system, not both")
    if system is not None:
        return _run(scenario, system.client, "an embedded system", progress, stop)
    if endpoint is not None:
        return _run(scenario, lambda **kw: Client(endpoint, **kw), endpoint, progress, stop)
    from actors.system import VendingSystem  # here: `vending --help` loads no actors

    with VendingSystem(data_dir=":memory:", binds=()) as own:
        # The run owns this system: every event is this run's, so they must add up.
        tally = EventTally()
        with own.subscribe(tally):
            return _run(scenario, own.client, "an embedded in-memory system", progress, stop,
                        tally)


def _run(scenario: Scenario, make_client: Callable[..., Client], target: str,
         progress: Callable[[str], None] | None, stop: threading.Event | None,
         tally: EventTally | None = None) -> Report:
    world = World(scenario.seed, scenario.sellers, scenario.scarce_units,
                  stop=stop or threading.Event())
    with make_client(timeout=2.0, retries=1) as probe:
        probe.ping()  # fail fast, with Unavailable, on a wrong endpoint
    roles = ["buyer"] * scenario.buyers + ["seller"] * scenario.sellers
    indexes = list(range(scenario.buyers)) + list(range(scenario.sellers))
    users = [SimUser(world, role, i, budget)
             for role, i, budget in zip(roles, indexes, scenario.budgets(), strict=True)]

    def user_client() -> Client:  # made in the user's own thread: Clients are not thread safe
        return make_client(timeout=10.0, retries=2)

    started = time.monotonic()
    if scenario.duration is not None:
        world.deadline = started + scenario.duration
    threads = [threading.Thread(target=u.run, args=(user_client,), name=f"simulate-{u.name}",
                                daemon=True) for u in users]
    for thread in threads:
        thread.start()
    _wait(threads, users, scenario, started, progress or (lambda line: None), world.stop)
    seconds = max(time.monotonic() - started, 1e-9)
    with make_client(timeout=10.0, retries=2) as checker:
        try:
            verdict = world.ledger.check(
                checker, {u.name: u.session for u in users if u.role == "buyer" and u.session},
                sellers=[u.user_uid for u in users if u.role == "seller"])
        except Unavailable as exc:
            verdict = Verdict()
            for problems in verdict.problems.values():
                problems.append(f"not checked: {exc}")
    report = _report(scenario, target, seconds, users, verdict)
    report.stopped_early = world.stop.is_set()
    if tally is not None:
        report.invariants.update(_events_add_up(tally, world, make_client))
    return report


def _events_add_up(tally: EventTally, world: World,
                   make_client: Callable[..., Client]) -> dict[str, list[str]]:
    """Once the stream has every stored event (settles included), check the tally."""
    deadline = time.monotonic() + 10.0
    with make_client(timeout=10.0, retries=2) as c:
        last = {source: c.events(source, 0, 1)["last_seq"] for source in tally.seqs}
    pause = threading.Event()
    while time.monotonic() < deadline and not tally.caught_up(last):
        pause.wait(0.05)
    return tally.check(world.ledger)


def _wait(threads: list[threading.Thread], users: list[SimUser], scenario: Scenario,
          started: float, progress: Callable[[str], None], stop: threading.Event) -> None:
    """Join the users, reporting progress about once a second; Ctrl-C stops them."""
    total = f"/{scenario.ops}" if scenario.duration is None else ""
    tick = started + 1.0
    while any(t.is_alive() for t in threads):
        try:
            next(t for t in threads if t.is_alive()).join(max(0.0, tick - time.monotonic()))
        except KeyboardInterrupt:
            stop.set()
        if time.monotonic() >= tick:
            done = sum(len(u.intended) for u in users)
            elapsed = time.monotonic() - started
            progress(f"simulate: {done}{total} ops, {elapsed:.0f} s, {done / elapsed:.0f} ops/s")
            tick += 1.0


def _report(scenario: Scenario, target: str, seconds: float, users: list[SimUser],
            verdict: Verdict) -> Report:
    kinds: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for u in users:
        kinds.update(u.kinds)
        errors.update(u.errors)
    invariants = dict(verdict.problems)
    invariants[ANSWERED] = [f"{u.name}: {u.unresolved} changes got no final reply"
                            for u in users if u.unresolved]
    invariants[FINISHED] = [f"{u.name}: {u.failure}" for u in users if u.failure]
    return Report(scenario, target, seconds, sum(u.requests for u in users), dict(kinds),
                  dict(errors), invariants, verdict.buyers, verdict.products,
                  {u.name: [op.as_list() for op in u.intended] for u in users})


# -- the command -------------------------------------------------------------------
def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


#: What `vending simulate --live` does (the deterministic simulator's help names it).
LIVE_DESCRIPTION = (
    "--live: run simulated buyers and sellers, each in its own thread (register, deposit, "
    "buy, reset, restock, create products, log in again, race for scarce stock) against a "
    "real embedded in-memory system or --endpoint, then check money and stock conservation, "
    "nothing negative and no oversell from the server's answers; embedded, also that the "
    "published events add up to the same. Real threads and time: not replayable.")


def add_live_arguments(p: Any) -> None:
    """The options of `vending simulate --live` (simulation/cli.py registers the command)."""
    p.add_argument("--buyers", type=_count, default=4, help="simulated buyers")
    p.add_argument("--sellers", type=_count, default=2, help="simulated sellers")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--ops", type=_count, default=1000,
                        help="intended operations over all users (default 1000)")
    length.add_argument("--duration", type=_seconds, metavar="SECONDS",
                        help="run this long instead of a number of ops (default: count ops)")
    p.add_argument("--scarce", type=_count, default=3, metavar="UNITS",
                   help="initial stock of each seller's scarce product (default 3)")
    p.add_argument("--endpoint", help="a running front door (implies --live; default: "
                   "embedded, in memory)")


def simulate_command(args: argparse.Namespace) -> int:
    scenario = Scenario(buyers=args.buyers, sellers=args.sellers, ops=args.ops,
                        duration=args.duration, seed=args.seed, scarce_units=args.scarce)
    try:
        report = run_scenario(scenario, endpoint=args.endpoint,
                              progress=lambda line: print(line, file=sys.stderr, flush=True))
    except Unavailable as exc:
        print(f"vending: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.text())
    return 1 if report.violations else 0
