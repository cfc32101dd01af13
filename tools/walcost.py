"""WAL pages a purchase writes, by saga step and by b-tree: a deterministic count.

`python -m tools.walcost` runs the rules (vending/gate.py, vending/stock.py, the
purchase saga of vending/purchase.py) on two real SQLite files, WAL and
`synchronous=FULL` as the server opens them, with no actors and no clock of the
machine: `--clients` buyers each deposit a coin and buy one unit, each step of
all of them in one transaction of its owner, as a backend commits one drained
batch (`--clients 1`: an unbatched purchase). After each commit it reads the WAL
frames the commit appended and names each page's b-tree (`dbstat`), so the
figures are the same on a busy machine and a quiet one.

What a frame costs the server: two pwrites (its 24-byte header, then the page),
and each commit one fdatasync; a checkpoint later writes each distinct page once
more into the database file (not counted here: the WAL is not checkpointed while
counting). The server's own counts under load come from `vending bench
--count-sql` (WAL frames per purchase, read off the files' wal-index).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulation.seams import CHEAP_ARGON2
from vending import local
from vending.call import Call
from vending.credentials import Credentials
from vending.db import Database
from vending.gate import SCHEMA as GATE_SCHEMA
from vending.gate import Gate
from vending.purchase import charge, reserve, settle
from vending.requests import parse_request
from vending.stock import SCHEMA as STOCK_SCHEMA
from vending.stock import Stock

__all__ = ["WalCounter", "main", "measure"]

_WAL_HEADER, _FRAME_HEADER = 32, 24
T0 = 1_700_000_000.0


class WalCounter:
    """The frames each commit of one database file appends to its WAL, by b-tree.

    The WAL is never checkpointed while this counts (`wal_autocheckpoint=0`), so
    it only grows and each commit's frames are the ones past the last offset read.
    """

    def __init__(self, db: Database) -> None:
        assert db.path is not None
        self._db = db
        self._wal = Path(str(db.path) + "-wal")
        db.conn.execute("PRAGMA wal_autocheckpoint=0")
        self._offset = self._wal.stat().st_size if self._wal.exists() else 0
        self.frames: Counter[str] = Counter()
        self.commits = 0

    def _names(self) -> dict[int, str]:
        return {int(p): str(n) for n, p in self._db.conn.execute(
            "SELECT name, pageno FROM dbstat")}

    def count(self) -> int:
        """Read the frames appended since the last call; how many there were."""
        size = self._wal.stat().st_size
        page = int(self._db.conn.execute("PRAGMA page_size").fetchone()[0])
        start = max(self._offset, _WAL_HEADER)
        names, new = self._names(), 0
        with self._wal.open("rb") as f:
            for at in range(start, size - _FRAME_HEADER - page + 1, _FRAME_HEADER + page):
                f.seek(at)
                pageno = int.from_bytes(f.read(4), "big")
                self.frames[names.get(pageno, "(freelist or schema)")] += 1
                new += 1
        self._offset = size
        self.commits += 1
        return new


def measure(clients: int, rounds: int, warmup: int = 100) -> dict[str, Any]:
    """Frames per purchase of each step, over `rounds` batches of `clients` purchases."""
    with tempfile.TemporaryDirectory(prefix="walcost-") as tmp:
        now = [T0]

        def clock() -> float:
            return now[0]
        creds = Credentials(cost=CHEAP_ARGON2)
        gate = Gate(Database(Path(tmp) / "gatekeeper.sqlite3", GATE_SCHEMA), clock=clock,
                    credentials=creds)
        stock = Stock(Database(Path(tmp) / "stock.sqlite3", STOCK_SCHEMA), clock=clock)
        ids = iter(range(1, 1 << 30))

        def call(msg: dict[str, Any]) -> dict[str, Any]:
            req = parse_request(msg)
            out = local.answer(gate, stock, req, wsess_uid=f"s{next(ids):08d}", peer=None,
                               pid="")
            assert out.reply.get("ok"), out.reply
            return out.reply

        def session(role: str, name: str) -> dict[str, Any]:
            call({"op": "auth", "token": f"new_{role}", "username": name, "password": "password1"})
            return call({"op": "auth", "token": role, "username": name, "password": "password1"})
        seller = session("seller", "sam")
        uid = call({"op": "sell", "wsess_uid": seller["wsess_uid"], "token": seller["token"],
                    "product_name": "cola", "cost": 5, "amount": 1_000_000,
                    "req_id": "sell"})["product"]["product_uid"]
        buyers = [session("buyer", f"b{k:03d}") for k in range(clients)]
        counters = {"gatekeeper.sqlite3": WalCounter(gate.db),
                    "stock.sqlite3": WalCounter(stock.db)}
        steps: dict[str, Counter[str]] = {}
        pids = iter(range(1, 1 << 30))

        @contextmanager
        def step(name: str, db: Database, counting: bool) -> Iterator[None]:
            counter = counters[db.path.name if db.path is not None else ""]
            before = Counter(counter.frames)
            with db.transaction():
                yield
            counter.count()
            if counting:
                steps.setdefault(name, Counter()).update(counter.frames - before)

        for n in range(warmup + rounds):
            counting = n >= warmup
            now[0] += 1.0
            who = [{"wsess_uid": b["wsess_uid"], "token": b["token"]} for b in buyers]
            with step("deposit (gatekeeper)", gate.db, counting):
                for s in who:
                    req = parse_request({"op": "deposit", "amount": 5, "req_id": f"d{n}", **s})
                    local.finish(gate.answer(Call(req)))
            with step("reserve (stock handler)", stock.db, counting):
                held = [reserve(stock, Call(parse_request(
                    {"op": "buy", "product_uid": uid, "amount": 1, "req_id": f"b{n}", **s}),
                    pid=f"P{next(pids):016x}")) for s in who]
            with step("charge (gatekeeper)", gate.db, counting):
                charged = [charge(gate.till, h) for h in held]
            assert all(c.committed for c in charged), charged[0]
            with step("settle (stock handler)", stock.db, counting):
                for c in charged:
                    settle(stock, c.pid, True)
        purchases = clients * rounds
        gate.db.close()
        stock.db.close()
    return {"clients": clients, "rounds": rounds, "purchases": purchases,
            "steps": {name: {"frames_per_purchase": sum(c.values()) / purchases,
                             "frames_per_commit": sum(c.values()) / rounds,
                             "by_btree_per_commit": {k: v / rounds
                                                     for k, v in c.most_common()}}
                      for name, c in steps.items()}}


def text(report: dict[str, Any]) -> str:
    lines = [f"WAL frames (pages) per purchase, {report['clients']} purchases per commit, "
             f"{report['rounds']} commits of each step counted"]
    total = 0.0
    for name, s in report["steps"].items():
        total += s["frames_per_purchase"]
        btrees = ", ".join(f"{k} {v:g}" for k, v in s["by_btree_per_commit"].items())
        lines.append(f"  {name:<24} {s['frames_per_purchase']:6.2f}/purchase "
                     f"{s['frames_per_commit']:6.1f}/commit: {btrees}")
    lines.append(f"  {'a purchase, all steps':<24} {total:6.2f} frames: {2 * total:.1f} pwrites, "
                 f"{4 / report['clients']:.2f} fdatasyncs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.walcost", description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, nargs="+", default=[1, 32],
                   help="purchases per commit, one report each (default: 1 32)")
    p.add_argument("--rounds", type=int, default=8, help="commits of each step counted")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    reports = [measure(c, args.rounds) for c in args.clients]
    print(json.dumps(reports, indent=1) if args.json else "\n".join(map(text, reports)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
