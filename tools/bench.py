"""`vending bench`: closed-loop load over tcp loopback, the system against a baseline.

C clients (threads of this process, one REQ socket each) each loop "deposit a
coin, buy one unit" for D seconds against a real `vending serve` (durable, on
a temporary data folder), then the same against `tools/baseline.py` (same
rules and SQLite durability, one thread, no actors or fifos). Also: cost growth
(the same load with 1k and 100k users and products already stored) and session
capacity (RSS of one process holding N logged-in sessions).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transport.client import Client
from vending.accounts import SCHEMA as ACCOUNTS_SCHEMA
from vending.credentials import hash_password, hash_token
from vending.db import Database
from vending.stock import SCHEMA as STOCK_SCHEMA

from .serverproc import ServerProcess
from .split import SplitDeployment

PASSWORD = "bench-password"
WORKLOADS = ("buy", "deposit", "products")


@dataclass
class LoadResult:
    target: str
    clients: int
    seconds: float
    requests: int = 0
    purchases: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def pps(self) -> float:
        return self.purchases / self.seconds

    def line(self) -> str:
        errors = f" errors={self.errors}" if self.errors else ""
        return (f"{self.target:<9} {self.pps:8.0f} purchases/s {self.rps:8.0f} requests/s   "
                f"p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
                f"max {self.max_ms:7.2f} ms{errors}")


def _setup(endpoint: str) -> str:
    """A seller with a deep product (cost 5); returns its product_uid."""
    with Client(endpoint, timeout=30) as seller:
        seller.register("bench_seller", PASSWORD, "seller")
        return seller.sell("bench-cola", 5, 1_000_000)["product_uid"]


def run_load(endpoint: str | list[str], target: str, *, clients: int, seconds: float,
             workload: str = "buy") -> LoadResult:
    """Closed-loop load; with several endpoints (front doors) clients take turns."""
    endpoints = [endpoint] if isinstance(endpoint, str) else endpoint
    uid = _setup(endpoints[0])
    users = []
    for i in range(clients):
        c = Client(endpoints[i % len(endpoints)], timeout=30, retries=0)
        c.register(f"bench_{i}", PASSWORD)
        users.append(c)
    latencies: list[list[float]] = [[] for _ in users]
    result = LoadResult(target, clients, seconds)
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def loop(i: int, client: Client) -> None:
        step = _workload_step(workload, client, uid)
        mine = latencies[i]
        start.wait()
        end = time.perf_counter() + seconds
        bought = 0
        errors: dict[str, int] = {}
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            for message in step():
                reply = client.request(message)
                t1 = time.perf_counter()
                mine.append(t1 - t0)
                t0 = t1
                if not reply.get("ok"):
                    errors[reply["error"]] = errors.get(reply["error"], 0) + 1
                elif message["op"] == "buy":
                    bought += 1
        with lock:
            result.purchases += bought
            for code, n in errors.items():
                result.errors[code] = result.errors.get(code, 0) + n

    threads = [threading.Thread(target=loop, args=(i, c)) for i, c in enumerate(users)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    for c in users:
        c.close()
    samples = sorted(x for per in latencies for x in per)
    result.requests = len(samples)
    if samples:
        result.p50_ms = statistics.median(samples) * 1e3
        result.p99_ms = samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1e3
        result.max_ms = samples[-1] * 1e3
    return result


def _workload_step(workload: str, client: Client,
                   uid: str) -> Callable[[], list[dict[str, Any]]]:
    creds = {"wsess_uid": client.wsess_uid, "token": client.token}
    if workload == "buy":
        return lambda: [{"op": "deposit", "amount": 5, **creds},
                        {"op": "buy", "product_uid": uid, "amount": 1, **creds}]
    if workload == "deposit":
        return lambda: [{"op": "deposit", "amount": 5, **creds}, {"op": "reset", **creds}]
    return lambda: [{"op": "product", "product_uid": uid}]


def seed_population(data_dir: Path, count: int) -> None:
    """Store `count` users, sessions and products directly, as if long in service."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pw_hash = hash_password(PASSWORD)
    now = time.time()
    gate = Database(data_dir / "gatekeeper.sqlite3", ACCOUNTS_SCHEMA)
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


def _against(kind: str, data: Path, clients: int, seconds: float,
             workload: str) -> LoadResult:
    if kind == "split":
        split = SplitDeployment(data, front_doors=2).start()
        try:
            return run_load(split.endpoints, kind, clients=clients, seconds=seconds,
                            workload=workload)
        finally:
            split.terminate()
    module = "cli serve" if kind == "system" else "tools.baseline"
    server = ServerProcess(data, module=module).start()
    try:
        return run_load(server.endpoint, kind, clients=clients, seconds=seconds,
                        workload=workload)
    finally:
        server.terminate()


def run_bench(*, clients: int = 32, seconds: float = 10.0, workload: str = "buy",
              baseline: bool = True, growth: bool = False, sessions: int = 0,
              split: bool = False,
              progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    report: dict[str, Any] = {"clients": clients, "seconds": seconds, "workload": workload}
    kinds = ["system", "baseline"] if baseline else ["system"]
    if split:
        kinds.append("split")
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="vending-bench-") as tmp:
            result = _against(kind, Path(tmp), clients, seconds, workload)
        progress(result.line())
        report[kind] = {**asdict(result), "rps": result.rps, "pps": result.pps}
    if baseline:
        sys_pps, base_pps = report["system"]["pps"], report["baseline"]["pps"]
        sys_rps, base_rps = report["system"]["rps"], report["baseline"]["rps"]
        report["ratio_purchases"] = sys_pps / base_pps if base_pps else 0.0
        report["ratio_requests"] = sys_rps / base_rps if base_rps else 0.0
    if growth:
        report["growth"] = {}
        for count in (1_000, 100_000):
            with tempfile.TemporaryDirectory(prefix="vending-bench-") as tmp:
                seed_population(Path(tmp), count)
                result = _against("system", Path(tmp), clients, seconds, workload)
            progress(f"{count:>7} users+products: " + result.line())
            report["growth"][str(count)] = {**asdict(result), "rps": result.rps}
        small, large = (report["growth"][k]["rps"] for k in ("1000", "100000"))
        report["growth"]["cost_ratio"] = small / large if large else 0.0
    if sessions:
        report["sessions"] = session_capacity(sessions, progress)
    return report


def summary_text(report: dict[str, Any]) -> str:
    lines = [f"vending bench: {report['clients']} clients x {report['seconds']:.0f} s, "
             f"workload {report['workload']}, durable (WAL, synchronous=FULL), "
             f"tcp loopback"]
    for kind in ("system", "baseline", "split"):
        if kind in report:
            r = report[kind]
            lines.append(f"  {kind:<9} {r['pps']:8.0f} purchases/s {r['rps']:8.0f} requests/s"
                         f"   p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms"
                         f"  max {r['max_ms']:7.2f} ms")
    if "ratio_requests" in report:
        lines.append(f"  system/baseline: purchases {report['ratio_purchases']:.2f}, "
                     f"requests {report['ratio_requests']:.2f}")
    if "split" in report:
        lines.append(f"  split/embedded: purchases "
                     f"{report['split']['pps'] / max(report['system']['pps'], 1e-9):.2f} "
                     "(gatekeeper, stock handler and 2 front doors as separate processes)")
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
    report = run_bench(clients=args.clients, seconds=args.seconds, workload=args.workload,
                       baseline=not args.no_baseline, growth=args.growth,
                       sessions=args.sessions, split=args.split,
                       progress=lambda text: print(text, file=sys.stderr, flush=True))
    print(json.dumps(report, indent=2) if args.json else summary_text(report))
    return 0


def add_command(sub: Any) -> None:
    p = sub.add_parser("bench", help="measure throughput and latency against a baseline",
                       description=__doc__)
    p.add_argument("--clients", type=int, default=32, help="closed-loop clients")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    p.add_argument("--workload", choices=WORKLOADS, default="buy",
                   help="buy: deposit a coin then buy one unit; deposit: deposit then reset; "
                   "products: read one product")
    p.add_argument("--no-baseline", action="store_true", help="skip the baseline run")
    p.add_argument("--growth", action="store_true",
                   help="also run with 1k and 100k users and products stored")
    p.add_argument("--sessions", type=int, default=0, metavar="N",
                   help="also measure RSS with N sessions used (e.g. 10000)")
    p.add_argument("--split", action="store_true",
                   help="also run the split layout (4 processes: gatekeeper, stock handler, "
                   "2 front doors) under the same load")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=bench_command)


