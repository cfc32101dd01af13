"""`vending bench`: closed-loop load over tcp loopback, the system against a baseline.

The driver (this process) starts the server, registers a seller with a deep
product and one buyer per client with `transport.Client`, then hands the
sessions to the load generator: `--load-procs` separate processes
(`tools/loadgen.py`), each one thread driving its share of the REQ sockets
through one `zmq.Poller`, raw msgpack frames, each socket looping the workload
("deposit a 5 coin, buy one unit") for the window. The same then runs against
`tools/baseline.py` (same rules and SQLite durability, one thread, no actors or
fifos), so both are measured in one run.

Around the window the driver reads /proc of every server process (all its
threads): CPU seconds (utime + stime) and context switches (summed over
/proc/PID/task/*; a thread that exits during the window takes its switches
with it, and the report says how many did), the thread count, and how long
its threads were runnable but waiting for a CPU (schedstat: a server starved
by a busy machine shows). Each generator reports its own CPU, so a saturated
load side shows. fsyncs per
purchase are not counted (strace on the server would cost more than it tells).

Also: `--rounds N` (the pair N times in alternating order, each figure the
median, every round shown: one noisy window on a shared machine decides
nothing), `--wait-sample` (where each server thread waits, sampled every 2 ms:
a Python thread in futex waits for the GIL), `--check-generator` (the baseline
four more times with 1, 2, 2 and 1 generator processes: if 2 do not raise the
figure, 1 was not the limit), cost growth (the same load with 1k and 100k users
and products already stored) and session capacity (RSS of one process holding N
logged-in sessions).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transport.client import Client
from vending.credentials import hash_password, hash_token

from . import procstat
from .loadgen import WORKLOADS, GeneratorResult, GeneratorSpec, Session
from .serverproc import ServerProcess
from .split import SplitDeployment

PASSWORD = "bench-password"
#: `--check-generator`: a rise above this, with twice the generator processes,
#: means the generator was the limit...
GENERATOR_BOUND_RISE = 1.10
#: ...if its one Poller thread was busy: below this share of a core it was
#: waiting for replies, and a rise is the shared machine's noise.
GENERATOR_BUSY_PCT = 50.0


@dataclass
class LoadResult:
    """One target under one load: what the clients saw and what the server spent."""

    target: str
    clients: int
    seconds: float
    load_procs: int = 1
    #: from `go` to the last reply (the longest generator)
    elapsed_s: float = 0.0
    requests: int = 0
    purchases: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    unanswered: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    #: every server process (one, or each role of a split layout), all threads
    server_procs: int = 1
    server_cpu_s: float = 0.0
    server_switches: int = 0
    server_threads: int = 0
    #: threads that exited during the window: their switches are not counted
    server_threads_exited: int = 0
    #: thread-seconds the server's threads were runnable but had no CPU
    server_runqueue_wait_s: float = 0.0
    #: per generator process, percent of one core: the whole process / its Poller thread
    gen_cpu_pct: list[float] = field(default_factory=list)
    gen_main_thread_pct: list[float] = field(default_factory=list)
    #: all cores of the machine, anyone's work (100 = every core busy)
    machine_busy_pct: float = 0.0
    #: `--count-sql`: SQL statements the server ran in the window, by "VERB table"
    #: (empty when not counted)
    sql: dict[str, int] = field(default_factory=dict)
    #: `--wait-sample`: per server thread ("tN", "pK/tN"), samples by state (running, or
    #: the system call it waited in; procstat.WaitSampler); empty when not sampled
    waits: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def pps(self) -> float:
        return self.purchases / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def server_cores(self) -> float:
        return self.server_cpu_s / self.elapsed_s if self.elapsed_s else 0.0

    def per_purchase(self, value: float) -> float | None:
        return value / self.purchases if self.purchases else None

    def figures(self) -> dict[str, Any]:
        """Everything, with the derived figures, for the report and --json."""
        return {**asdict(self), "rps": self.rps, "pps": self.pps,
                "server_cores": self.server_cores,
                "server_cpu_wait": (self.server_runqueue_wait_s / self.elapsed_s
                                    if self.elapsed_s else 0.0),
                "cpu_ms_per_purchase": self.per_purchase(self.server_cpu_s * 1e3),
                "ctx_per_purchase": self.per_purchase(self.server_switches),
                "cpu_ms_per_request": (self.server_cpu_s * 1e3 / self.requests
                                       if self.requests else None),
                "ctx_per_request": (self.server_switches / self.requests
                                    if self.requests else None),
                "gil_wait_pct": (procstat.busy_thread_share(self.waits, "futex")
                                 if self.waits else None),
                **self.sql_figures()}

    def sql_figures(self) -> dict[str, float | None]:
        """Per purchase: SQL statements that read or write (transaction framing
        left out), commits, and framing statements (BEGIN, SAVEPOINT, ...)."""
        if not self.sql:
            return {}
        from vending import sqlcount  # here: `vending --help` loads no SQLite
        framing = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}
        wal = {k: n for k, n in self.sql.items() if k.startswith(sqlcount.WAL)}
        data = sum(n for k, n in self.sql.items() if k not in framing and k not in wal)
        frames = sum(n for k, n in self.sql.items() if k in framing)
        return {"sql_per_purchase": self.per_purchase(data),
                "commits_per_purchase": self.per_purchase(self.sql.get("COMMIT", 0)),
                "framing_per_purchase": self.per_purchase(frames),
                "wal_frames_per_purchase": self.per_purchase(
                    sum(n for k, n in wal.items() if k.startswith(f"{sqlcount.WAL}frames")))}

    def line(self) -> str:
        errors = f" errors={self.errors}" if self.errors else ""
        cpu = self.per_purchase(self.server_cpu_s * 1e3)
        ctx = self.per_purchase(self.server_switches)
        per = (f"  {cpu:.3f} ms CPU, {ctx:.1f} switches/purchase"
               if cpu is not None and ctx is not None else "")
        sql = self.sql_figures()
        if sql.get("sql_per_purchase") is not None:
            per += (f", {sql['sql_per_purchase']:.1f} SQL statements and "
                    f"{sql['commits_per_purchase']:.2f} commits/purchase")
        return (f"{self.target:<9} {self.pps:8.0f} purchases/s {self.rps:8.0f} requests/s   "
                f"p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
                f"max {self.max_ms:7.2f} ms{per}  generator "
                + "/".join(f"{p:.0f}%" for p in self.gen_main_thread_pct) + errors)


def _registering(endpoint: str, index: int) -> str:
    """Where the `index`th account registers from: registrations are limited per source
    address (30 a minute, README "Security"), so on loopback they are spread over
    127.0.1.x, 25 to an address."""
    if not endpoint.startswith("tcp://127."):
        return endpoint
    return endpoint.replace("tcp://", f"tcp://127.0.1.{1 + index // 25}:0;", 1)


def _setup(endpoint: str) -> str:
    """A seller with a deep product (cost 5); returns its product_uid."""
    with Client(_registering(endpoint, 0), timeout=30) as seller:
        seller.register("bench_seller", PASSWORD, "seller")
        return seller.sell("bench-cola", 5, 1_000_000)["product_uid"]


def _buyers(endpoints: list[str], clients: int) -> list[Session]:
    """One registered buyer per client; clients take turns over the front doors."""
    sessions = []
    for i in range(clients):
        endpoint = endpoints[i % len(endpoints)]
        with Client(_registering(endpoint, i + 1), timeout=30) as c:
            c.register(f"bench_{i}", PASSWORD)
            assert c.wsess_uid is not None and c.token is not None
            sessions.append(Session(endpoint, c.wsess_uid, c.token))
    return sessions


class _Generator:
    """One `python -m tools.loadgen` child, spoken to over its stdin and stdout."""

    def __init__(self, spec: GeneratorSpec) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VENDING_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.loadgen"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=env)
        self._send(spec.to_json())

    def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"load generator exited ({self.proc.wait()}) mid-run")
        return line

    def wait_ready(self) -> None:
        if self._line().strip() != "ready":
            raise RuntimeError("load generator did not say ready")

    def go(self) -> None:
        self._send("go")

    def result(self) -> GeneratorResult:
        return GeneratorResult.from_json(self._line())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def sql_snapshot(pid: int, path: Path, timeout: float = 10.0) -> dict[str, int]:
    """The statement counts of a server started with `VENDING_SQL_COUNT=path`:
    SIGUSR1 asks it to write them (vending/sqlcount.py); its next dump is awaited."""
    from vending import sqlcount  # here: `vending --help` loads no SQLite

    seen, _ = sqlcount.read(path)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while True:
        dumped, counts = sqlcount.read(path)
        if dumped > seen:
            return counts
        if time.monotonic() > deadline:
            raise RuntimeError(f"server {pid} did not write its SQL counts to {path}")
        # A file written by another process: nothing to wait on but the clock.
        time.sleep(0.005)


def run_load(endpoint: str | list[str], target: str, *, server_pids: list[int], clients: int,
             seconds: float, workload: str = "buy", load_procs: int = 1,
             sql_count: Path | None = None, wait_sample: bool = False) -> LoadResult:
    """Closed-loop load from `load_procs` generator processes; /proc of `server_pids`
    (and, with `sql_count`, the SQL statements of the one server in `server_pids`;
    with `wait_sample`, where its threads were, sampled)."""
    endpoints = [endpoint] if isinstance(endpoint, str) else endpoint
    uid = _setup(endpoints[0])
    sessions = _buyers(endpoints, clients)
    load_procs = max(1, min(load_procs, clients))
    gens = [_Generator(GeneratorSpec(workload, seconds, uid, sessions[k::load_procs]))
            for k in range(load_procs)]
    try:
        for gen in gens:
            gen.wait_ready()
        sql_before = sql_snapshot(server_pids[0], sql_count) if sql_count else {}
        machine_before = procstat.machine()
        before = [procstat.snapshot(pid) for pid in server_pids]
        sampler = procstat.WaitSampler(server_pids).start() if wait_sample else None
        for gen in gens:
            gen.go()
        results = [gen.result() for gen in gens]
        waits = sampler.stop() if sampler is not None else {}
        after = [procstat.snapshot(pid) for pid in server_pids]
        machine_after = procstat.machine()
        sql_after = sql_snapshot(server_pids[0], sql_count) if sql_count else {}
    finally:
        for gen in gens:
            gen.stop()
    result = _merge(target, clients, seconds, results, before, after,
                    procstat.machine_busy_pct(machine_before, machine_after))
    result.sql = {k: n - sql_before.get(k, 0) for k, n in sql_after.items()
                  if n - sql_before.get(k, 0)}
    result.waits = waits
    return result


def _merge(target: str, clients: int, seconds: float, results: list[GeneratorResult],
           before: list[procstat.Snapshot], after: list[procstat.Snapshot],
           machine_busy: float) -> LoadResult:
    server = procstat.Delta()
    for b, a in zip(before, after, strict=True):
        server.add(procstat.delta(b, a))
    result = LoadResult(
        target, clients, seconds, load_procs=len(results),
        elapsed_s=max(r.elapsed_s for r in results),
        requests=sum(r.requests for r in results),
        purchases=sum(r.purchases for r in results),
        unanswered=sum(r.unanswered for r in results),
        server_procs=len(after), server_cpu_s=server.cpu_s, server_switches=server.switches,
        server_threads=server.threads, server_threads_exited=server.threads_exited,
        server_runqueue_wait_s=server.runqueue_wait_s,
        gen_cpu_pct=[100 * r.cpu_s / r.elapsed_s if r.elapsed_s else 0.0 for r in results],
        gen_main_thread_pct=[100 * r.main_thread_cpu_s / r.elapsed_s if r.elapsed_s else 0.0
                             for r in results],
        machine_busy_pct=machine_busy)
    for r in results:
        for code, n in r.errors.items():
            result.errors[code] = result.errors.get(code, 0) + n
    samples = sorted(x for r in results for x in r.latencies_us)
    if samples:
        result.p50_ms = statistics.median(samples) / 1e3
        result.p99_ms = samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1e3
        result.max_ms = samples[-1] / 1e3
    return result


def seed_population(data_dir: Path, count: int) -> None:
    """Store `count` users, sessions and products directly, as if long in service."""
    # Here, not at the top: `vending --help` loads no storage.
    from vending.db import Database
    from vending.gate import SCHEMA as GATE_SCHEMA
    from vending.stock import SCHEMA as STOCK_SCHEMA

    data_dir.mkdir(parents=True, exist_ok=True)
    pw_hash = hash_password(PASSWORD)
    now = time.time()
    gate = Database(data_dir / "gatekeeper.sqlite3", GATE_SCHEMA)
    with gate.transaction() as conn:
        conn.executemany(
            "INSERT INTO users(user_uid, username, role, pw_hash, created) VALUES(?,?,?,?,?)",
            ((f"{'seller' if i % 2 else 'buyer'}_pop{i}", f"pop{i}",
              "seller" if i % 2 else "buyer", pw_hash, now) for i in range(count)))
        conn.executemany(
            "INSERT INTO sessions(wsess_uid, account_id, user_uid, role, token_hash, created,"
            " last_seen) VALUES(?,?,?,?,?,?,?)",
            ((f"s_pop{i}", i + 1, f"buyer_pop{i}", "buyer", hash_token(f"tok{i}"), now, now)
             for i in range(0, count, 2)))
    gate.close()
    stock = Database(data_dir / "stock.sqlite3", STOCK_SCHEMA)
    with stock.transaction() as conn:
        conn.executemany(
            "INSERT INTO products(product_uid, seller_account, seller_uid, product_name, cost,"
            " amount, added) VALUES(?,?,?,?,?,?,?)",
            ((f"p{i + 1:010d}", 2, "seller_pop1", f"item {i}", 5 * (1 + i % 20), 100, 100)
             for i in range(count)))
    stock.close()


def session_capacity(sessions: int, progress: Callable[[str], None]) -> dict[str, float]:
    """RSS of one `vending serve` before and after `sessions` sessions each made a request."""
    with tempfile.TemporaryDirectory(prefix="vending-bench-") as tmp:
        data = Path(tmp)
        seed_population(data, sessions * 2)
        server = ServerProcess(data).start()
        try:
            before = server.rss_bytes()
            per_thread = sessions // 8

            def touch(k: int) -> None:
                with Client(server.endpoint, timeout=30) as c:
                    for i in range(k * per_thread, (k + 1) * per_thread):
                        c.wsess_uid, c.token = f"s_pop{2 * i}", f"tok{2 * i}"
                        c.profile()
            threads = [threading.Thread(target=touch, args=(k,)) for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            after = server.rss_bytes()
        finally:
            server.terminate()
    progress(f"sessions: {sessions} sessions, RSS {before / 2**20:.0f} -> {after / 2**20:.0f} MiB")
    return {"sessions": sessions, "rss_before_mib": before / 2**20,
            "rss_after_mib": after / 2**20,
            "rss_per_session_kib": (after - before) / max(1, per_thread * 8) / 1024}


def _against(kind: str, data: Path, clients: int, seconds: float, workload: str,
             load_procs: int = 1, env: dict[str, str] | None = None,
             count_sql: bool = False, wait_sample: bool = False) -> LoadResult:
    if kind == "split":
        split = SplitDeployment(data, front_doors=2).start()
        try:
            pids = [p.proc.pid for p in split.procs.values() if p.proc is not None]
            return run_load(split.endpoints, kind, server_pids=pids, clients=clients,
                            seconds=seconds, workload=workload, load_procs=load_procs,
                            wait_sample=wait_sample)
        finally:
            split.terminate()
    module = "cli serve" if kind == "system" else "tools.baseline"
    # Beside the data folder, not in it (the server owns that).
    counts = data.with_name(data.name + "-sql.json") if count_sql else None
    if counts is not None:
        env = {**(env or {}), "VENDING_SQL_COUNT": str(counts)}
    server = ServerProcess(data, module=module, env=env).start()
    try:
        assert server.proc is not None
        return run_load(server.endpoint, kind, server_pids=[server.proc.pid], clients=clients,
                        seconds=seconds, workload=workload, load_procs=load_procs,
                        sql_count=counts, wait_sample=wait_sample)
    finally:
        server.terminate()
        if counts is not None:
            counts.unlink(missing_ok=True)


def _once(kind: str, clients: int, seconds: float, workload: str, load_procs: int,
          population: int = 0, env: dict[str, str] | None = None,
          count_sql: bool = False, wait_sample: bool = False) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="vending-bench-") as tmp:
        data = Path(tmp) / "data"
        if population:
            seed_population(data, population)
        return _against(kind, data, clients, seconds, workload, load_procs, env, count_sql,
                        wait_sample)


def check_generator_capacity(clients: int, seconds: float, workload: str,
                             progress: Callable[[str], None]) -> dict[str, Any]:
    """The baseline with 1 and with 2 generator processes (the same sockets), in the
    order 1, 2, 2, 1 so that a machine getting busier or quieter shifts both alike.

    If the mean with 2 does not rise above the mean with 1, more load-side
    capacity buys nothing: the generator was not the limit.
    """
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for procs in (1, 2, 2, 1):
        with _ticking(progress, f"generator check, {procs} process(es)"):
            result = _once("baseline", clients, seconds, workload, procs)
        progress(f"generator check, {procs} process(es): " + result.line())
        runs[procs].append(result.figures())
    mean = {procs: {key: statistics.fmean(r[key] for r in rs) for key in ("pps", "rps")}
            for procs, rs in runs.items()}
    rise = _ratio(mean[2]["rps"], mean[1]["rps"])
    busiest = max(p for r in runs[1] for p in r["gen_main_thread_pct"])
    if rise is None or rise <= GENERATOR_BOUND_RISE:
        verdict = "the generator was not the limit"
    elif busiest < GENERATOR_BUSY_PCT:
        verdict = (f"a rise, but 1 generator's Poller thread used at most {busiest:.0f}% of a "
                   "core: noise from the shared machine, not the generator; rerun when quiet")
    else:
        verdict = "the generator WAS the limit: raise --load-procs"
    return {"one_process": mean[1], "two_processes": mean[2],
            "runs": {str(p): [{k: r[k] for k in ("pps", "rps", "p99_ms", "gen_cpu_pct",
                                                 "gen_main_thread_pct")} for r in rs]
                     for p, rs in runs.items()},
            "rise": rise, "one_process_poller_thread_max_pct": busiest,
            "generator_bound": verdict.startswith("the generator WAS"), "verdict": verdict}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


#: Seconds to start a server and log its clients in, per run, plus per client
#: (an argon2 hash each, two workers): for the estimate `plan` prints, not a measure.
_SETUP_S, _SETUP_PER_CLIENT_S = 2.0, 0.03


def plan(*, clients: int = 32, seconds: float = 10.0, workload: str = "buy",
         baseline: bool = True, growth: bool = False, sessions: int = 0, split: bool = False,
         load_procs: int = 1, check_generator: bool = False, events_off: bool = False,
         count_sql: bool = False, rounds: int = 1, wait_sample: bool = False) -> str:
    """What `run_bench` with these arguments will do and about how long it takes,
    said before it starts (the runs themselves print nothing for a while)."""
    runs = ["system", *(["baseline"] if baseline else []), *(["split"] if split else []),
            *(["baseline x4 (generator check)"] if check_generator else []),
            *(["system with 1k and 100k stored"] if growth else [])]
    if rounds > 1:
        pair = runs[:1 + baseline + split]
        runs[:len(pair)] = [f"{' and '.join(pair)} x{rounds} rounds"
                            + (", alternating" if len(pair) > 1 else "")]
    windows = (1 + baseline + split) * rounds + 4 * check_generator + 2 * growth
    about = windows * (seconds + _SETUP_S + _SETUP_PER_CLIENT_S * clients)
    extra = " plus seeding 100k users and products" if growth else ""
    extra += f" plus {sessions} sessions for the RSS figure" if sessions else ""
    return (f"vending bench: {windows} timed window(s) of {seconds:g} s ({', '.join(runs)}), "
            f"{clients} clients, workload {workload}, {load_procs} generator process(es)"
            f"{', events off' if events_off else ''}"
            f"{', counting SQL statements (a trace callback: slower)' if count_sql else ''}"
            f"{', sampling where server threads wait' if wait_sample else ''}"
            f"; about {about:.0f} s{extra}. "
            "Progress on stderr, the report on stdout at the end.")


#: While a run goes on, a line this often says it still does.
TICK_S = 5.0


@contextlib.contextmanager
def _ticking(progress: Callable[[str], None], label: str) -> Iterator[None]:
    """Say every TICK_S seconds, from a thread of its own, that `label` still runs."""
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not done.wait(TICK_S):
            progress(f"{label}: running, {time.monotonic() - started:.0f} s so far")
    ticker = threading.Thread(target=tick, name="bench-progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()


def run_bench(*, clients: int = 32, seconds: float = 10.0, workload: str = "buy",
              baseline: bool = True, growth: bool = False, sessions: int = 0,
              split: bool = False, load_procs: int = 1, check_generator: bool = False,
              events_off: bool = False, count_sql: bool = False, rounds: int = 1,
              wait_sample: bool = False,
              progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    report: dict[str, Any] = {"clients": clients, "seconds": seconds, "workload": workload,
                              "load_procs": load_procs, "rounds": rounds}
    kinds = ["system", "baseline"] if baseline else ["system"]
    if split:
        kinds.append("split")
    report["events"] = "off" if events_off else "on"
    report["count_sql"] = count_sql
    report["wait_sample"] = wait_sample
    env = {"VENDING_EVENTS": "off"} if events_off else None
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for turn in range(rounds):
        # Alternating order (A B, B A, ...): a machine getting busier or quieter
        # shifts every target alike.
        for kind in kinds if turn % 2 == 0 else kinds[::-1]:
            label = kind if rounds == 1 else f"{kind} (round {turn + 1} of {rounds})"
            progress(f"{label}: starting the server and {clients} clients, then {seconds:g} s "
                     "of load")
            with _ticking(progress, label):
                result = _once(kind, clients, seconds, workload, load_procs, env=env,
                               count_sql=count_sql and kind != "split",
                               wait_sample=wait_sample)
            progress(result.line())
            runs[kind].append(result.figures())
    for kind in kinds:
        report[kind] = median_figures(runs[kind])
    if rounds > 1:
        report["runs"] = runs
    if baseline:
        system, base = report["system"], report["baseline"]
        report["ratios"] = {
            "purchases_per_s": _ratio(system["pps"], base["pps"]),
            "requests_per_s": _ratio(system["rps"], base["rps"]),
            "cpu_per_purchase": _ratio(system["cpu_ms_per_purchase"],
                                       base["cpu_ms_per_purchase"]),
            "switches_per_purchase": _ratio(system["ctx_per_purchase"],
                                            base["ctx_per_purchase"])}
    if check_generator:
        report["generator_check"] = check_generator_capacity(
            clients, seconds, workload, progress)
    if growth:
        report["growth"] = {}
        for count in (1_000, 100_000):
            progress(f"{count:>7} users+products: storing them, then {seconds:g} s of load")
            with _ticking(progress, f"{count} users+products"):
                result = _once("system", clients, seconds, workload, load_procs, count)
            progress(f"{count:>7} users+products: " + result.line())
            report["growth"][str(count)] = result.figures()
        small, large = (report["growth"][k]["rps"] for k in ("1000", "100000"))
        report["growth"]["cost_ratio"] = small / large if large else 0.0
    if sessions:
        report["sessions"] = session_capacity(sessions, progress)
    return report


def median_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One target's figures over several rounds: each number its median (the lower
    one for counts), each list of numbers item by item, error counts summed, SQL
    counts by kind their lower median, thread samples summed; one round's figures as
    they are."""
    if len(runs) == 1:
        return runs[0]
    out: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [r[key] for r in runs]
        if key == "waits":
            out[key] = {label: {state: sum(v.get(label, {}).get(state, 0) for v in values)
                                for state in sorted({st for v in values
                                                     for st in v.get(label, {})})}
                        for label in sorted({lb for v in values for lb in v})}
        elif key == "errors":
            out[key] = {code: sum(v.get(code, 0) for v in values)
                        for code in sorted({c for v in values for c in v})}
        elif isinstance(first, dict):
            out[key] = {k: statistics.median_low([v.get(k, 0) for v in values])
                        for k in sorted({k for v in values for k in v})}
        elif isinstance(first, list):
            out[key] = [statistics.median(items) for items in zip(*values, strict=True)]
        elif isinstance(first, bool) or not isinstance(first, int | float | None):
            out[key] = first
        else:
            numbers = [v for v in values if v is not None]
            out[key] = (None if not numbers else statistics.median_low(numbers)
                        if isinstance(first, int) else statistics.median(numbers))
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


#: (label, figure key or function of a target's figures, format)
_ROWS: list[tuple[str, Callable[[dict[str, Any]], float | str | None], str]] = [
    ("purchases/s", lambda r: r["pps"], ".0f"),
    ("requests/s", lambda r: r["rps"], ".0f"),
    ("latency p50 ms", lambda r: r["p50_ms"], ".2f"),
    ("latency p99 ms", lambda r: r["p99_ms"], ".2f"),
    ("latency max ms", lambda r: r["max_ms"], ".2f"),
    ("server CPU ms/purchase", lambda r: r["cpu_ms_per_purchase"], ".3f"),
    ("context switches/purchase", lambda r: r["ctx_per_purchase"], ".1f"),
    ("server cores busy", lambda r: r["server_cores"], ".2f"),
    ("server threads awaiting a CPU", lambda r: r["server_cpu_wait"], ".2f"),
    ("server threads (processes)", lambda r: f"{r['server_threads']} ({r['server_procs']})", ""),
    ("generator CPU % (Poller thread)",
     lambda r: " ".join(f"{a:.0f}({b:.0f})" for a, b in zip(r["gen_cpu_pct"],
                                                              r["gen_main_thread_pct"],
                                                              strict=True)), ""),
    ("machine busy %, all cores", lambda r: r["machine_busy_pct"], ".0f"),
]
#: With --count-sql.
_SQL_ROWS: list[tuple[str, Callable[[dict[str, Any]], float | str | None], str]] = [
    ("SQL statements/purchase", lambda r: r.get("sql_per_purchase"), ".1f"),
    ("commits/purchase", lambda r: r.get("commits_per_purchase"), ".2f"),
    ("BEGIN/SAVEPOINT.. stmts/purchase", lambda r: r.get("framing_per_purchase"), ".1f"),
    ("WAL frames/purchase", lambda r: r.get("wal_frames_per_purchase"), ".2f"),
]


#: With --wait-sample.
_WAIT_ROWS: list[tuple[str, Callable[[dict[str, Any]], float | str | None], str]] = [
    ("busy threads in futex (GIL) %", lambda r: r.get("gil_wait_pct"), ".1f"),
]
#: With --rounds: each round's figure, to show the spread behind a median.
_BY_ROUND = [("purchases/s", "pps", ".0f"), ("ms CPU/purchase", "cpu_ms_per_purchase", ".3f"),
             ("switches/purchase", "ctx_per_purchase", ".1f"),
             ("threads awaiting a CPU", "server_cpu_wait", ".2f"),
             ("% machine busy", "machine_busy_pct", ".0f")]


def wait_text(waits: dict[str, dict[str, int]], top: int = 4) -> str:
    """Each thread's most sampled states, busiest threads first; threads never seen
    running (idle all along, blocked in one call) left out."""
    busy = sorted(((c.get("running", 0) / sum(c.values()), label, c)
                   for label, c in waits.items() if c.get("running")), reverse=True)
    return " | ".join(
        f"{label} " + " ".join(f"{state} {100 * n / sum(c.values()):.0f}%"
                               for state, n in sorted(c.items(), key=lambda kv: -kv[1])[:top])
        for _, label, c in busy)


def _cell(value: float | str | None, spec: str) -> str:
    return value if isinstance(value, str) else _fmt(value, spec)


def summary_text(report: dict[str, Any]) -> str:
    lines = [f"vending bench: {report['clients']} clients x {report['seconds']:g} s, "
             f"workload {report['workload']}, durable (WAL, synchronous=FULL), tcp loopback"
             + (f"; each figure the median of {report['rounds']} rounds"
                + (" run in alternating order" if "baseline" in report or "split" in report
                   else "") if report.get("rounds", 1) > 1 else ""),
             f"load: {report['load_procs']} generator process(es), one thread and one "
             "zmq.Poller each, closed loop; server figures from /proc of every server thread"]
    kinds = [k for k in ("system", "baseline", "split") if k in report]
    ratios = report.get("ratios", {})
    ratio_of = {"purchases/s": ratios.get("purchases_per_s"),
                "requests/s": ratios.get("requests_per_s"),
                "server CPU ms/purchase": ratios.get("cpu_per_purchase"),
                "context switches/purchase": ratios.get("switches_per_purchase")}
    header = f"  {'':<31}" + "".join(f"{k:>14}" for k in kinds)
    if ratios:
        header += f"{'system/baseline':>17}"
    lines.append(header)
    rows = (_ROWS + (_SQL_ROWS if report.get("count_sql") else [])
            + (_WAIT_ROWS if report.get("wait_sample") else []))
    for label, get, spec in rows:
        row = f"  {label:<31}" + "".join(f"{_cell(get(report[k]), spec):>14}" for k in kinds)
        if ratios and label in ratio_of:
            row += f"{_fmt(ratio_of[label], '.2f') + ' x':>17}"
        lines.append(row)
    runs = report.get("runs", {})
    by_round = _BY_ROUND + ([("% of busy threads' samples in futex", "gil_wait_pct", ".1f")]
                            if report.get("wait_sample") else [])
    for k in kinds if runs else []:
        lines.append(f"  {k}, by round: " + "; ".join(
            " ".join(_fmt(r[key], spec) for r in runs[k]) + f" {label}"
            for label, key, spec in by_round))
    if runs and ratios:
        lines.append("  system/baseline, by round (each round's pair): " + "; ".join(
            " ".join(_fmt(_ratio(s[key], b[key]), ".2f")
                     for s, b in zip(runs["system"], runs["baseline"], strict=True))
            + f" {label}" for label, key, _ in _BY_ROUND[:2]))
    for k in kinds:
        r = report[k]
        if r.get("sql") and r["purchases"]:
            top = sorted(r["sql"].items(), key=lambda kv: -kv[1])
            lines.append(f"  {k}: SQL per purchase: " + ", ".join(
                f"{n / r['purchases']:.2f} {kind}" for kind, n in top))
        if r.get("waits"):
            lines.append(f"  {k}: where its threads were (sampled every 2 ms): " + wait_text(
                r["waits"]))
        if r["errors"] or r["unanswered"]:
            lines.append(f"  {k}: errors {r['errors']}, unanswered {r['unanswered']}")
        if r["server_threads_exited"]:
            lines.append(f"  {k}: {r['server_threads_exited']} server thread(s) exited during "
                         "the window; their context switches are not counted")
    if "split" in report:
        lines.append(f"  split/embedded: purchases "
                     f"{report['split']['pps'] / max(report['system']['pps'], 1e-9):.2f} "
                     "(gatekeeper, stock handler and 2 front doors as separate processes)")
    if "generator_check" in report:
        g = report["generator_check"]
        one, two = g["one_process"], g["two_processes"]
        each = {p: ", ".join(f"{r['pps']:.0f}" for r in rs) for p, rs in g["runs"].items()}
        lines.append(f"  generator check (baseline, same {report['clients']} sockets, runs in "
                     "the order 1, 2, 2, 1 processes), mean purchases/s:")
        busy = {p: max(x for r in rs for x in r["gen_main_thread_pct"])
                for p, rs in g["runs"].items()}
        lines.append(f"    1 generator process   {one['pps']:6.0f}  ({each['1']}; Poller thread "
                     f"at most {busy['1']:.0f}% of a core)")
        lines.append(f"    2 generator processes {two['pps']:6.0f}  ({each['2']}; at most "
                     f"{busy['2']:.0f}% each)  x{_fmt(g['rise'], '.2f')}")
        lines.append(f"    {g['verdict']}")
    if "growth" in report:
        g = report["growth"]
        lines.append(f"  growth: {g['1000']['rps']:.0f} req/s at 1k vs {g['100000']['rps']:.0f}"
                     f" req/s at 100k users+products (per-op cost x{g['cost_ratio']:.2f})")
    if "sessions" in report:
        s = report["sessions"]
        lines.append(f"  sessions: {s['sessions']} live sessions used, RSS "
                     f"{s['rss_before_mib']:.0f} -> {s['rss_after_mib']:.0f} MiB "
                     f"({s['rss_per_session_kib']:.1f} KiB/session)")
    return "\n".join(lines)


def bench_command(args: Any) -> int:
    options = dict(clients=args.clients, seconds=args.seconds, workload=args.workload,
                   baseline=not args.no_baseline, growth=args.growth, sessions=args.sessions,
                   split=args.split, load_procs=args.load_procs,
                   check_generator=args.check_generator, events_off=args.events_off,
                   count_sql=args.count_sql, rounds=args.rounds, wait_sample=args.wait_sample)
    print(plan(**options), file=sys.stderr, flush=True)
    report = run_bench(**options,
                       progress=lambda text: print(text, file=sys.stderr, flush=True))
    print(json.dumps(report, indent=2) if args.json else summary_text(report))
    return 0


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def add_command(sub: Any) -> None:
    p = sub.add_parser("bench", help="measure throughput, latency and server cost against a "
                       "single-thread baseline", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=_at_least_one, default=32, metavar="N",
                   help="closed-loop clients, one REQ socket and one buyer each (default: 32)")
    p.add_argument("--seconds", type=float, default=10.0,
                   help="length of each timed window (default: 10)")
    p.add_argument("--workload", choices=WORKLOADS, default="buy",
                   help="buy: deposit a 5 coin then buy one unit; deposit: deposit then reset; "
                   "products: read one product (default: buy)")
    p.add_argument("--load-procs", type=_at_least_one, default=1, metavar="K",
                   help="split the clients' sockets over K generator processes (default: 1)")
    p.add_argument("--check-generator", action="store_true",
                   help="also run the baseline with 1, 2, 2 and 1 generator processes (the same "
                   "sockets) to show whether 1 was the limit (default: off)")
    p.add_argument("--rounds", type=_at_least_one, default=1, metavar="N",
                   help="run the system and the baseline (and --split's layout) N times each, "
                   "in alternating order (system, baseline; baseline, system; ...), and report "
                   "each figure's median "
                   "and every round's CPU and switches per purchase, so one noisy window on "
                   "a shared machine does not decide a ratio (default: 1)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the baseline run (default: run it)")
    p.add_argument("--growth", action="store_true",
                   help="also run with 1k and 100k users and products stored (default: off)")
    p.add_argument("--sessions", type=int, default=0, metavar="N",
                   help="also measure RSS with N sessions used, e.g. 10000 (default: 0: skip)")
    p.add_argument("--split", action="store_true",
                   help="also run the split layout (4 processes: gatekeeper, stock handler, "
                   "2 front doors) under the same load (default: off)")
    p.add_argument("--events-off", action="store_true",
                   help="serve with events neither stored nor published (VENDING_EVENTS=off), "
                   "to measure what they cost (default: off: events on, as docs/protocol.md "
                   "§6a wants)")
    p.add_argument("--count-sql", action="store_true",
                   help="also count the SQL statements and commits per purchase of the system "
                   "and the baseline, with a sqlite3 trace callback in the server, whose CPU "
                   "figures then include it (default: off)")
    p.add_argument("--wait-sample", action="store_true",
                   help="also sample, every 2 ms, where each server thread is: running, or "
                   "the system call it waits in (/proc/PID/task/TID/syscall); a Python "
                   "thread in futex waits for the GIL or a lock (default: off)")
    p.add_argument("--json", action="store_true",
                   help="print the whole report as JSON (default: a table)")
    p.set_defaults(func=bench_command)
