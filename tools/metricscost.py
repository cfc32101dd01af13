"""What `vending serve --metrics` costs per request: `python -m tools.metricscost`.

Two figures, both printed, both measured in this one run so that a busy machine
shifts them alike:

1. the hot path alone: what the front door's loop adds per answered request
   when metrics are on (`FrontDoor._observed`), timed over many calls;
2. end to end: an embedded system answering `ping` and `products` over inproc
   from one blocking client, with metrics off and on, in alternating rounds
   (off, on, on, off, ...), as microseconds per request. A difference below the
   rounds' spread is noise, not a cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, cast

from actors.config import Config
from actors.system import VendingSystem


def observe_ns(calls: int) -> float:
    """Nanoseconds the front door's loop adds per answered request with metrics on:
    `FrontDoor._observed` (the reply's code, the clock, `RequestStats.observe`),
    timed over `calls` calls on a few ops and codes, the bare loop subtracted."""
    import zmq

    from actors.metrics import RequestStats
    from transport.frontdoor import FrontDoor

    stats = RequestStats()
    ctx: zmq.Context[Any] = zmq.Context()
    door = FrontDoor(cast(Any, None), ctx, [], "inproc://unused", cast(Any, None),
                     observe=stats.observe)
    replies: list[tuple[str, dict[str, Any]]] = [
        ("products", {"ok": True}), ("buy", {"ok": True}), ("deposit", {"ok": True}),
        ("auth", {"ok": False, "error": "INVALID_CREDENTIALS"})]
    started = time.monotonic()

    def timed(body: Callable[[str, dict[str, Any]], None]) -> float:
        begin = time.perf_counter()
        for i in range(calls):
            op, reply = replies[i & 3]
            body(op, reply)
        return time.perf_counter() - begin

    bare = timed(lambda op, reply: None)
    full = timed(lambda op, reply: door._observed(op, reply, started))
    ctx.term()
    return (full - bare) / calls * 1e9


def _round(metrics: bool, requests: int, op: str) -> float:
    """Microseconds per request, one client, `requests` requests."""
    config = Config(data_dir=":memory:", binds=(), metrics="127.0.0.1:0" if metrics else None)
    with VendingSystem(config) as system:
        client = system.client()
        call: Callable[[], object] = client.ping if op == "ping" else client.products
        for _ in range(200):  # warm up: sockets connected, code paths hot
            call()
        started = time.perf_counter()
        for _ in range(requests):
            call()
        took = time.perf_counter() - started
        client.close()
    return took / requests * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="per round (default: 5000)")
    parser.add_argument("--rounds", type=int, default=3, help="per setting (default: 3)")
    parser.add_argument("--calls", type=int, default=1_000_000,
                        help="observe() calls timed (default: 1000000)")
    args = parser.parse_args(argv)
    print(f"added per request (FrontDoor._observed): {observe_ns(args.calls):.0f} ns "
          f"(mean of {args.calls} calls, the bare loop subtracted)")
    for op in ("ping", "products"):
        off: list[float] = []
        on: list[float] = []
        for i in range(args.rounds):
            for metrics in ((False, True) if i % 2 == 0 else (True, False)):
                (on if metrics else off).append(_round(metrics, args.requests, op))
            print(f"  {op} round {i + 1}: off {off[-1]:.1f} us, on {on[-1]:.1f} us",
                  file=sys.stderr, flush=True)
        print(f"{op}: metrics off {statistics.median(off):.1f} us/request, on "
              f"{statistics.median(on):.1f} us/request (median of {args.rounds} rounds of "
              f"{args.requests}; difference {statistics.median(on) - statistics.median(off):+.1f}"
              f" us; rounds spread {min(off + on):.1f}..{max(off + on):.1f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
