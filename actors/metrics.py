"""`vending serve --metrics HOST:PORT`: this process's numbers as Prometheus text.

Imported only when metrics are asked for (it imports prometheus_client). The
hot path is one call per answered request, `RequestStats.observe`, in the
front door's loop: two dict updates and a bisect, no lock, no
prometheus_client object. Everything else is read when Prometheus scrapes,
from counters the parts keep anyway (`FrontDoor.stats`, `Dispatch`,
`BackendStats`, the supervisor, the liveness clock). In the split layout each
process serves what it runs: the front door its requests and the roles' liveness,
a backend its storage, fifo and events numbers. README, "Metrics", lists them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .liveness import HEARTBEAT_LIVENESS, MISSED_LIMIT

if TYPE_CHECKING:
    from .system import VendingSystem

__all__ = ["BUCKETS", "Metrics", "RequestStats"]

#: Latency buckets (seconds): a purchase takes ~1-10 ms here, a login ~30 ms of
#: argon2; past 10 s the front door answers UNAVAILABLE itself.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
           10.0)


class RequestStats:
    """Answers by (op, code), and a latency histogram by op.

    `observe` runs in the front door's loop only; a scrape reads copies from
    its own thread (a dict copy is one step under the GIL).
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        #: Per op: a count per bucket of BUCKETS, then one for "over the last".
        self.buckets: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}

    def observe(self, op: str, code: str, seconds: float) -> None:
        key = (op, code)
        self.counts[key] = self.counts.get(key, 0) + 1
        counts = self.buckets.get(op)
        if counts is None:
            counts = self.buckets[op] = [0] * (len(BUCKETS) + 1)
        counts[bisect_left(BUCKETS, seconds)] += 1
        self.sums[op] = self.sums.get(op, 0.0) + seconds


class Metrics:
    """The collector and HTTP server of one `VendingSystem`."""

    def __init__(self, system: VendingSystem) -> None:
        self.system = system
        self.requests = RequestStats()
        self._server: Any = None
        self._thread: Any = None
        self.address: tuple[str, int] | None = None

    def serve(self, where: str) -> None:
        """Serve http://HOST:PORT/metrics from a thread of its own (port 0: any)."""
        host, _, port = where.rpartition(":")
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        self._server, self._thread = start_http_server(int(port), host.strip("[]"),
                                                       registry=registry)
        bound = self._server.server_address
        self.address = (str(bound[0]), int(bound[1]))

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def families(self) -> Iterator[Metric]:
        """Every metric of this process, read now (the scrape's thread)."""
        system = self.system
        if system.door is not None:
            yield from self._requests()
            yield from self._front_door()
        if system.supervisor is not None:
            restarts = CounterMetricFamily(
                "vending_actor_restarts", "backend actors restarted by the supervisor after a "
                "failure", labels=["role"])
            counts = dict(system.supervisor.restarts)
            for role in system.backend_stats:
                restarts.add_metric([role], counts.get(role, 0))
            yield restarts
        yield from self._fifos()
        yield from self._backends()

    def _fifos(self) -> Iterator[Metric]:
        refused = CounterMetricFamily("vending_fifo_refused", "fifo messages refused because "
                                      "the fifo was full: at the front door a request answered "
                                      "UNAVAILABLE, at a backend a reply dropped (the client "
                                      "retries)", labels=["role"])
        if self.system.dispatch is not None:
            refused.add_metric(["frontdoor"], self.system.dispatch.fifo_refused)
        for role, s in dict(self.system.backend_stats).items():
            refused.add_metric([role], s.fifo_refused)
        yield refused

    def _requests(self) -> Iterator[Metric]:
        stats = self.requests
        total = CounterMetricFamily("vending_requests", "requests answered, by op and code "
                                    "(OK for a success; op 'invalid': did not parse)",
                                    labels=["op", "code"])
        throttled = 0
        for (op, code), count in dict(stats.counts).items():
            total.add_metric([op, code], count)
            if code == "RATE_LIMITED":
                throttled += count
        yield total
        yield CounterMetricFamily("vending_throttle_refusals", "requests answered "
                                  "RATE_LIMITED: the failed-login throttle, registrations "
                                  "per address, an address past its fair share",
                                  value=throttled)
        latency = HistogramMetricFamily("vending_request_duration_seconds", "from a request's "
                                        "arrival to its answer, by op", labels=["op"])
        sums = dict(stats.sums)
        for op, counts in dict(stats.buckets).items():
            counts = list(counts)
            cumulative, running = [], 0
            for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                running += count
                cumulative.append((bound, running))
            latency.add_metric([op], cumulative, sums.get(op, 0.0))
        yield latency

    def _front_door(self) -> Iterator[Metric]:
        door, dispatch = self.system.door, self.system.dispatch
        assert door is not None and dispatch is not None
        for field in fields(door.stats):
            yield CounterMetricFamily(f"vending_frontdoor_{field.name}",
                                      _FRONT_DOOR_HELP[field.name],
                                      value=getattr(door.stats, field.name))
        up = GaugeMetricFamily("vending_role_up", "1 while the role answers the front door's "
                               "heartbeats, 0 once silent for "
                               f"{HEARTBEAT_LIVENESS:g} s and {MISSED_LIMIT} asks",
                               labels=["role"])
        silent = GaugeMetricFamily("vending_role_silent_seconds", "seconds since the role "
                                   "last answered a heartbeat", labels=["role"])
        now = self.system.env.clock.monotonic()  # the clock liveness is kept on
        for role, (seconds, role_up) in dispatch.liveness.silent_for(now).items():
            up.add_metric([role], 1 if role_up else 0)
            silent.add_metric([role], seconds)
        yield up
        yield silent
        yield GaugeMetricFamily("vending_requests_in_flight", "requests received and not "
                                "yet answered", value=door.in_flight)

    def _backends(self) -> Iterator[Metric]:
        stats = dict(self.system.backend_stats)
        if not stats:
            return
        storage = GaugeMetricFamily("vending_storage_ok", "1 while the role's database "
                                    "commits writes, 0 while its storage fails (disk full, "
                                    "read-only, I/O error)", labels=["role"])
        faults = CounterMetricFamily("vending_storage_faults", "transactions the storage "
                                     "refused", labels=["role"])
        dropped = CounterMetricFamily("vending_fifo_dropped", "fifo messages a backend "
                                      "dropped on arrival, by reason", labels=["role", "reason"])
        last_seq = GaugeMetricFamily("vending_events_last_seq", "the newest event's seq, by "
                                     "source (refreshed every second)", labels=["source"])
        for role, s in stats.items():
            storage.add_metric([role], 1 if s.storage_ok else 0)
            faults.add_metric([role], s.storage_faults)
            dropped.add_metric([role, "stale"], s.stale_dropped)
            inlet = self.system.inlets.get(role)
            dropped.add_metric([role, "undecodable"], inlet.undecodable if inlet else 0)
            last_seq.add_metric([role], s.last_seq)
        yield from (storage, faults, dropped, last_seq)


_FRONT_DOOR_HELP = {
    "received": "client messages received",
    "replied": "replies sent",
    "bad_requests": "requests answered BAD_REQUEST before dispatch",
    "timed_out": "requests answered UNAVAILABLE at their deadline",
    "dropped_replies": "replies dropped: client gone or not reading",
    "malformed_frames": "messages with no envelope delimiter, dropped unanswered",
    "refused": "requests refused: too many in flight (in all, or from one client)",
}


class _Collector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics.families()
