"""Hostile frames for a live front door: random bytes, broken msgpack, odd maps.

Used by the fuzz test and by `vending fuzz` for long runs. A DEALER socket
sends in windows (so the per-client in-flight cap is not what is tested) and
checks that every answer is a well-formed reply map.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
import zmq

from transport.codec import DecodeError, decode_map
from vending.requests import OPS

_FIELDS = ["op", "req_id", "wsess_uid", "token", "username", "password", "amount", "cost",
           "product_uid", "product_name", "seller_uid", "x"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(12 if depth < 3 else 8)
    return [
        lambda: rng.randint(-2**63, 2**64 - 1), lambda: rng.choice([0, 1, -1, 5, 7, 10**6 + 1]),
        lambda: rng.random() * 1e6, lambda: rng.choice([True, False, None]),
        lambda: "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(80))),
        lambda: rng.randbytes(rng.randrange(40)), lambda: rng.choice(sorted(OPS)),
        lambda: "x" * rng.choice([0, 1, 64, 65, 257, 5000]),
        lambda: [_value(rng, depth + 1) for _ in range(rng.randrange(5))],
        lambda: {str(rng.randrange(9)): _value(rng, depth + 1) for _ in range(rng.randrange(4))},
        lambda: {rng.randrange(9): 1},
        lambda: msgpack.ExtType(rng.randrange(128), rng.randbytes(4)),  # type: ignore[no-untyped-call]
    ][kind]()


def hostile_frames(rng: random.Random) -> Iterator[list[bytes]]:
    """An endless stream of hostile requests (each a list of frames after the delimiter)."""
    while True:
        kind = rng.randrange(8)
        if kind == 0:
            yield [rng.randbytes(rng.randrange(1, 300))]
        elif kind == 1:  # valid msgpack, cut short or with a corrupted byte
            data = bytearray(msgpack.packb({"op": "deposit", "amount": 5, "token": "t"}))
            if rng.random() < 0.5:
                del data[rng.randrange(1, len(data)):]
            else:
                data[rng.randrange(len(data))] = rng.randrange(256)
            yield [bytes(data)]
        elif kind == 2:  # not a map
            yield [msgpack.packb(_value(rng), use_bin_type=True)]
        elif kind == 3:  # several frames, or an empty one
            yield [b"" if rng.random() < 0.5 else b"\x80"] * rng.randrange(1, 4)
        elif kind == 4:  # oversized
            yield [msgpack.packb({"op": "ping", "x": "y" * (64 * 1024 + rng.randrange(100))})]
        else:  # a map of plausible fields with implausible values
            body = {rng.choice(_FIELDS): _value(rng) for _ in range(rng.randrange(1, 7))}
            if rng.random() < 0.7:
                body["op"] = rng.choice(sorted(OPS))
            try:
                yield [msgpack.packb(body, use_bin_type=True)]
            except (ValueError, OverflowError, TypeError):
                continue


@dataclass
class FuzzReport:
    sent: int = 0
    answered: int = 0
    ok_replies: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    malformed_replies: int = 0

    def line(self) -> str:
        codes = " ".join(f"{k}={v}" for k, v in sorted(self.errors.items()))
        return (f"fuzz: sent={self.sent} answered={self.answered} ok={self.ok_replies} "
                f"malformed_replies={self.malformed_replies} {codes}")


def fuzz(endpoint: str, frames: int, *, seed: int = 0, window: int = 32,
         ctx: zmq.Context[Any] | None = None, timeout: float = 5.0,
         server_key: bytes | None = None) -> FuzzReport:
    """Send `frames` hostile requests; every reply must be a proper reply map."""
    rng = random.Random(seed)
    own = ctx is None
    context = ctx or zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key is not None:
        sock.curve_serverkey = server_key
        sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
    sock.connect(endpoint)
    report = FuzzReport()
    source = hostile_frames(rng)
    try:
        while report.sent < frames:
            batch = min(window, frames - report.sent)
            for _ in range(batch):
                sock.send_multipart([b"", *next(source)])
            report.sent += batch
            for _ in range(batch):
                if not sock.poll(int(timeout * 1000)):
                    break  # dropped frames (e.g. over 1 MiB) get no reply by design
                parts = sock.recv_multipart()
                report.answered += 1
                try:
                    reply = decode_map(parts[-1], max_bytes=1 << 24)
                except DecodeError:
                    report.malformed_replies += 1
                    continue
                if reply.get("ok") is True:
                    report.ok_replies += 1
                elif isinstance(reply.get("error"), str) and isinstance(reply.get("message"), str):
                    report.errors[reply["error"]] = report.errors.get(reply["error"], 0) + 1
                else:
                    report.malformed_replies += 1
    finally:
        sock.close(0)
        if own:
            context.term()
    return report
