"""Differential check: a seeded sequence of ops answered by the rules, as JSON lines.

Run it against two builds (two checkouts on PYTHONPATH) and compare the outputs:
any line that differs is a divergence. It drives the rules in one process, the
through `vending/local.py` (every op by its row, the whole purchase saga in one
process), so it needs no sockets; tokens and wsess_uids are random, so they are
replaced by names.

    PYTHONPATH=/path/to/a python -m tools.differential --seed 1 > a.jsonl
    PYTHONPATH=/path/to/b python -m tools.differential --seed 1 > b.jsonl
    diff a.jsonl b.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from vending import local
from vending.credentials import new_wsess_uid
from vending.db import Database
from vending.errors import ClientError
from vending.gate import SCHEMA as GATE_SCHEMA
from vending.gate import Gate
from vending.requests import Request, parse_request
from vending.stock import SCHEMA as STOCK_SCHEMA
from vending.stock import Stock

USERS = [("buyer", f"b{i}") for i in range(4)] + [("seller", f"s{i}") for i in range(3)]
PASSWORDS = ("correct horse", "battery staple")
COINS = (5, 10, 20, 50, 100, 3, 0, -5)


class Rules:
    """Both owners' rules over their files, in one process (what the benchmark's
    baseline was before it kept its state in memory, tools/baseline.py)."""

    def __init__(self, data_dir: Path) -> None:
        self.gate = Gate(Database(data_dir / "gatekeeper.sqlite3", GATE_SCHEMA))
        self.stock = Stock(Database(data_dir / "stock.sqlite3", STOCK_SCHEMA))

    def answer(self, req: Request, peer: str | None) -> dict[str, Any]:
        """Any op, by its row (vending/local.py). Raises ClientError for a refusal."""
        return local.answer(self.gate, self.stock, req, wsess_uid=new_wsess_uid(), peer=peer,
                            pid=uuid.uuid4().hex).reply


def _request(rng: random.Random, creds: dict[str, dict[str, Any]],
             products: list[str], req_ids: list[str]) -> dict[str, Any]:
    role, name = rng.choice(USERS)
    cred = creds.get(name)
    op = rng.choice(["auth"] * 4 + ["deposit"] * 6 + ["buy"] * 5 + ["sell"] * 4
                    + ["delete_product", "reset", "profile", "logout", "logout_all",
                       "delete_user", "products", "product", "ping"])
    msg: dict[str, Any] = {"op": op}
    if op == "auth":
        kind = rng.choice([role, role, "new_" + role])
        msg.update(token=kind, username=name, password=rng.choice(PASSWORDS[:1] * 5 + PASSWORDS))
    elif op == "deposit":
        msg["amount"] = rng.choice(COINS)
    elif op == "buy":
        msg.update(product_uid=rng.choice(products or ["p0000000001"]),
                   amount=rng.choice([1, 1, 2, 5, 50]))
    elif op == "sell":
        if products and rng.random() < 0.5:
            msg.update(product_uid=rng.choice(products), amount=rng.choice([-3, 2, 5]))
            if rng.random() < 0.3:
                msg["cost"] = rng.choice([25, 33])
        else:
            msg.update(product_name=rng.choice(["cola", "tea"]), cost=rng.choice([35, 40, 7]),
                       amount=rng.choice([0, 4, 10]))
    elif op in ("delete_product", "product"):
        msg["product_uid"] = rng.choice(products or ["p0000000001"])
    elif op == "delete_user":
        msg["password"] = rng.choice(PASSWORDS[:1] * 3 + PASSWORDS)
    elif op == "products" and rng.random() < 0.3:
        msg["seller_uid"] = "seller_" + rng.choice(["s0", "s1"])
    if op not in ("auth", "products", "product", "ping"):
        if cred is not None:
            msg.update(wsess_uid=cred["wsess_uid"], token=cred["token"])
        elif rng.random() < 0.5:
            msg.update(wsess_uid="nope", token="nope")
    if rng.random() < 0.5:
        if req_ids and rng.random() < 0.4:
            msg["req_id"] = rng.choice(req_ids)
        else:
            req_ids.append(f"r{len(req_ids)}")
            msg["req_id"] = req_ids[-1]
    return msg


def run(seed: int, count: int, out: Any) -> None:
    rng = random.Random(seed)
    names: dict[str, str] = {}

    def name(secret: str, kind: str) -> str:
        return names.setdefault(secret, f"{kind}{len(names)}")

    with tempfile.TemporaryDirectory() as tmp:
        base = Rules(Path(tmp))
        creds: dict[str, dict[str, Any]] = {}
        products: list[str] = []
        req_ids: list[str] = []
        for i in range(count):
            msg = _request(rng, creds, products, req_ids)
            try:
                req = parse_request(msg)
                # One transaction per owner around each op, as the baseline's batch does
                # (the gatekeeper's database is `gate.db`; `accounts.db` before it).
                gate = getattr(base, "gate", None) or getattr(base, "accounts")  # noqa: B009
                with gate.db.transaction(), base.stock.db.transaction():
                    reply = base.answer(req, None)
            except ClientError as exc:
                reply = exc.to_reply()
            if msg["op"] == "auth" and reply.get("ok"):
                creds[msg["username"]] = {"wsess_uid": reply["wsess_uid"],
                                          "token": reply["token"]}
            if reply.get("ok") and "product" in reply and isinstance(reply["product"], dict):
                uid = reply["product"]["product_uid"]
                if uid not in products:
                    products.append(uid)
            shown = dict(reply)
            for key, kind in (("token", "T"), ("wsess_uid", "W")):
                if isinstance(shown.get(key), str):
                    shown[key] = name(shown[key], kind)
            shown_msg = {k: (name(v, "T" if k == "token" else "W")
                             if k in ("token", "wsess_uid") and v != "nope" else v)
                         for k, v in msg.items()}
            print(json.dumps([i, shown_msg, shown], sort_keys=True), file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.differential")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=400)
    args = parser.parse_args(argv)
    run(args.seed, args.count, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
