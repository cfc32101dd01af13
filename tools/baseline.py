"""The benchmark's baseline: the same protocol and rules with no actors and no fifos.

One thread, one ROUTER socket. It drains what has arrived, answers the whole
batch by calling the `vending/` rules directly inside one transaction per
database (the same WAL, `synchronous=FULL` group commit as the system), then
sends the replies. It shows what the actor architecture costs. Not a product:
no deadlines, no supervision, argon2 on the one thread.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import zmq

from transport.codec import DecodeError, decode_map, encode
from vending import local
from vending.credentials import new_wsess_uid
from vending.db import Database
from vending.errors import BadRequest, ClientError, VendingError
from vending.gate import SCHEMA as GATE_SCHEMA
from vending.gate import Gate
from vending.requests import Request, parse_request
from vending.stock import SCHEMA as STOCK_SCHEMA
from vending.stock import Stock


class Baseline:
    def __init__(self, data_dir: Path) -> None:
        self.gate = Gate(Database(data_dir / "gatekeeper.sqlite3", GATE_SCHEMA))
        self.stock = Stock(Database(data_dir / "stock.sqlite3", STOCK_SCHEMA))

    def answer(self, req: Request, peer: str | None) -> dict[str, Any]:
        """Any op, by its row (vending/local.py). Raises ClientError for a refusal."""
        return local.answer(self.gate, self.stock, req, wsess_uid=new_wsess_uid(), peer=peer,
                            pid=uuid.uuid4().hex).reply

    def serve(self, endpoint: str, stop: threading.Event) -> None:
        ctx: zmq.Context[Any] = zmq.Context()
        router = ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.bind(endpoint)
        # A port-0 endpoint is reported as bound, as `vending serve` does.
        bound = router.getsockopt_string(zmq.LAST_ENDPOINT)
        print(f"baseline ready on {bound}", file=sys.stderr, flush=True)
        try:
            while not stop.is_set():
                if not router.poll(100):
                    continue
                batch: list[tuple[list[bytes], Request | VendingError]] = []
                while len(batch) < 512:
                    try:
                        frames = router.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    envelope, body = frames[:-1], frames[-1]
                    try:
                        batch.append((envelope, parse_request(decode_map(body))))
                    except DecodeError as exc:
                        batch.append((envelope, BadRequest(str(exc))))
                    except VendingError as exc:
                        batch.append((envelope, exc))
                replies = []
                with self.gate.db.transaction(), self.stock.db.transaction():
                    for envelope, item in batch:
                        if isinstance(item, VendingError):
                            reply = item.to_reply()
                        else:
                            try:
                                with self.gate.db.transaction(), \
                                        self.stock.db.transaction():
                                    reply = self.answer(item, None)
                            except ClientError as exc:
                                reply = exc.to_reply()
                            if item.req_id is not None:
                                reply = {**reply, "req_id": item.req_id}
                        replies.append([*envelope, encode(reply)])
                for frames in replies:
                    router.send_multipart(frames)
        finally:
            router.close(0)
            ctx.term()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.baseline")
    parser.add_argument("--bind", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Baseline(args.data_dir).serve(args.bind, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
