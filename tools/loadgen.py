"""The bench's load generator: one process, one thread, N REQ sockets, one `zmq.Poller`.

Run by `vending bench` as `python -m tools.loadgen`, never by hand. It talks
to the driver over its pipes, one line at a time:

1. stdin: a JSON `GeneratorSpec` (sessions already registered by the driver:
   endpoint, wsess_uid and token per socket);
2. it opens and connects one REQ socket per session, pings through each so
   every connection is up, then writes `ready` on stdout;
3. stdin: `go`. Each socket loops its workload closed-loop (send, wait for
   the reply, send the next) for `seconds`; in-flight requests are then
   waited for, so the server is idle when the driver takes its /proc
   snapshot after the window;
4. stdout: one JSON `GeneratorResult` line, then it exits.

Requests are raw msgpack frames (`transport.codec`), built per request with a
fresh `req_id` on state-changing ops, as `transport.Client` sends them; each
request's latency is timed with `time.perf_counter` from send to reply. The
generator reports its own CPU from /proc, so the driver can tell when the
load side, not the server, was the limit (one thread near 100% of a core).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import zmq

from transport.codec import DecodeError, decode_map, encode
from vending.requests import STATE_CHANGING_OPS

from . import procstat

__all__ = ["WORKLOADS", "GeneratorResult", "GeneratorSpec", "Session", "run", "steps"]

WORKLOADS = ("buy", "deposit", "products")
#: After the window, how long to wait for the replies still in flight.
DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class Session:
    endpoint: str
    wsess_uid: str
    token: str


@dataclass(frozen=True)
class GeneratorSpec:
    workload: str
    seconds: float
    product_uid: str
    sessions: list[Session]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> GeneratorSpec:
        raw = json.loads(text)
        return cls(raw["workload"], float(raw["seconds"]), raw["product_uid"],
                   [Session(**s) for s in raw["sessions"]])


@dataclass
class GeneratorResult:
    requests: int = 0
    purchases: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    #: requests whose reply never came (after the window plus DRAIN_SECONDS)
    unanswered: int = 0
    #: from `go` to the last reply
    elapsed_s: float = 0.0
    #: this process over the window, every thread (ZeroMQ's I/O thread too)
    cpu_s: float = 0.0
    #: the one thread that runs the Poller loop
    main_thread_cpu_s: float = 0.0
    latencies_us: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> GeneratorResult:
        return cls(**json.loads(text))


def steps(workload: str, session: Session, product_uid: str) -> list[dict[str, Any]]:
    """The requests one socket repeats, in order."""
    creds = {"wsess_uid": session.wsess_uid, "token": session.token}
    if workload == "buy":
        return [{"op": "deposit", "amount": 5, **creds},
                {"op": "buy", "product_uid": product_uid, "amount": 1, **creds}]
    if workload == "deposit":
        return [{"op": "deposit", "amount": 5, **creds}, {"op": "reset", **creds}]
    if workload == "products":
        return [{"op": "product", "product_uid": product_uid}]
    raise ValueError(f"unknown workload {workload!r}")


class _Loop:
    """One socket's place in its workload; which request is in flight and since when."""

    __slots__ = ("next_step", "sent", "sock", "steps", "tag")

    def __init__(self, sock: zmq.Socket[Any], steps: list[dict[str, Any]], tag: str) -> None:
        self.sock = sock
        self.steps = steps
        self.tag = tag
        self.next_step = 0
        self.sent = 0.0

    def send(self, seq: int) -> str:
        message = self.steps[self.next_step % len(self.steps)]
        self.next_step += 1
        if message["op"] in STATE_CHANGING_OPS:
            message = {**message, "req_id": f"{self.tag}-{seq}"}
        frame = encode(message)
        self.sent = time.perf_counter()
        self.sock.send(frame)
        return str(message["op"])


def run(spec: GeneratorSpec, ready: Any = None, go: Any = None) -> GeneratorResult:
    """Drive every session of `spec` closed-loop; see the module docstring.

    Runs in the calling thread, which owns every socket. `ready()` is called
    once all connections answered a ping; `go()` blocks until the window
    starts (both optional, for running in-process).
    """
    ctx: zmq.Context[Any] = zmq.Context()
    socks: list[zmq.Socket[Any]] = []
    try:
        poller = zmq.Poller()
        loops: dict[zmq.Socket[Any], _Loop] = {}
        for i, session in enumerate(spec.sessions):
            sock = ctx.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(session.endpoint)
            socks.append(sock)
            loops[sock] = _Loop(sock, steps(spec.workload, session, spec.product_uid),
                                f"lg{os.getpid()}-{i}")
            sock.send(encode({"op": "ping"}))
        for sock in socks:
            if not sock.poll(30_000):
                raise RuntimeError("a warm-up ping got no reply in 30 s")
            sock.recv()
            poller.register(sock, zmq.POLLIN)
        if ready is not None:
            ready()
        if go is not None:
            go()
        return _drive(spec, poller, loops)
    finally:
        for sock in socks:
            sock.close(0)
        ctx.term()


def _drive(spec: GeneratorSpec, poller: zmq.Poller,
           loops: dict[zmq.Socket[Any], _Loop]) -> GeneratorResult:
    result = GeneratorResult()
    latencies = result.latencies_us
    errors = result.errors
    me = os.getpid()
    before = procstat.snapshot(me)
    start = time.perf_counter()
    end = start + spec.seconds
    in_flight: dict[zmq.Socket[Any], str] = {}
    seq = 0
    for sock, loop in loops.items():
        in_flight[sock] = loop.send(seq)
        seq += 1
    last = start
    while in_flight:
        now = time.perf_counter()
        if now > end + DRAIN_SECONDS:
            break
        events = poller.poll(100 if now < end else 1000)
        for sock, _ in events:
            raw = sock.recv()
            last = time.perf_counter()
            loop = loops[sock]
            latencies.append(int((last - loop.sent) * 1e6))
            op = in_flight.pop(sock)
            try:
                reply = decode_map(raw, max_bytes=1 << 30)
            except DecodeError:
                errors["UNDECODABLE"] = errors.get("UNDECODABLE", 0) + 1
            else:
                if not reply.get("ok"):
                    code = str(reply.get("error"))
                    errors[code] = errors.get(code, 0) + 1
                elif op == "buy":
                    result.purchases += 1
            if last < end:
                in_flight[sock] = loop.send(seq)
                seq += 1
    after = procstat.snapshot(me)
    result.requests = len(latencies)
    result.unanswered = len(in_flight)
    result.elapsed_s = last - start
    used = procstat.delta(before, after)
    result.cpu_s, result.main_thread_cpu_s = used.cpu_s, used.main_thread_cpu_s
    return result


def main() -> int:
    spec = GeneratorSpec.from_json(sys.stdin.readline())

    def ready() -> None:
        print("ready", flush=True)

    def go() -> None:
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("load generator: the driver went away before `go`")

    print(run(spec, ready, go).to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
