"""`vending abuse`: flood a live test server from one loopback address, and report
what a normal user on another loopback address saw meanwhile (issue 21).

The floods, from FLOOD_ADDRESS (127.0.0.2), each pipelined over DEALER sockets
that keep a window of requests in flight:
- `reads`: `events` reads (since 0, limit 1000) of the gatekeeper's events;
- `registrations`: registrations of a taken name (the normal user's);
- `spray` (only if asked): wrong passwords for the normal user's account from
  SPRAY_ADDRESSES (127.0.0.10 to .29), the distributed guess the account-wide
  failure key is for;
- `subscriptions` (with `--events`): a raw ZMTP 3.0 peer over a plain TCP
  socket subscribes with a 300 KB topic and hangs up, once a second.

The normal user, from USER_ADDRESS (127.0.0.3), deposits and logs in, one
request at a time, for the whole run. Printed: its deposits ok/total and p99,
its logins ok/total and median, whether the server still answers, and the
server's RSS before, at its peak and after (with --pid, or the process found
listening on the endpoint's port).

Everything is bounded in time (`seconds`) and in requests in flight; only
loopback endpoints are accepted.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import statistics
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgpack
import zmq

from transport.client import Client

from . import procstat

__all__ = ["FLOODS", "FLOOD_ADDRESS", "USER_ADDRESS", "AbuseReport", "run_abuse"]

FLOOD_ADDRESS, USER_ADDRESS, SEED_ADDRESS = "127.0.0.2", "127.0.0.3", "127.0.0.5"
SPRAY_ADDRESSES = tuple(f"127.0.0.{10 + i}" for i in range(20))
FLOODS = ("reads", "registrations", "spray", "subscriptions")
PASSWORD = "abuse-normal-user"
#: The issue's subscription that crashed libzmq (a stack overflow at 300 KB).
LONG_TOPIC = 300 * 1024


class NotLoopback(ValueError):
    """The endpoint is not on this machine's loopback: `vending abuse` refuses it."""


def loopback_hostport(endpoint: str) -> tuple[str, int]:
    """(host, port) of a tcp:// loopback endpoint; NotLoopback otherwise."""
    parts = urlsplit(endpoint)
    if parts.scheme != "tcp" or parts.hostname is None or parts.port is None:
        raise NotLoopback(f"{endpoint}: give a tcp://127.0.0.1:PORT endpoint")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NotLoopback(f"{endpoint}: only loopback endpoints may be flooded")
    return ("127.0.0.1" if host == "localhost" else host), parts.port


def from_source(source: str, endpoint: str) -> str:
    """`endpoint`, connected from the local address `source` (libzmq's `SRC;DEST`)."""
    return endpoint.replace("tcp://", f"tcp://{source}:0;", 1)


@dataclass
class FloodStats:
    name: str
    sent: int = 0
    codes: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        answers = " ".join(f"{k}={v}" for k, v in sorted(self.codes.items()))
        return f"flood {self.name}: sent {self.sent}, answered {answers or 'nothing'}"


@dataclass
class AbuseReport:
    endpoint: str
    seconds: float
    floods: tuple[str, ...]
    flood_stats: list[FloodStats]
    deposit_ms: list[float]
    deposits: int
    login_ms: list[float]
    logins: int
    server_up: bool
    rss_before: int
    rss_peak: int
    rss_after: int
    user_errors: Counter[str] = field(default_factory=Counter)

    @property
    def deposit_p99_ms(self) -> float:
        return _quantile(self.deposit_ms, 0.99)

    @property
    def login_median_ms(self) -> float:
        return statistics.median(self.login_ms) if self.login_ms else float("nan")

    def met(self) -> bool:
        """The issue's targets: up; every deposit ok, p99 <= 1 s; logins >= 90% ok,
        median <= 1 s."""
        return (self.server_up and self.deposits > 0
                and len(self.deposit_ms) == self.deposits and self.deposit_p99_ms <= 1000
                and len(self.login_ms) >= 0.9 * self.logins > 0
                and self.login_median_ms <= 1000)

    def lines(self) -> list[str]:
        mb = 1024 * 1024
        rss = (f"RSS {self.rss_before / mb:.0f} MB before, {self.rss_peak / mb:.0f} MB peak, "
               f"{self.rss_after / mb:.0f} MB after" if self.rss_before else "RSS unknown")
        errors = " ".join(f"{k}={v}" for k, v in sorted(self.user_errors.items()))
        return [
            f"abuse: {self.seconds:.0f} s against {self.endpoint}, floods from "
            f"{FLOOD_ADDRESS}: {', '.join(self.floods)}"
            + (f" (spray from {SPRAY_ADDRESSES[0]}-{SPRAY_ADDRESSES[-1].rsplit('.', 1)[1]})"
               if "spray" in self.floods else ""),
            *(s.line() for s in self.flood_stats),
            f"normal user ({USER_ADDRESS}): deposits ok {len(self.deposit_ms)}/{self.deposits}"
            f" p99 {self.deposit_p99_ms:.0f} ms; logins ok {len(self.login_ms)}/{self.logins}"
            f" median {self.login_median_ms:.0f} ms" + (f"; refused: {errors}" if errors else ""),
            f"server: {'up' if self.server_up else 'DOWN'}; {rss}",
            f"targets (all deposits ok, p99 <= 1 s; logins >= 90% ok, median <= 1 s; up): "
            f"{'met' if self.met() else 'NOT met'}",
        ]


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _code(reply: dict[str, Any]) -> str:
    return "ok" if reply.get("ok") is True else str(reply.get("error"))


def _pipelined(ctx: zmq.Context[Any], endpoint: str, sources: list[str], message: Any,
               window: int, stop: threading.Event, stats: FloodStats) -> None:
    """Keep `window` copies of `message` (a map, or a function of the source giving
    one) in flight on one DEALER per source until `stop`; then collect what is
    still coming for up to two seconds."""
    socks = []
    for source in sources:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, window * 2)
        sock.connect(from_source(source, endpoint))
        socks.append(sock)
    poller = zmq.Poller()
    for sock in socks:
        poller.register(sock, zmq.POLLIN)
    in_flight = dict.fromkeys(socks, 0)

    def send(sock: zmq.Socket[Any]) -> None:
        body = message() if callable(message) else message
        sock.send_multipart([b"", msgpack.packb(body, use_bin_type=True)])
        in_flight[sock] += 1
        stats.sent += 1

    try:
        for sock in socks:
            for _ in range(window):
                send(sock)
        drain_until = None
        while True:
            if stop.is_set() and drain_until is None:
                drain_until = time.monotonic() + 2.0
            if drain_until is not None and (time.monotonic() > drain_until
                                            or not any(in_flight.values())):
                return
            for sock, _ in poller.poll(100):
                frames = sock.recv_multipart()
                in_flight[sock] -= 1
                try:
                    stats.codes[_code(msgpack.unpackb(frames[-1], raw=False))] += 1
                except (ValueError, AttributeError, msgpack.ExtraData):
                    stats.codes["undecodable"] += 1
                if drain_until is None:
                    send(sock)
    finally:
        for sock in socks:
            sock.close(0)


def zmtp_long_subscription(host: str, port: int, source: str, topic_bytes: int,
                           timeout: float = 5.0) -> None:
    """A ZMTP 3.0 SUB peer over a plain TCP socket: greeting, READY, one subscription
    message of `topic_bytes`, then hang up. (Not libzmq: a SUB socket holding such a
    subscription crashes its own process as it closes.)"""
    greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([3, 0]) + b"NULL".ljust(20, b"\x00") \
        + b"\x00" + b"\x00" * 31
    name, value = b"Socket-Type", b"SUB"
    ready_body = b"\x05READY" + bytes([len(name)]) + name + struct.pack(">I", len(value)) + value
    ready = bytes([0x04, len(ready_body)]) + ready_body
    subscription = b"\x01" + b"t" * topic_bytes  # ZMTP 3.0: a message starting with 1
    frame = bytes([0x02]) + struct.pack(">Q", len(subscription)) + subscription
    with socket.create_connection((host, port), timeout=timeout,
                                  source_address=(source, 0)) as sock:
        sock.sendall(greeting)
        got = b""
        while len(got) < 64:  # the peer's greeting
            chunk = sock.recv(64 - len(got))
            if not chunk:
                return
            got += chunk
        sock.sendall(ready + frame)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):  # its READY, until it hangs up or we time out
            pass


def _subscriptions(events: str, stop: threading.Event, stats: FloodStats,
                   limit: int = 30) -> None:
    host, port = loopback_hostport(events)
    while not stop.is_set() and stats.sent < limit:
        stats.sent += 1
        try:
            zmtp_long_subscription(host, port, FLOOD_ADDRESS, LONG_TOPIC)
            stats.codes["sent"] += 1
        except OSError as exc:
            stats.codes[type(exc).__name__] += 1
        stop.wait(1.0)


def listener_pid(port: int) -> int | None:
    """The process (of this user) listening on TCP `port`, from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return int(pid)
            except OSError:
                continue
    return None


def _seed_events(endpoint: str, count: int) -> None:
    """`count` deposits by a seeding user from SEED_ADDRESS: gatekeeper events to read."""
    with Client(from_source(SEED_ADDRESS, endpoint), timeout=30) as seeder:
        seeder.register(f"abuse_seed_{secrets.token_hex(4)}", PASSWORD)
        assert seeder.wsess_uid is not None and seeder.token is not None
        stats = FloodStats("seed")
        done = threading.Event()
        message = {"op": "deposit", "amount": 5, "wsess_uid": seeder.wsess_uid,
                   "token": seeder.token}
        ctx = zmq.Context()
        try:
            runner = threading.Thread(target=_pipelined, args=(
                ctx, endpoint, [SEED_ADDRESS], message, 32, done, stats))
            runner.start()
            while runner.is_alive() and stats.codes["ok"] < count:
                runner.join(0.2)
            done.set()
            runner.join()
        finally:
            ctx.term()


def run_abuse(endpoint: str, *, events: str | None = None, seconds: float = 20.0,
              floods: tuple[str, ...] = ("reads", "registrations", "subscriptions"),
              pid: int | None = None, seed_events: int = 0, read_sockets: int = 16,
              register_sockets: int = 8, window: int = 60) -> AbuseReport:
    """Run the floods for `seconds` while a normal user works; what it saw."""
    _, port = loopback_hostport(endpoint)
    if events is not None:
        loopback_hostport(events)
    floods = tuple(f for f in floods if f != "subscriptions" or events is not None)
    pid = pid or listener_pid(port)
    if seed_events:
        _seed_events(endpoint, seed_events)
    user = Client(from_source(USER_ADDRESS, endpoint), timeout=5.0, retries=0)
    name = f"abuse_{secrets.token_hex(4)}"
    user.register(name, PASSWORD)
    rss_before = procstat.rss_bytes(pid) if pid else 0
    rss_peak = rss_before
    stop = threading.Event()
    ctx = zmq.Context()
    threads, stats = [], []

    def flood(name_: str, target: Any, *args: Any) -> None:
        stat = FloodStats(name_)
        stats.append(stat)
        threads.append(threading.Thread(target=target, args=(*args, stop, stat),
                                         name=f"abuse-{name_}", daemon=True))

    if "reads" in floods:
        flood("reads", _pipelined, ctx, endpoint, [FLOOD_ADDRESS] * read_sockets,
              {"op": "events", "source": "gatekeeper", "since": 0, "limit": 1000}, window)
    if "registrations" in floods:
        flood("registrations", _pipelined, ctx, endpoint, [FLOOD_ADDRESS] * register_sockets,
              {"op": "auth", "token": "new_buyer", "username": name,
               "password": "taken-name-guess"}, window)
    if "spray" in floods:
        flood("spray", _pipelined, ctx, endpoint, list(SPRAY_ADDRESSES),
              {"op": "auth", "token": "buyer", "username": name, "password": "wrong-guess"}, 2)
    if "subscriptions" in floods and events is not None:
        flood("subscriptions", _subscriptions, events)
    for thread in threads:
        thread.start()
    deposit_ms: list[float] = []
    login_ms: list[float] = []
    deposits = logins = 0
    errors: Counter[str] = Counter()
    ends = time.monotonic() + seconds
    try:
        while time.monotonic() < ends:
            for op in ("deposit", "login"):
                message = ({"op": "deposit", "amount": 5, "wsess_uid": user.wsess_uid,
                            "token": user.token} if op == "deposit" else
                           {"op": "auth", "token": "buyer", "username": name,
                            "password": PASSWORD})
                started = time.monotonic()
                try:
                    reply = user.request(message)
                except Exception as exc:  # noqa: BLE001 - no reply is what we count
                    reply = {"ok": False, "error": type(exc).__name__}
                took = (time.monotonic() - started) * 1000
                if op == "deposit":
                    deposits += 1
                    if reply.get("ok"):
                        deposit_ms.append(took)
                else:
                    logins += 1
                    if reply.get("ok"):
                        login_ms.append(took)
                        user.wsess_uid, user.token = reply["wsess_uid"], reply["token"]
                if not reply.get("ok"):
                    errors[f"{op}:{reply.get('error')}"] += 1
            if pid:
                rss_peak = max(rss_peak, procstat.rss_bytes(pid))
            stop.wait(0.05)  # a normal user, not a flood of its own
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        ctx.destroy(0)
    try:
        with Client(from_source(USER_ADDRESS, endpoint), timeout=5.0, retries=1) as probe:
            server_up = probe.request({"op": "ping"}).get("ok") is True
    except Exception:  # noqa: BLE001 - no answer: down
        server_up = False
    if pid and not Path(f"/proc/{pid}").exists():
        server_up = False
    user.close()
    rss_after = procstat.rss_bytes(pid) if pid else 0
    return AbuseReport(endpoint, seconds, floods, stats, deposit_ms, deposits, login_ms,
                       logins, server_up, rss_before, max(rss_peak, rss_after), rss_after,
                       errors)
